//! `plugins/methods.toml`: the method plugins that `w2s bench methods` runs
//! (the format is described at the top of that file).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// One method plugin.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Method {
    /// Crate name; its component is `<wasm dir>/<plugin, '-' -> '_'>.wasm`.
    pub(crate) plugin: String,
    /// Short name for tables.
    pub(crate) label: String,
    /// The paper or idea list the method comes from.
    pub(crate) source: String,
    /// Config string for the benchmark.
    pub(crate) config: String,
    /// Config string for the smoke run on a small task.
    pub(crate) smoke_config: String,
}

impl Method {
    /// Where its component is, under `wasm_dir`.
    pub(crate) fn wasm(&self, wasm_dir: &Path) -> PathBuf {
        wasm_dir.join(format!("{}.wasm", self.plugin.replace('-', "_")))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodsFile {
    method: Vec<Method>,
}

/// Parses the file's text: at least one method, plugin names unique and
/// made of ASCII letters, digits, `-` and `_`.
pub(crate) fn parse(text: &str) -> Result<Vec<Method>> {
    let file: MethodsFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    if file.method.is_empty() {
        bail!("no [[method]] entries");
    }
    let mut seen = BTreeSet::new();
    for m in &file.method {
        let ok = !m.plugin.is_empty()
            && m.plugin
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            bail!(
                "plugin name {:?} must be ASCII letters, digits, - or _",
                m.plugin
            );
        }
        if !seen.insert(m.plugin.as_str()) {
            bail!("plugin {:?} is listed twice", m.plugin);
        }
    }
    Ok(file.method)
}

/// Reads and parses `path`; the error names the file.
pub(crate) fn read(path: &Path) -> Result<Vec<Method>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("{}", path.display()))
}

/// The methods named in `subset` (all of them when it is empty), in the
/// file's order; an unknown name is an error that lists the known ones.
pub(crate) fn select(methods: Vec<Method>, subset: &[String]) -> Result<Vec<Method>> {
    for name in subset {
        if !methods.iter().any(|m| &m.plugin == name) {
            let known: Vec<&str> = methods.iter().map(|m| m.plugin.as_str()).collect();
            bail!(
                "unknown method {name:?}; methods.toml lists {}",
                known.join(", ")
            );
        }
    }
    Ok(methods
        .into_iter()
        .filter(|m| subset.is_empty() || subset.contains(&m.plugin))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
[[method]]
plugin = "vanilla"
label = "vanilla"
source = "Burns et al. 2023"
config = ""
smoke_config = "epochs=2"

[[method]]
plugin = "tensor-demo"
label = "soft + entropy"
source = "-"
config = ""
smoke_config = "epochs=1"
"#;

    #[test]
    fn parses_and_selects_in_file_order() {
        let all = parse(TWO).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].wasm(Path::new("w")), Path::new("w/tensor_demo.wasm"));
        let sub = select(all.clone(), &["tensor-demo".to_owned()]).unwrap();
        assert_eq!(sub, vec![all[1].clone()]);
        let err = select(all, &["nope".to_owned()]).unwrap_err().to_string();
        assert!(err.contains("vanilla, tensor-demo"), "{err}");
    }

    #[test]
    fn refuses_unknown_fields_duplicates_and_odd_names() {
        let unknown = TWO.replacen("config = \"\"", "config = \"\"\nextra = 1", 1);
        assert!(parse(&unknown).is_err());
        let dup = TWO.replace("tensor-demo", "vanilla");
        assert!(parse(&dup).unwrap_err().to_string().contains("twice"));
        let odd = TWO.replace("tensor-demo", "../x");
        assert!(parse(&odd).is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn the_repository_list_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/methods.toml");
        assert!(!read(&path).unwrap().is_empty());
    }
}
