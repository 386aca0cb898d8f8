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
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::sync::filesystem::types::{
    self as fs, DescriptorFlags, ErrorCode, Filesize, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{
    DynOutputStream, FsResult, OutputStream, Pollable, StreamError, StreamResult,
};

use crate::audit::{CallResult, Deadline};
use crate::state::HostState;

/// What creating a file, directory or link costs against the quota.
pub const ENTRY_COST_BYTES: u64 = 4096;

/// The `wasi:filesystem/types` instance wasmtime-wasi 48 links (guests
/// importing any 0.2.x version resolve to it).
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

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
fn quota_error() -> StreamError {
    let errno = rustix::io::Errno::DQUOT.raw_os_error();
    StreamError::LastOperationFailed(wasmtime::Error::new(std::io::Error::from_raw_os_error(
        errno,
    )))
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

impl<T> CallResult for Result<T, ErrorCode> {
    fn status(&self) -> String {
        match self {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("error:{}", crate::outcome::kebab(&format!("{e:?}"))),
        }
    }
}

/// A shadowed function's result: the WASI error code, or a trap.
type Wasi<T> = wasmtime::Result<(Result<T, ErrorCode>,)>;

impl HostState {
    /// Pays `bytes` to the quota (when there is a scratch directory), then
    /// runs wasmtime-wasi's own implementation `f`.
    fn paid<T>(
        &mut self,
        bytes: u64,
        f: impl FnOnce(&mut wasmtime_wasi::filesystem::WasiFilesystemCtxView<'_>) -> FsResult<T>,
    ) -> wasmtime::Result<Result<T, ErrorCode>> {
        if let Some(q) = &self.scratch
            && !q.charge(bytes)
        {
            return Ok(Err(ErrorCode::Quota));
        }
        let mut view = self.filesystem();
        match f(&mut view) {
            Ok(v) => Ok(Ok(v)),
            Err(e) => Ok(Err(fs::Host::convert_error_code(&mut view, e)?)),
        }
    }

    /// Wraps a freshly created file stream so that its writes pay the quota.
    fn wrap_stream(
        &mut self,
        stream: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<DynOutputStream>> {
        let Some(quota) = self.scratch.clone() else {
            return Ok(stream);
        };
        let inner = self.table.delete(stream)?;
        let wrapped: DynOutputStream = Box::new(QuotaStream { inner, quota });
        Ok(self.table.push(wrapped)?)
    }
}

fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

/// Shadows the growing functions of `wasi:filesystem/types` with quota
/// checks. Call after wasmtime-wasi's `add_to_linker_sync`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut i = linker.instance(FILESYSTEM_TYPES)?;
    i.func_wrap(
        "[method]descriptor.write",
        |mut store: StoreContextMut<'_, HostState>,
         (fd, buf, offset): (Resource<Descriptor>, Vec<u8>, Filesize)|
         -> Wasi<Filesize> {
            let len = buf.len();
            let args = || vec![("buffer", crate::audit::list(len))];
            let call = "wasi:filesystem/types.[method]descriptor.write";
            let r = store.data_mut().audited(call, Deadline::Check, args, |s| {
                s.paid(len as u64, |v| HostDescriptor::write(v, fd, buf, offset))
            })?;
            Ok((r,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.set-size",
        |mut store: StoreContextMut<'_, HostState>,
         (fd, size): (Resource<Descriptor>, Filesize)|
         -> Wasi<()> {
            let call = "wasi:filesystem/types.[method]descriptor.set-size";
            let args = || vec![("size", serde_json::json!(size))];
            let r = store.data_mut().audited(call, Deadline::Check, args, |s| {
                let current = match s.paid(0, |v| HostDescriptor::stat(v, borrow(&fd)))? {
                    Ok(stat) => stat.size,
                    Err(e) => return Ok(Err(e)),
                };
                s.paid(size.saturating_sub(current), |v| {
                    HostDescriptor::set_size(v, fd, size)
                })
            })?;
            Ok((r,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.write-via-stream",
        |mut store: StoreContextMut<'_, HostState>,
         (fd, offset): (Resource<Descriptor>, Filesize)|
         -> Wasi<Resource<DynOutputStream>> {
            let call = "wasi:filesystem/types.[method]descriptor.write-via-stream";
            let r = store
                .data_mut()
                .audited(call, Deadline::Check, Vec::new, |s| {
                    match s.paid(0, |v| HostDescriptor::write_via_stream(v, fd, offset))? {
                        Ok(stream) => Ok(Ok(s.wrap_stream(stream)?)),
                        Err(e) => Ok(Err(e)),
                    }
                })?;
            Ok((r,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.append-via-stream",
        |mut store: StoreContextMut<'_, HostState>,
         (fd,): (Resource<Descriptor>,)|
         -> Wasi<Resource<DynOutputStream>> {
            let call = "wasi:filesystem/types.[method]descriptor.append-via-stream";
            let r = store
                .data_mut()
                .audited(call, Deadline::Check, Vec::new, |s| {
                    match s.paid(0, |v| HostDescriptor::append_via_stream(v, fd))? {
                        Ok(stream) => Ok(Ok(s.wrap_stream(stream)?)),
                        Err(e) => Ok(Err(e)),
                    }
                })?;
            Ok((r,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.open-at",
        |mut store: StoreContextMut<'_, HostState>,
         (fd, path_flags, path, oflags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )|
         -> Wasi<Resource<Descriptor>> {
            let call = "wasi:filesystem/types.[method]descriptor.open-at";
            let cost = if oflags.contains(OpenFlags::CREATE) {
                ENTRY_COST_BYTES
            } else {
                0
            };
            let path_len = path.len();
            let args = || vec![("path", crate::audit::list(path_len))];
            let r = store.data_mut().audited(call, Deadline::Check, args, |s| {
                s.paid(cost, |v| {
                    HostDescriptor::open_at(v, fd, path_flags, path, oflags, flags)
                })
            })?;
            Ok((r,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.create-directory-at",
        |mut store: StoreContextMut<'_, HostState>,
         (fd, path): (Resource<Descriptor>, String)|
         -> Wasi<()> {
            let call = "wasi:filesystem/types.[method]descriptor.create-directory-at";
            let r = store
                .data_mut()
                .audited(call, Deadline::Check, Vec::new, |s| {
                    s.paid(ENTRY_COST_BYTES, |v| {
                        HostDescriptor::create_directory_at(v, fd, path)
                    })
                })?;
            Ok((r,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.symlink-at",
        |mut store: StoreContextMut<'_, HostState>,
         (fd, old, new): (Resource<Descriptor>, String, String)|
         -> Wasi<()> {
            let call = "wasi:filesystem/types.[method]descriptor.symlink-at";
            let r = store
                .data_mut()
                .audited(call, Deadline::Check, Vec::new, |s| {
                    s.paid(ENTRY_COST_BYTES, |v| {
                        HostDescriptor::symlink_at(v, fd, old, new)
                    })
                })?;
            Ok((r,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.link-at",
        |mut store: StoreContextMut<'_, HostState>,
         (fd, flags, old, new_fd, new): (
            Resource<Descriptor>,
            PathFlags,
            String,
            Resource<Descriptor>,
            String,
        )|
         -> Wasi<()> {
            let call = "wasi:filesystem/types.[method]descriptor.link-at";
            let r = store
                .data_mut()
                .audited(call, Deadline::Check, Vec::new, |s| {
                    s.paid(ENTRY_COST_BYTES, |v| {
                        HostDescriptor::link_at(v, fd, flags, old, new_fd, new)
                    })
                })?;
            Ok((r,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
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

    #[test]
    fn refused_stream_writes_carry_the_quota_errno() {
        let StreamError::LastOperationFailed(e) = quota_error() else {
            panic!("not a failed operation");
        };
        let io = e.downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(
            io.raw_os_error(),
            Some(rustix::io::Errno::DQUOT.raw_os_error())
        );
    }
}
