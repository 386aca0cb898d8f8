//! The scratch directory: off unless the policy turns it on; then a fresh
//! temporary directory per run, preopened at `/scratch`, with a byte quota
//! the host enforces on every write path as it happens.
//!
//! # Design
//!
//! wasmtime-wasi confines every path to its preopened directory (cap-std
//! resolves each component without leaving it: `..` past the root, absolute
//! paths and symlinks that point outside all fail), so the scratch
//! directory is one `preopened_dir` with read-write permissions. What
//! wasmtime-wasi does not have is a quota. The host adds one by shadowing,
//! in the linker, the `wasi:filesystem/types` functions that can make the
//! directory grow, and delegating each to wasmtime-wasi's own
//! implementation once the quota has paid for it:
//!
//! - `descriptor.write`: the length of the buffer;
//! - `descriptor.set-size`: the growth over the file's current size;
//! - `descriptor.write-via-stream` and `append-via-stream`: the stream is
//!   wrapped, and every write on it pays its length (`write`,
//!   `blocking-write-and-flush`, `write-zeroes`, and `splice` into it);
//! - `open-at` with `create`, `create-directory-at`, `symlink-at`,
//!   `link-at`: [`ENTRY_COST_BYTES`] each, so that empty files cannot
//!   exhaust the disk's inodes.
//!
//! A refused write returns the WASI error `quota` (a stream write fails with
//! an error whose `filesystem-error-code` is `quota`); nothing is written.
//!
//! This module holds the quota and the stream wrapper; the shadowed
//! functions themselves, which go through the call gate, are
//! [`crate::imports::scratch_fs`].
//!
//! # Limits
//!
//! The quota counts bytes *written during the run*, not bytes stored:
//! overwriting or deleting a file gives nothing back. This is simple,
//! deterministic, and bounds both the disk space and the I/O a guest can
//! cause. Reads are not bounded by the quota (the guest can only read what
//! it wrote). Directory listings come in the host filesystem's order, which
//! a guest could observe; file timestamps are the host's real times.
//! Files live on the host's temporary directory (`TMPDIR`), and are deleted
//! when the run ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use wasmtime_wasi::p2::{DynOutputStream, OutputStream, Pollable, StreamError, StreamResult};

/// What creating a file, directory or link costs against the quota.
pub const ENTRY_COST_BYTES: u64 = 4096;

/// Bytes a run may still write to its scratch directory. Shared between the
/// host state and the streams it wraps.
#[derive(Debug)]
pub(crate) struct ScratchQuota {
    limit: u64,
    used: AtomicU64,
}

impl ScratchQuota {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Pays for `bytes`, or refuses without paying anything.
    pub(crate) fn charge(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    /// Bytes paid for so far.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// The I/O error a refused stream write carries: `EDQUOT`, which
/// wasmtime-wasi maps to the WASI error code `quota`.
pub(crate) fn quota_error() -> StreamError {
    let errno = rustix::io::Errno::DQUOT.raw_os_error();
    StreamError::LastOperationFailed(wasmtime::Error::new(std::io::Error::from_raw_os_error(
        errno,
    )))
}

/// `inner`, a stream into a scratch file, made to pay `quota` per write.
pub(crate) fn quota_stream(inner: DynOutputStream, quota: Arc<ScratchQuota>) -> DynOutputStream {
    Box::new(QuotaStream { inner, quota })
}

/// An output stream into a scratch file that pays the quota per write.
struct QuotaStream {
    inner: DynOutputStream,
    quota: Arc<ScratchQuota>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for QuotaStream {
    async fn ready(&mut self) {
        self.inner.ready().await;
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for QuotaStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if !self.quota.charge(bytes.len() as u64) {
            return Err(quota_error());
        }
        self.inner.write(bytes)
    }

    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        if !self.quota.charge(bytes.len() as u64) {
            return Err(quota_error());
        }
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_refuses_without_paying() {
        let q = ScratchQuota::new(10);
        assert!(q.charge(6));
        assert!(!q.charge(5));
        assert_eq!(q.used(), 6);
        assert!(q.charge(4));
        assert!(!q.charge(1));
        assert!(!q.charge(u64::MAX));
        assert_eq!(q.used(), 10);
    }
}
