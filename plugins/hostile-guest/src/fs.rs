//! Escaping the scratch directory (`/scratch`, when the policy grants it):
//! path traversal, absolute paths, symlinks out, trailing slashes; and
//! filling it past its quota.

use std::fs;
use std::path::Path;

use w2s_guest_sdk::{StrategyError, Student};

/// Where the policy's scratch directory appears to the guest.
const SCRATCH: &str = "/scratch";

/// One attempt to reach outside `/scratch`. `Ok` with what was read or
/// done means the escape worked.
type Attempt = (&'static str, std::io::Result<String>);

fn read(path: &str) -> std::io::Result<String> {
    fs::read(path).map(|b| format!("read {} bytes", b.len()))
}

fn list(path: &str) -> std::io::Result<String> {
    fs::read_dir(path).map(|d| format!("listed {} entries", d.count()))
}

fn write(path: &str) -> std::io::Result<String> {
    fs::write(path, b"escaped").map(|()| "wrote".to_owned())
}

#[allow(unsafe_code)]
unsafe extern "C" {
    /// wasi-libc's `symlink(2)` (std's wrapper is unstable on WASI).
    #[link_name = "symlink"]
    fn libc_symlink(target: *const std::ffi::c_char, link: *const std::ffi::c_char) -> i32;
}

/// Creates a symlink at `link` pointing to `target`.
#[allow(unsafe_code)]
fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    let target = std::ffi::CString::new(target)?;
    let link = std::ffi::CString::new(link)?;
    // SAFETY: both are valid NUL-terminated strings that outlive the call.
    match unsafe { libc_symlink(target.as_ptr(), link.as_ptr()) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Every escape attempt; `Err("denied: ...")` when all failed, with the
/// scratch directory itself still usable, and `Err("LEAK: ...")` naming
/// the ones that worked.
pub(crate) fn escape() -> Result<Student, StrategyError> {
    // The scratch directory works: the failures below are refusals, not a
    // missing directory.
    fs::write(format!("{SCRATCH}/own.txt"), b"mine")?;
    if fs::read(format!("{SCRATCH}/own.txt"))? != b"mine" {
        return Err("scratch does not round-trip".into());
    }
    fs::create_dir(format!("{SCRATCH}/sub"))?;
    // Symlinks: absolute and relative targets outside; creating one may
    // itself be refused, and following one must be.
    let abs_link = symlink("/etc", &format!("{SCRATCH}/abs"));
    let rel_link = symlink("../../../../../etc", &format!("{SCRATCH}/rel"));
    let dir_link = symlink("..", &format!("{SCRATCH}/sub/up"));
    let attempts: Vec<Attempt> = vec![
        ("absolute /etc/passwd", read("/etc/passwd")),
        ("dot-dot", read(&format!("{SCRATCH}/../etc/passwd"))),
        (
            "deep dot-dot",
            read(&format!("{SCRATCH}/sub/../../../../etc/passwd")),
        ),
        ("dot-dot list", list(&format!("{SCRATCH}/.."))),
        ("dot-dot trailing slash", list(&format!("{SCRATCH}/../"))),
        ("root list", list("/")),
        (
            "write beside scratch",
            write(&format!("{SCRATCH}/../w2s-escape-marker")),
        ),
        ("write absolute tmp", write("/tmp/w2s-escape-marker")),
        ("absolute symlink", read(&format!("{SCRATCH}/abs/passwd"))),
        (
            "absolute symlink trailing slash",
            list(&format!("{SCRATCH}/abs/")),
        ),
        ("relative symlink", read(&format!("{SCRATCH}/rel/passwd"))),
        (
            "relative symlink trailing slash",
            list(&format!("{SCRATCH}/rel/")),
        ),
        ("symlink to parent", list(&format!("{SCRATCH}/sub/up/.."))),
        (
            "symlink to parent, write",
            write(&format!("{SCRATCH}/sub/up/../w2s-escape-marker")),
        ),
        (
            "file with trailing slash",
            read(&format!("{SCRATCH}/own.txt/")),
        ),
    ];
    let leaks: Vec<String> = attempts
        .iter()
        .filter_map(|(what, r)| r.as_ref().ok().map(|ok| format!("{what}: {ok}")))
        .collect();
    if !leaks.is_empty() {
        return Err(format!("LEAK: {}", leaks.join("; ")).into());
    }
    let links = [abs_link.is_ok(), rel_link.is_ok(), dir_link.is_ok()];
    Err(format!(
        "denied: {} escapes refused (symlinks created: {links:?})",
        attempts.len()
    )
    .into())
}

/// Writes 1 MiB chunks into `/scratch/big` until a write fails; the error
/// must be the quota.
pub(crate) fn quota() -> Result<Student, StrategyError> {
    use std::io::Write;
    let mut file = fs::File::create(Path::new(SCRATCH).join("big"))?;
    let chunk = vec![7u8; 1 << 20];
    let mut written = 0u64;
    for _ in 0..10_000 {
        if let Err(e) = file.write_all(&chunk) {
            return Err(format!(
                "stopped after {written} bytes: {}",
                e.to_string().to_lowercase()
            )
            .into());
        }
        written += chunk.len() as u64;
    }
    Err(format!("LEAK: wrote {written} bytes").into())
}

/// Creates empty files until creation fails (entries cost quota too).
pub(crate) fn many_files() -> Result<Student, StrategyError> {
    for i in 0..1_000_000u32 {
        if let Err(e) = fs::File::create(Path::new(SCRATCH).join(format!("f{i}"))) {
            return Err(
                format!("stopped after {i} files: {}", e.to_string().to_lowercase()).into(),
            );
        }
    }
    Err("LEAK: created a million files".into())
}

/// Writes a file and reads back its modification time: a clock the
/// sandbox does not virtualize.
pub(crate) fn mtime() -> Result<Student, StrategyError> {
    let path = Path::new(SCRATCH).join("clock");
    fs::write(&path, b"tick")?;
    let modified = fs::metadata(&path)?.modified()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH)?;
    Err(format!("mtime={}", since.as_secs()).into())
}
