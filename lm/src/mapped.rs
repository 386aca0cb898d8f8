//! Model files mapped read-only and hashed once per process: shared by
//! the safetensors weights ([`crate::weights`]) and GGUF files
//! ([`crate::gguf`]), so neither module depends on the other for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::error::{LmError, Result};

/// Memory-maps `path` read-only.
pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let file = std::fs::File::open(path).map_err(|e| LmError::io(path, e))?;
    // SAFETY: the map is read-only and private to this process. A file
    // changed underneath us could change what we read, but never the
    // memory safety of safe code reading a `&[u8]` that stays mapped;
    // model files are inputs we do not write.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| LmError::io(path, e))?;
    Ok(map)
}

/// sha256 of a mapped file's bytes, computed once per process for a given
/// file (keyed by canonical path, size and modification time, so a
/// changed file is hashed again).
pub(crate) fn sha256_of(path: &Path, bytes: &[u8]) -> String {
    type Key = (PathBuf, u64, Option<std::time::SystemTime>);
    static SEEN: OnceLock<Mutex<HashMap<Key, String>>> = OnceLock::new();
    let key = std::fs::metadata(path).ok().map(|m| {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        (canonical, m.len(), m.modified().ok())
    });
    let seen = SEEN.get_or_init(Default::default);
    if let Some(key) = &key
        && let Some(hash) = seen.lock().unwrap_or_else(|p| p.into_inner()).get(key)
    {
        return hash.clone();
    }
    // Hashed through reads where the file can be read, not through the
    // map: the page cache is not this process's resident memory, while a
    // mapped page read once would count against it (issue 20's memory
    // bound). The map's bytes are the fallback, and equal.
    let mut hasher = Sha256::new();
    let streamed = std::fs::File::open(path)
        .and_then(|mut f| std::io::copy(&mut f, &mut hasher))
        .is_ok_and(|n| n == bytes.len() as u64);
    let hash = if streamed {
        hex::encode(hasher.finalize())
    } else {
        hex::encode(Sha256::digest(bytes))
    };
    if let Some(key) = key {
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, hash.clone());
    }
    hash
}
