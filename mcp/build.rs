//! Embeds the sources a generated strategy project needs, so that `w2s new`
//! works from the binary alone, without the repository or the network: the
//! Rust guest SDK and the WIT contract, the Python SDK with its sockets stub,
//! the method plugins listed in `plugins/methods.toml`, and the plugins'
//! `Cargo.lock` (the pinned versions of the guest's crates).
//!
//! Writes `$OUT_DIR/embedded.rs`: one sorted table of (repository-relative
//! path, contents) pairs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let repo = manifest
        .parent()
        .expect("mcp/ sits in the repository")
        .to_path_buf();
    let methods = std::fs::read_to_string(repo.join("plugins/methods.toml"))
        .expect("plugins/methods.toml is readable");

    let mut files: Vec<String> = Vec::new();
    for root in ["guest-sdk/Cargo.toml", "guest-sdk/src", "wit/w2s.wit"] {
        collect(&repo, Path::new(root), &mut files);
    }
    for root in [
        "guest-sdk/python/w2s_guest_sdk",
        "guest-sdk/python/requirements.txt",
        "guest-sdk/python/sockets-deny",
        "plugins/Cargo.lock",
        "plugins/Cargo.toml",
        "plugins/methods.toml",
        "plugins/python",
    ] {
        collect(&repo, Path::new(root), &mut files);
    }
    for plugin in plugin_names(&methods) {
        if !plugin.starts_with("python-") {
            collect(
                &repo,
                &Path::new("plugins").join(&plugin).join("src"),
                &mut files,
            );
        }
    }
    files.sort();
    files.dedup();

    let mut out = String::from("/// Embedded sources: (repository-relative path, contents).\n");
    out.push_str("pub(crate) static FILES: &[(&str, &str)] = &[\n");
    for rel in &files {
        let abs = repo.join(rel);
        writeln!(
            out,
            "    ({rel:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("embedded.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// The `plugin = "..."` values of methods.toml.
fn plugin_names(methods: &str) -> Vec<String> {
    methods
        .lines()
        .filter_map(|l| l.trim().strip_prefix("plugin = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .map(str::to_owned)
        .collect()
}

/// Adds `rel` (a file, or every file under a directory but build output and
/// caches) to `files`, and asks cargo to rerun when it changes.
fn collect(repo: &Path, rel: &Path, files: &mut Vec<String>) {
    let abs = repo.join(rel);
    println!("cargo:rerun-if-changed={}", abs.display());
    if abs.is_file() {
        files.push(rel.to_str().expect("UTF-8 paths").to_owned());
        return;
    }
    let mut entries: Vec<_> = std::fs::read_dir(&abs)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", abs.display()))
        .map(|e| e.expect("a directory entry").file_name())
        .collect();
    entries.sort();
    for name in entries {
        let name = name.to_str().expect("UTF-8 names");
        if matches!(name, "target" | "__pycache__" | ".gitignore") || name.ends_with(".pyc") {
            continue;
        }
        collect(repo, &rel.join(name), files);
    }
}
