//! The scratch directory's write paths, shadowed in the linker: each
//! `wasi:filesystem/types` function that can make the directory grow goes
//! through the call gate ([`super::gate`]), pays the quota
//! ([`crate::scratch`], where the design is written), and then runs
//! wasmtime-wasi's own implementation.

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::sync::filesystem::types::{
    self as fs, DescriptorFlags, ErrorCode, Filesize, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{DynOutputStream, FsResult};

use super::gate::{CallResult, Deadline};
use crate::scratch::{ENTRY_COST_BYTES, quota_stream};
use crate::state::HostState;

/// The `wasi:filesystem/types` instance wasmtime-wasi 48 links (guests
/// importing any 0.2.x version resolve to it).
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

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
        let wrapped = quota_stream(inner, quota);
        Ok(self.table.push(wrapped)?)
    }
}

fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

const WRITE: &str = "wasi:filesystem/types.[method]descriptor.write";
const SET_SIZE: &str = "wasi:filesystem/types.[method]descriptor.set-size";
const WRITE_VIA_STREAM: &str = "wasi:filesystem/types.[method]descriptor.write-via-stream";
const APPEND_VIA_STREAM: &str = "wasi:filesystem/types.[method]descriptor.append-via-stream";
const OPEN_AT: &str = "wasi:filesystem/types.[method]descriptor.open-at";
const CREATE_DIRECTORY_AT: &str = "wasi:filesystem/types.[method]descriptor.create-directory-at";
const SYMLINK_AT: &str = "wasi:filesystem/types.[method]descriptor.symlink-at";
const LINK_AT: &str = "wasi:filesystem/types.[method]descriptor.link-at";

/// The shadowed functions, as methods (the linker's closures call these).
impl HostState {
    pub(crate) fn fs_write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: Filesize,
    ) -> wasmtime::Result<Result<Filesize, ErrorCode>> {
        let len = buf.len();
        let args = || vec![("buffer", super::gate::list(len))];
        self.audited(WRITE, Deadline::Check, args, |s| {
            s.paid(len as u64, |v| HostDescriptor::write(v, fd, buf, offset))
        })
    }

    pub(crate) fn fs_set_size(
        &mut self,
        fd: Resource<Descriptor>,
        size: Filesize,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        let args = || vec![("size", serde_json::json!(size))];
        self.audited(SET_SIZE, Deadline::Check, args, |s| {
            let current = match s.paid(0, |v| HostDescriptor::stat(v, borrow(&fd)))? {
                Ok(stat) => stat.size,
                Err(e) => return Ok(Err(e)),
            };
            s.paid(size.saturating_sub(current), |v| {
                HostDescriptor::set_size(v, fd, size)
            })
        })
    }

    pub(crate) fn fs_write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Option<Filesize>,
    ) -> wasmtime::Result<Result<Resource<DynOutputStream>, ErrorCode>> {
        let call = if offset.is_some() {
            WRITE_VIA_STREAM
        } else {
            APPEND_VIA_STREAM
        };
        self.audited(call, Deadline::Check, Vec::new, |s| {
            let opened = s.paid(0, |v| match offset {
                Some(offset) => HostDescriptor::write_via_stream(v, fd, offset),
                None => HostDescriptor::append_via_stream(v, fd),
            })?;
            match opened {
                Ok(stream) => Ok(Ok(s.wrap_stream(stream)?)),
                Err(e) => Ok(Err(e)),
            }
        })
    }

    pub(crate) fn fs_open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        oflags: OpenFlags,
        flags: DescriptorFlags,
    ) -> wasmtime::Result<Result<Resource<Descriptor>, ErrorCode>> {
        let cost = if oflags.contains(OpenFlags::CREATE) {
            ENTRY_COST_BYTES
        } else {
            0
        };
        let path_len = path.len();
        let args = || vec![("path", super::gate::list(path_len))];
        self.audited(OPEN_AT, Deadline::Check, args, |s| {
            s.paid(cost, |v| {
                HostDescriptor::open_at(v, fd, path_flags, path, oflags, flags)
            })
        })
    }

    /// `create-directory-at`, `symlink-at` and `link-at`: one new entry.
    fn fs_new_entry(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut wasmtime_wasi::filesystem::WasiFilesystemCtxView<'_>) -> FsResult<()>,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        self.audited(call, Deadline::Check, Vec::new, |s| {
            s.paid(ENTRY_COST_BYTES, f)
        })
    }
}

type Store<'a> = StoreContextMut<'a, HostState>;

/// Shadows the growing functions of `wasi:filesystem/types` with quota
/// checks. Call after wasmtime-wasi's `add_to_linker_sync`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut i = linker.instance(FILESYSTEM_TYPES)?;
    i.func_wrap(
        "[method]descriptor.write",
        |mut s: Store<'_>,
         (fd, buf, off): (Resource<Descriptor>, Vec<u8>, Filesize)|
         -> Wasi<Filesize> { Ok((s.data_mut().fs_write(fd, buf, off)?,)) },
    )?;
    i.func_wrap(
        "[method]descriptor.set-size",
        |mut s: Store<'_>, (fd, size): (Resource<Descriptor>, Filesize)| -> Wasi<()> {
            Ok((s.data_mut().fs_set_size(fd, size)?,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.write-via-stream",
        |mut s: Store<'_>,
         (fd, off): (Resource<Descriptor>, Filesize)|
         -> Wasi<Resource<DynOutputStream>> {
            Ok((s.data_mut().fs_write_via_stream(fd, Some(off))?,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.append-via-stream",
        |mut s: Store<'_>, (fd,): (Resource<Descriptor>,)| -> Wasi<Resource<DynOutputStream>> {
            Ok((s.data_mut().fs_write_via_stream(fd, None)?,))
        },
    )?;
    type OpenArgs = (
        Resource<Descriptor>,
        PathFlags,
        String,
        OpenFlags,
        DescriptorFlags,
    );
    i.func_wrap(
        "[method]descriptor.open-at",
        |mut s: Store<'_>, (fd, pf, path, of, f): OpenArgs| -> Wasi<Resource<Descriptor>> {
            Ok((s.data_mut().fs_open_at(fd, pf, path, of, f)?,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.create-directory-at",
        |mut s: Store<'_>, (fd, path): (Resource<Descriptor>, String)| -> Wasi<()> {
            let r = s.data_mut().fs_new_entry(CREATE_DIRECTORY_AT, |v| {
                HostDescriptor::create_directory_at(v, fd, path)
            })?;
            Ok((r,))
        },
    )?;
    i.func_wrap(
        "[method]descriptor.symlink-at",
        |mut s: Store<'_>, (fd, old, new): (Resource<Descriptor>, String, String)| -> Wasi<()> {
            let r = s
                .data_mut()
                .fs_new_entry(SYMLINK_AT, |v| HostDescriptor::symlink_at(v, fd, old, new))?;
            Ok((r,))
        },
    )?;
    type LinkArgs = (
        Resource<Descriptor>,
        PathFlags,
        String,
        Resource<Descriptor>,
        String,
    );
    i.func_wrap(
        "[method]descriptor.link-at",
        |mut s: Store<'_>, (fd, pf, old, new_fd, new): LinkArgs| -> Wasi<()> {
            let r = s.data_mut().fs_new_entry(LINK_AT, |v| {
                HostDescriptor::link_at(v, fd, pf, old, new_fd, new)
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
    use crate::scratch::{ScratchQuota, quota_error};
    use bytes::Bytes;
    use std::sync::Arc;
    use wasmtime_wasi::p2::StreamError;

    use crate::state::test_support::{host_state, tiny_task};
    use w2s_policy::Policy;
    use wasmtime_wasi::p2::bindings::sync::filesystem::preopens::Host as _;

    /// Host state with a scratch directory of `quota` bytes, and the
    /// preopened directory's descriptor.
    fn scratch_state(quota: u64) -> (HostState, Resource<Descriptor>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = host_state(Policy::default(), tiny_task(4));
        let mut b = wasmtime_wasi::WasiCtx::builder();
        b.allow_blocking_current_thread(true)
            .preopened_dir(dir.path(), "/scratch", wasmtime_wasi::FsPerms::ReadWrite)
            .unwrap();
        s.wasi = b.build();
        s.scratch = Some(Arc::new(ScratchQuota::new(quota)));
        let mut view = s.filesystem();
        let mut dirs = view.get_directories().unwrap();
        assert_eq!(dirs.len(), 1);
        let (root, path) = dirs.pop().unwrap();
        assert_eq!(path, "/scratch");
        (s, root, dir)
    }

    fn create(s: &mut HostState, root: &Resource<Descriptor>, name: &str) -> Resource<Descriptor> {
        s.fs_open_at(
            borrow(root),
            PathFlags::empty(),
            name.to_owned(),
            OpenFlags::CREATE,
            DescriptorFlags::READ | DescriptorFlags::WRITE,
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn writes_pay_the_quota_and_are_refused_past_it() {
        let (mut s, root, dir) = scratch_state(ENTRY_COST_BYTES + 100);
        let f = create(&mut s, &root, "a.bin");
        assert_eq!(s.fs_write(borrow(&f), vec![1; 60], 0).unwrap(), Ok(60));
        assert_eq!(
            s.fs_write(borrow(&f), vec![2; 41], 60).unwrap(),
            Err(ErrorCode::Quota)
        );
        assert_eq!(s.fs_write(borrow(&f), vec![3; 40], 60).unwrap(), Ok(40));
        assert_eq!(std::fs::read(dir.path().join("a.bin")).unwrap().len(), 100);
        // Growing a file by set-size pays the growth; shrinking is free.
        assert_eq!(s.fs_set_size(borrow(&f), 50).unwrap(), Ok(()));
        assert_eq!(
            s.fs_set_size(borrow(&f), 51).unwrap(),
            Err(ErrorCode::Quota)
        );
        // A new entry costs ENTRY_COST_BYTES.
        let r = s.fs_new_entry(CREATE_DIRECTORY_AT, |v| {
            HostDescriptor::create_directory_at(v, borrow(&root), "d".to_owned())
        });
        assert_eq!(r.unwrap(), Err(ErrorCode::Quota));
        assert!(!dir.path().join("d").exists());
        assert_eq!(s.scratch.as_ref().unwrap().used(), ENTRY_COST_BYTES + 100);
        assert_eq!(s.calls[WRITE], 3);
    }

    #[test]
    fn stream_writes_pay_the_quota() {
        let (mut s, root, dir) = scratch_state(ENTRY_COST_BYTES + 10);
        let f = create(&mut s, &root, "s.txt");
        let stream = s.fs_write_via_stream(borrow(&f), Some(0)).unwrap().unwrap();
        let out = s.table.get_mut(&stream).unwrap();
        let write = |out: &mut DynOutputStream, b: &'static [u8]| {
            wasmtime_wasi::runtime::in_tokio(out.blocking_write_and_flush(Bytes::from_static(b)))
        };
        write(out, b"0123456789").unwrap();
        match write(out, b"!") {
            Err(StreamError::LastOperationFailed(e)) => {
                let io = e.downcast_ref::<std::io::Error>().unwrap();
                assert_eq!(
                    io.raw_os_error(),
                    Some(rustix::io::Errno::DQUOT.raw_os_error())
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            out.write(Bytes::from_static(b"x")),
            Err(StreamError::LastOperationFailed(_))
        ));
        assert_eq!(
            std::fs::read(dir.path().join("s.txt")).unwrap(),
            b"0123456789"
        );
    }

    /// The shadowed names are exactly wasmtime-wasi's: defining one again
    /// without shadowing fails, so `add_to_linker` replaces, not adds.
    #[test]
    fn shadowed_functions_are_the_ones_wasmtime_wasi_links() {
        let engine = wasmtime::Engine::default();
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        let err = linker
            .instance(FILESYSTEM_TYPES)
            .unwrap()
            .func_wrap(
                "[method]descriptor.write",
                |_: Store<'_>,
                 (_, _, _): (Resource<Descriptor>, Vec<u8>, Filesize)|
                 -> Wasi<Filesize> { Ok((Ok(0),)) },
            )
            .unwrap_err();
        assert!(err.to_string().contains("defined twice"), "{err}");
        add_to_linker(&mut linker).unwrap();
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
