//! The compiled-artifact cache: components compiled once, loaded many
//! times.
//!
//! An artifact is stored as `<key>.cwasm` next to `<key>.sha256`, the
//! artifact's own sha256 recorded when it was written. The key is the
//! sha256 of the wasm's sha256, wasmtime's
//! `Engine::precompile_compatibility_hash` (its version and every setting
//! that changes compiled code) and [`ENGINE_CONFIG_TAG`] (ours): a new
//! wasmtime or a new engine setting never meets an old artifact.
//!
//! Loading an artifact is `unsafe` in wasmtime (`Component::deserialize`
//! trusts the bytes to be its own output: a forged artifact is arbitrary
//! native code). So [`ArtifactCache::get`] reads the file, checks its
//! sha256 against the record, and only then deserializes, in the one
//! function of this crate allowed `unsafe`. A mismatch (a tampered or
//! truncated file) is reported as [`Lookup::Invalid`]: the caller
//! recompiles and overwrites it, and the artifact is never loaded.
//!
//! Limit: the record lives next to the artifact, so this detects
//! corruption and a tampered artifact, not someone who rewrites both files
//! together. The cache directory must be as trusted as the `w2s` binary:
//! writable only by the evaluator.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::error::HostError;
use crate::sandbox::{ENGINE_CONFIG_TAG, Sandbox, reason};

/// Feeds `Hash` output into a sha256, so the engine's compatibility hash
/// is stable across processes (unlike `DefaultHasher`'s seeds).
struct ShaHasher(Sha256);

impl std::hash::Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// What the cache had for a key.
pub enum Lookup {
    /// A verified artifact, deserialized.
    Hit(Component),
    /// Nothing stored under the key.
    Miss,
    /// Something stored, but not loadable: why (never loaded).
    Invalid(String),
}

/// How a component's compiled code was obtained, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum CacheStatus {
    /// Loaded from the cache.
    Hit,
    /// Compiled and stored.
    Miss,
    /// A stored artifact was refused and the component compiled again.
    Recompiled {
        /// Why the stored one was refused.
        reason: String,
    },
}

/// A directory of compiled artifacts (by default `.w2s/cache/compiled`).
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

fn cache_err(what: &str, path: &Path, err: impl std::fmt::Display) -> HostError {
    HostError::Cache {
        reason: format!("cannot {what} {}: {err}", path.display()),
    }
}

impl ArtifactCache {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache key of `wasm` for `sandbox`'s engine, lowercase hex.
    pub fn key(sandbox: &Sandbox, wasm: &[u8]) -> String {
        let mut h = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&sandbox.engine.precompile_compatibility_hash(), &mut h);
        let mut key = Sha256::new();
        key.update(Sha256::digest(wasm));
        key.update(h.0.finalize());
        key.update(ENGINE_CONFIG_TAG.as_bytes());
        hex::encode(key.finalize())
    }

    /// The artifact file of `key`.
    pub fn artifact_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    fn record_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.sha256"))
    }

    /// Stores `artifact` under `key`, with its sha256, each file written
    /// whole then renamed into place.
    ///
    /// An entry already there and intact is left in place: a confined
    /// runner's Landlock rule names the entry it was given, by inode, so
    /// renaming a new file over it (another evaluation that compiled the
    /// same wasm at the same time) would lock that runner out of it.
    pub fn put(&self, key: &str, artifact: &[u8]) -> Result<(), HostError> {
        if self.is_intact(key) {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| cache_err("create", &self.dir, e))?;
        let digest = hex::encode(Sha256::digest(artifact));
        for (path, bytes) in [
            (self.artifact_path(key), artifact),
            (self.record_path(key), digest.as_bytes()),
        ] {
            // A name of its own per file and process: concurrent writers
            // never rename each other's half-written files into place.
            let mut tmp = path.clone().into_os_string();
            tmp.push(format!(".{}.tmp", std::process::id()));
            let tmp = PathBuf::from(tmp);
            std::fs::write(&tmp, bytes).map_err(|e| cache_err("write", &tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| cache_err("write", &path, e))?;
        }
        Ok(())
    }

    /// Whether `key` has an artifact whose sha256 is its record's.
    fn is_intact(&self, key: &str) -> bool {
        match (
            std::fs::read(self.artifact_path(key)),
            std::fs::read_to_string(self.record_path(key)),
        ) {
            (Ok(bytes), Ok(record)) => hex::encode(Sha256::digest(&bytes)) == record.trim(),
            _ => false,
        }
    }

    /// The artifact stored under `key`, verified, for `sandbox`'s engine.
    pub fn get(&self, sandbox: &Sandbox, key: &str) -> Lookup {
        let (path, record) = (self.artifact_path(key), self.record_path(key));
        let (bytes, expected) = match (std::fs::read(&path), std::fs::read_to_string(&record)) {
            (Ok(b), Ok(r)) => (b, r),
            (Err(e), _) | (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Lookup::Miss;
            }
            (Err(e), _) | (_, Err(e)) => return Lookup::Invalid(format!("unreadable: {e}")),
        };
        deserialize_verified(sandbox, &bytes, expected.trim())
    }
}

/// Deserializes `bytes` if and only if their sha256 is `expected`.
#[allow(unsafe_code)]
fn deserialize_verified(sandbox: &Sandbox, bytes: &[u8], expected: &str) -> Lookup {
    let actual = hex::encode(Sha256::digest(bytes));
    if actual != expected {
        return Lookup::Invalid(format!(
            "artifact checksum mismatch (recorded {}, found {})",
            short(expected),
            short(&actual)
        ));
    }
    // SAFETY: `Component::deserialize` requires bytes produced by
    // `Component::serialize` (or `Engine::precompile_component`) of a
    // compatible wasmtime, not modified since. These bytes were written by
    // `ArtifactCache::put` from the output of `Sandbox::precompile` (our own
    // compiler run, in the `w2s compile` process), and their sha256 matches
    // the one recorded when they were written, so they are unmodified.
    // wasmtime itself also refuses artifacts of another version or engine
    // configuration.
    match unsafe { Component::deserialize(&sandbox.engine, bytes) } {
        Ok(c) => Lookup::Hit(c),
        Err(e) => Lookup::Invalid(format!("not loadable: {}", reason(&e))),
    }
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use w2s_policy::Policy;

    const RUN_ONLY: &str = r#"(component
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func (export "f") (canon lift (core func $i "f"))))"#;

    #[test]
    fn put_get_and_tamper() {
        let sandbox = Sandbox::new(Policy::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path().join("compiled"));
        let wasm = wat::parse_str(RUN_ONLY).unwrap();
        let key = ArtifactCache::key(&sandbox, &wasm);
        assert_eq!(key, ArtifactCache::key(&sandbox, &wasm));
        assert!(matches!(cache.get(&sandbox, &key), Lookup::Miss));
        let artifact = Sandbox::precompile(&wasm).unwrap();
        cache.put(&key, &artifact).unwrap();
        assert!(matches!(cache.get(&sandbox, &key), Lookup::Hit(_)));
        let path = cache.artifact_path(&key);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
        match cache.get(&sandbox, &key) {
            Lookup::Invalid(why) => assert!(why.contains("checksum mismatch"), "{why}"),
            _ => panic!("a tampered artifact was not refused"),
        }
    }

    #[test]
    fn an_intact_entry_is_not_replaced_and_a_broken_one_is() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path().join("compiled"));
        let inode = |c: &ArtifactCache| std::fs::metadata(c.artifact_path("k")).unwrap().ino();
        cache.put("k", b"first").unwrap();
        let first = inode(&cache);
        cache.put("k", b"second").unwrap();
        assert_eq!(inode(&cache), first, "an intact entry was replaced");
        assert_eq!(std::fs::read(cache.artifact_path("k")).unwrap(), b"first");
        std::fs::write(cache.artifact_path("k"), b"torn").unwrap();
        cache.put("k", b"second").unwrap();
        assert_eq!(std::fs::read(cache.artifact_path("k")).unwrap(), b"second");
    }

    #[test]
    fn other_wasm_other_key() {
        let sandbox = Sandbox::new(Policy::default()).unwrap();
        assert_ne!(
            ArtifactCache::key(&sandbox, b"\0asm\x0d\0\x01\0"),
            ArtifactCache::key(&sandbox, b"\0asm\x0d\0\x01\0 ")
        );
    }
}
