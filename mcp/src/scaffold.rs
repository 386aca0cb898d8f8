//! `w2s new` and the `new_strategy` tool: a strategy project that builds and
//! evaluates as generated, offline.
//!
//! Everything comes from the binary (`build.rs` embeds it): the project gets
//! its own copy of the guest SDK and of the WIT contract under `w2s-sdk/`,
//! so it builds anywhere, outside the repository too, with no registry but
//! cargo's local cache. A Rust project also gets the plugins' `Cargo.lock`,
//! which pins wit-bindgen and its dependencies to the versions that
//! `scripts/build-plugins.sh` downloaded, so `cargo build --offline` finds
//! them all.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::embedded;
use crate::error::{Error, Result};
use crate::methods::{self, Lang};

/// The built-in Rust template (the hard-label baseline, commented).
const RUST_TEMPLATE: &str = include_str!("../templates/strategy.rs");
/// The directory of the SDK copies inside a project.
pub const SDK_DIR: &str = "w2s-sdk";

/// A project written by [`create`].
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    /// Its directory.
    pub dir: PathBuf,
    /// The strategy's name (the crate name, or the Python module's).
    pub name: String,
    /// Its language.
    pub lang: Lang,
    /// The method it started from (`None`: the built-in template).
    pub from: Option<String>,
    /// The file to edit.
    pub strategy_file: PathBuf,
    /// The command that builds it (or the `build_strategy` tool).
    pub build_command: String,
}

/// Writes a new strategy project into `dir` (created; it must not exist or
/// be empty), in `lang`, from the built-in template or from the method
/// `from` of plugins/methods.toml.
pub fn create(dir: &Path, lang: Lang, from: Option<&str>) -> Result<Project> {
    let name = project_name(dir)?;
    let sources: Vec<(String, String)> = match from {
        None => match lang {
            Lang::Rust => vec![("lib.rs".into(), RUST_TEMPLATE.into())],
            Lang::Python => {
                let vanilla =
                    embedded::file("plugins/python/vanilla.py").expect("vanilla.py is embedded");
                vec![(format!("{}.py", module_name(&name)), vanilla.into())]
            }
        },
        Some(plugin) => {
            let method = methods::find(plugin)
                .filter(|m| m.lang() == lang)
                .ok_or_else(|| Error::UnknownMethod(plugin.to_owned()))?;
            method
                .sources()
                .into_iter()
                .map(|(path, text)| match lang {
                    Lang::Rust => (path.to_owned(), text.to_owned()),
                    Lang::Python => (format!("{}.py", module_name(&name)), text.to_owned()),
                })
                .collect()
        }
    };
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| Error::io("cannot read", dir, e))?
            .next()
            .is_none();
        if !empty {
            return Err(Error::ProjectExists(dir.to_owned()));
        }
    }
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let sdk = Path::new(SDK_DIR);
    files.push((sdk.join("wit/w2s.wit"), embedded_text("wit/w2s.wit")));
    let (strategy_file, build_command) = match lang {
        Lang::Rust => {
            for (path, text) in sources {
                files.push((Path::new("src").join(path), text));
            }
            for (path, text) in embedded::under("guest-sdk/src/") {
                files.push((sdk.join("guest-sdk/src").join(path), text.to_owned()));
            }
            files.push((sdk.join("guest-sdk/Cargo.toml"), sdk_manifest()));
            files.push(("Cargo.toml".into(), crate_manifest(&name)));
            files.push(("Cargo.lock".into(), embedded_text("plugins/Cargo.lock")));
            files.push((
                ".cargo/config.toml".into(),
                "# A strategy is a component: build for wasm32-wasip2.\n[build]\ntarget = \"wasm32-wasip2\"\n".into(),
            ));
            files.push((".gitignore".into(), "/target\n".into()));
            (
                PathBuf::from("src/lib.rs"),
                "cargo build --release --offline".to_owned(),
            )
        }
        Lang::Python => {
            let file = PathBuf::from(format!("{}.py", module_name(&name)));
            for (path, text) in sources {
                files.push((PathBuf::from(path), text));
            }
            for (path, text) in embedded::under("guest-sdk/python/") {
                files.push((sdk.join("python").join(path), text.to_owned()));
            }
            let command = format!(
                "w2s guest build {} -o {name}.wasm --sdk-dir {SDK_DIR}/python --wit-dir {SDK_DIR}/wit",
                file.display()
            );
            (file, command)
        }
    };
    files.push((
        "README.md".into(),
        readme(&name, lang, from, &build_command),
    ));
    for (path, text) in &files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        }
        std::fs::write(&full, text).map_err(|e| Error::io("cannot write", &full, e))?;
    }
    Ok(Project {
        dir: dir.to_owned(),
        name,
        lang,
        from: from.map(str::to_owned),
        strategy_file: dir.join(strategy_file),
        build_command,
    })
}

/// The name of a project in `dir`: its last component, checked.
fn project_name(dir: &Path) -> Result<String> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let why = if name.is_empty() || name.len() > 64 {
        Some("it must be 1 to 64 characters")
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("it must start with a lowercase ASCII letter")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        Some("only lowercase ASCII letters, digits, '-' and '_' are allowed")
    } else if matches!(
        module_name(&name).as_str(),
        "strategy" | "wit_world" | "w2s_guest_sdk" | "w2s_strategy_entry" | "test" | "std"
    ) {
        Some("the name is reserved")
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::InvalidName { name, why }),
        None => Ok(name),
    }
}

/// A Python module (or Rust library) name for a project name.
fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

fn embedded_text(path: &str) -> String {
    embedded::file(path)
        .unwrap_or_else(|| panic!("{path} is embedded"))
        .to_owned()
}

/// The wit-bindgen requirement of the plugins' workspace.
fn wit_bindgen_requirement() -> String {
    let manifest: toml::Table = embedded_text("plugins/Cargo.toml")
        .parse()
        .expect("plugins/Cargo.toml parses");
    manifest
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(|d| d.get("wit-bindgen"))
        .and_then(|v| v.as_str())
        .expect("plugins/Cargo.toml pins wit-bindgen")
        .to_owned()
}

/// The SDK copy's manifest: the repository's, without the workspace.
fn sdk_manifest() -> String {
    format!(
        r#"# A copy of the w2s guest SDK (guest-sdk/ in the w2s repository), written
# by `w2s new`; its WIT contract is ../wit/w2s.wit.
[package]
name = "w2s-guest-sdk"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["rlib"]

[dependencies]
wit-bindgen = "{}"
"#,
        wit_bindgen_requirement()
    )
}

fn crate_manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
w2s-guest-sdk = {{ path = "{SDK_DIR}/guest-sdk" }}

# A project of its own, not a member of an enclosing workspace.
[workspace]

# Small, self-contained components (as the w2s plugins are built).
[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = true
panic = "abort"
"#
    )
}

fn readme(name: &str, lang: Lang, from: Option<&str>, build: &str) -> String {
    let origin = match from {
        Some(m) => format!("the method `{m}` of w2s's plugins/methods.toml"),
        None => "w2s's built-in template (the hard-label baseline)".to_owned(),
    };
    let wasm = match lang {
        Lang::Rust => format!("target/wasm32-wasip2/release/{}.wasm", module_name(name)),
        Lang::Python => format!("{name}.wasm"),
    };
    format!(
        "# {name}\n\nA weak-to-strong strategy for w2s, generated by `w2s new` from {origin}.\n\n\
         Build (offline; `{SDK_DIR}/` holds the guest SDK and the WIT contract):\n\n    {build}\n\n\
         Evaluate (coarse public feedback only):\n\n    w2s eval {wasm} --feedback-only\n\n\
         Or drive it from an agent through `w2s mcp` (docs/AGENTS.md in the w2s repository).\n"
    )
}

/// The wasm a built project produces.
pub fn wasm_path(dir: &Path, name: &str, lang: Lang) -> PathBuf {
    match lang {
        Lang::Rust => dir.join(format!(
            "target/wasm32-wasip2/release/{}.wasm",
            module_name(name)
        )),
        Lang::Python => dir.join(format!("{name}.wasm")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_rust_project_from_a_method() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("my-em");
        let p = create(&dir, Lang::Rust, Some("noisy-channel-em")).unwrap();
        assert_eq!(p.name, "my-em");
        for f in [
            "Cargo.toml",
            "Cargo.lock",
            "src/lib.rs",
            "src/channel.rs",
            "w2s-sdk/guest-sdk/src/lib.rs",
            "w2s-sdk/wit/w2s.wit",
        ] {
            assert!(dir.join(f).is_file(), "{f}");
        }
        let manifest = std::fs::read_to_string(dir.join("w2s-sdk/guest-sdk/Cargo.toml")).unwrap();
        assert!(manifest.contains("wit-bindgen = \"0."), "{manifest}");
        // A second project in the same place is refused.
        let err = create(&dir, Lang::Rust, None).unwrap_err();
        assert_eq!(err.code(), "project_exists");
    }

    #[test]
    fn refuses_bad_names_and_unknown_methods() {
        let tmp = tempfile::tempdir().unwrap();
        for bad in ["My", "9lives", "a b", "strategy"] {
            let err = create(&tmp.path().join(bad), Lang::Rust, None).unwrap_err();
            assert_eq!(err.code(), "invalid_name", "{bad}");
        }
        let err = create(&tmp.path().join("x"), Lang::Rust, Some("nope")).unwrap_err();
        assert_eq!(err.code(), "unknown_method");
        // A Python method is not a Rust one.
        let err = create(&tmp.path().join("x"), Lang::Rust, Some("python-vanilla")).unwrap_err();
        assert_eq!(err.code(), "unknown_method");
    }

    #[test]
    fn writes_a_python_project() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("my-py");
        let p = create(&dir, Lang::Python, Some("python-logconf")).unwrap();
        assert!(p.strategy_file.ends_with("my_py.py"));
        assert!(
            dir.join("w2s-sdk/python/w2s_guest_sdk/__init__.py")
                .is_file()
        );
        assert!(dir.join("w2s-sdk/python/sockets-deny/Cargo.toml").is_file());
        assert!(p.build_command.contains("--sdk-dir w2s-sdk/python"));
    }
}
