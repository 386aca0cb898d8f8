//! The method plugins of `plugins/methods.toml`, as embedded in the binary:
//! what `list_methods` shows and what `w2s new --from` copies.

use serde::{Deserialize, Serialize};

use crate::embedded;

/// A strategy's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// A Rust crate built for wasm32-wasip2 with the guest SDK.
    Rust,
    /// A Python file built with componentize-py (`w2s guest build`).
    Python,
}

impl std::str::FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rust" => Ok(Self::Rust),
            "python" => Ok(Self::Python),
            other => Err(format!("unknown language {other:?} (rust or python)")),
        }
    }
}

/// One `[[method]]` of methods.toml.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Method {
    /// The plugin's name (`python-<stem>` for a Python strategy).
    pub plugin: String,
    /// A short name.
    pub label: String,
    /// The paper or idea the method comes from.
    pub source: String,
    /// The config string of the benchmark (`""`: the defaults).
    pub config: String,
    /// A config for a quick run on a small task.
    pub smoke_config: String,
}

impl Method {
    /// The language the method is written in.
    pub fn lang(&self) -> Lang {
        if self.plugin.starts_with("python-") {
            Lang::Python
        } else {
            Lang::Rust
        }
    }

    /// The embedded source files of the method: (path relative to the
    /// plugin's `src/` or, for Python, the file name; contents).
    pub fn sources(&self) -> Vec<(&'static str, &'static str)> {
        match self.python_stem() {
            Some(stem) => {
                let file = format!("plugins/python/{stem}.py");
                embedded::under("plugins/python/")
                    .filter(|(path, _)| *path == &file["plugins/python/".len()..])
                    .collect()
            }
            None => embedded::under(&format!("plugins/{}/src/", self.plugin)).collect(),
        }
    }

    /// The Python file's stem, for a Python method.
    fn python_stem(&self) -> Option<&str> {
        self.plugin.strip_prefix("python-")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodsFile {
    method: Vec<Method>,
}

/// Every method of the embedded methods.toml, in its order.
pub fn all() -> Vec<Method> {
    let text = embedded::file("plugins/methods.toml").expect("methods.toml is embedded");
    toml::from_str::<MethodsFile>(text)
        .expect("the embedded methods.toml parses (tests/all/methods.rs checks the file)")
        .method
}

/// The method named `plugin`.
pub fn find(plugin: &str) -> Option<Method> {
    all().into_iter().find(|m| m.plugin == plugin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_embedded_sources() {
        let methods = all();
        assert!(methods.iter().any(|m| m.plugin == "vanilla"));
        for m in &methods {
            let sources = m.sources();
            assert!(!sources.is_empty(), "{} has no embedded source", m.plugin);
            if m.lang() == Lang::Rust {
                assert!(sources.iter().any(|(p, _)| *p == "lib.rs"), "{}", m.plugin);
            }
        }
        assert_eq!(find("python-vanilla").unwrap().lang(), Lang::Python);
        assert!(find("no-such-method").is_none());
    }
}
