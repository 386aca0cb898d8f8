//! The `build_strategy` tool: a project of `w2s new` to a component.
//!
//! A Rust project builds with `cargo build --release --offline` (its
//! `.cargo/config.toml` picks wasm32-wasip2); a Python project with `w2s
//! guest build` (this executable) on the SDK copy in `w2s-sdk/`. Offline on
//! purpose: a build never fetches code the evaluator did not already have.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::error::{Error, Result};
use crate::methods::Lang;
use crate::scaffold::{self, SDK_DIR};

/// Lines of a failed build's output kept in the error.
const LOG_TAIL_LINES: usize = 40;

/// A built component.
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    /// The component's path.
    pub wasm: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its sha256 (the seeds derive from it, among others).
    pub sha256: String,
}

/// What kind of project `dir` is, and its name.
fn detect(dir: &Path) -> Result<(Lang, String)> {
    if dir.join("Cargo.toml").is_file() {
        let text = std::fs::read_to_string(dir.join("Cargo.toml"))
            .map_err(|e| Error::io("cannot read", dir.join("Cargo.toml"), e))?;
        let manifest: toml::Table = text
            .parse()
            .map_err(|_| Error::NotAProject(dir.to_owned()))?;
        let name = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .ok_or_else(|| Error::NotAProject(dir.to_owned()))?;
        return Ok((Lang::Rust, name.to_owned()));
    }
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::NotAProject(dir.to_owned()))?;
    let module = dir.join(format!("{}.py", name.replace('-', "_")));
    if module.is_file() && dir.join(SDK_DIR).join("python").is_dir() {
        return Ok((Lang::Python, name.to_owned()));
    }
    Err(Error::NotAProject(dir.to_owned()))
}

/// Builds the project in `dir`; `w2s` is the executable for Python builds.
pub async fn build(dir: &Path, w2s: &Path) -> Result<Built> {
    let (lang, name) = detect(dir)?;
    let mut cmd = match lang {
        Lang::Rust => {
            let mut c = Command::new("cargo");
            c.args(["build", "--release", "--offline", "--quiet"]);
            // The project's own target/, whatever the caller's environment.
            c.env_remove("CARGO_TARGET_DIR")
                .env_remove("CARGO_BUILD_TARGET");
            c
        }
        Lang::Python => {
            let mut c = Command::new(w2s);
            let module = format!("{}.py", name.replace('-', "_"));
            c.args(["guest", "build", &module, "-o", &format!("{name}.wasm")]);
            c.args(["--sdk-dir", &format!("{SDK_DIR}/python")]);
            c.args(["--wit-dir", &format!("{SDK_DIR}/wit")]);
            c
        }
    };
    let out = cmd
        .current_dir(dir)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| Error::io("cannot start the build in", dir, e))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        return Err(Error::BuildFailed { log: tail });
    }
    let wasm = scaffold::wasm_path(dir, &name, lang);
    let bytes = std::fs::read(&wasm).map_err(|e| Error::io("cannot read the built", &wasm, e))?;
    Ok(Built {
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes: bytes.len() as u64,
        wasm,
    })
}
