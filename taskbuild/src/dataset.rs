//! Datasets: the AAR's three JSONL formats and a generic text JSONL.
//!
//! The AAR (the automated weak-to-strong research sandbox) keeps each
//! dataset as a directory of three fixed split files, `train_label.jsonl`
//! (the weak teacher's labeled data), `train_unlabel.jsonl` (the pool) and
//! `test.jsonl`, whose rows carry a `subset` name. Its two row formats,
//! and the prompt text each becomes (the AAR's own templates, from its
//! `core/data.py`):
//!
//! - **chat** (pairwise preference): `{"prompt", "first", "second",
//!   "label": "A" | "B"}` becomes `Question: {prompt}\nAnswer A:
//!   {first}\nAnswer B: {second}\nLabel:`; classes `A` = 0, `B` = 1.
//! - **math** and **code** (is this solution correct):
//!   `{"question", "choice", "label": true | false}` becomes `Question:
//!   {question}\nAnswer: {choice}\nLabel:`; classes `False` = 0,
//!   `True` = 1 (the AAR's label-token order).
//!
//! The generic format is one file of `{"text": ..., "label": N}` rows
//! (`N` in `0..classes`, an optional `subset` string), divided by a
//! [`SplitRule`]. Other fields of a row are ignored. Blank lines are
//! skipped; every error names the file and the 1-based line.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{BuildError, Result};
pub use crate::split::SplitRule;
use crate::split::split_of;

/// The AAR's split files, in the order labeled, pool, test.
pub const AAR_FILES: [&str; 3] = ["train_label.jsonl", "train_unlabel.jsonl", "test.jsonl"];
/// The AAR chat template.
pub const CHAT_TEMPLATE: &str = "Question: {prompt}\nAnswer A: {first}\nAnswer B: {second}\nLabel:";
/// The AAR math/code template.
pub const BINARY_TEMPLATE: &str = "Question: {question}\nAnswer: {choice}\nLabel:";
/// Test examples without a `subset` field are grouped under this name
/// when others have one.
pub const NO_SUBSET: &str = "(no subset)";

/// A dataset format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The AAR chat preference data (a directory of three split files).
    AarChat,
    /// The AAR math data (a directory of three split files).
    AarMath,
    /// The AAR code data (a directory of three split files).
    AarCode,
    /// One `{"text", "label"}` JSONL file, split by a [`SplitRule`].
    Jsonl,
}

impl Format {
    /// The name used on the command line and in provenance.
    pub fn name(self) -> &'static str {
        match self {
            Format::AarChat => "aar-chat",
            Format::AarMath => "aar-math",
            Format::AarCode => "aar-code",
            Format::Jsonl => "jsonl",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Format::AarChat => CHAT_TEMPLATE,
            Format::AarMath | Format::AarCode => BINARY_TEMPLATE,
            Format::Jsonl => "{text}",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = BuildError;
    fn from_str(s: &str) -> Result<Self> {
        [
            Format::AarChat,
            Format::AarMath,
            Format::AarCode,
            Format::Jsonl,
        ]
        .into_iter()
        .find(|f| f.name() == s)
        .ok_or_else(|| {
            BuildError::invalid(
                "format",
                format!("{s:?} is not aar-chat, aar-math, aar-code or jsonl"),
            )
        })
    }
}

/// One example: the text the models read, its class, its subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The prompt text.
    pub text: String,
    /// The class index.
    pub label: u32,
    /// The `subset` field, if the row had one.
    pub subset: Option<String>,
}

/// A dataset read and split.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Its format.
    pub format: Format,
    /// Class names, by index.
    pub class_names: Vec<String>,
    /// The weak teacher's training split.
    pub labeled: Vec<Example>,
    /// The unlabeled pool.
    pub pool: Vec<Example>,
    /// The test split.
    pub test: Vec<Example>,
    /// sha256 of every file read, by file name.
    pub files: BTreeMap<String, String>,
    /// How the splits were made.
    pub split: String,
}

impl Dataset {
    /// Reads `path` (a directory for the AAR formats, a file for `jsonl`).
    /// `classes` is the generic format's class count (default 2).
    pub fn read(
        path: &Path,
        format: Format,
        rule: SplitRule,
        classes: Option<u32>,
        seed: u64,
    ) -> Result<Self> {
        let mut files = BTreeMap::new();
        let (class_names, labeled, pool, test, split) = match format {
            Format::Jsonl => {
                let k = classes.unwrap_or(2);
                if !(2..=w2s_train::bundle::MAX_CLASSES).contains(&k) {
                    return Err(BuildError::invalid(
                        "classes",
                        format!("{k} is outside 2..={}", w2s_train::bundle::MAX_CLASSES),
                    ));
                }
                let rows = read_rows(path, format, k, &mut files)?;
                let mut splits: [Vec<Example>; 3] = Default::default();
                for (line, ex) in rows {
                    splits[split_of(seed, line, rule)].push(ex);
                }
                for (s, name) in splits.iter().zip(["labeled", "test", "pool"]) {
                    if s.is_empty() {
                        return Err(BuildError::Dataset {
                            file: path.to_path_buf(),
                            line: None,
                            problem: format!(
                                "the {name} split is empty (split rule {rule}, seed {seed})"
                            ),
                        });
                    }
                }
                let [labeled, test, pool] = splits;
                let names = (0..k).map(|c| c.to_string()).collect();
                (
                    names,
                    labeled,
                    pool,
                    test,
                    format!("w2s-jsonl-split/v1 {rule} seed {seed}"),
                )
            }
            _ => {
                if classes.is_some() {
                    return Err(BuildError::invalid(
                        "classes",
                        "the AAR formats fix their classes; --classes is for jsonl",
                    ));
                }
                let mut splits = Vec::new();
                for (name, role) in AAR_FILES.iter().zip(["labeled", "pool", "test"]) {
                    let file = path.join(name);
                    let rows: Vec<Example> = read_rows(&file, format, 2, &mut files)?
                        .into_iter()
                        .map(|(_, e)| e)
                        .collect();
                    if rows.is_empty() {
                        return Err(BuildError::Dataset {
                            file,
                            line: None,
                            problem: format!("no examples: the {role} split is empty"),
                        });
                    }
                    splits.push(rows);
                }
                let test = splits.pop().expect("three");
                let pool = splits.pop().expect("three");
                let labeled = splits.pop().expect("three");
                let names = match format {
                    Format::AarChat => vec!["A".into(), "B".into()],
                    _ => vec!["False".into(), "True".into()],
                };
                (names, labeled, pool, test, "fixed split files".to_owned())
            }
        };
        Ok(Self {
            format,
            class_names,
            labeled,
            pool,
            test,
            files,
            split,
        })
    }

    /// One hash over the files read (names and sha256, in name order).
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        for (name, hash) in &self.files {
            h.update(format!("{name}\t{hash}\n").as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// The prompt template of the format.
    pub fn template(&self) -> &'static str {
        self.format.template()
    }

    /// Subset names of the test examples, when any test row has one (rows
    /// without get [`NO_SUBSET`]).
    pub fn test_subset_names(&self) -> Option<Vec<&str>> {
        if self.test.iter().all(|e| e.subset.is_none()) {
            return None;
        }
        Some(
            self.test
                .iter()
                .map(|e| e.subset.as_deref().unwrap_or(NO_SUBSET))
                .collect(),
        )
    }
}

/// Reads the non-blank rows of `file` with their 1-based line numbers.
fn read_rows(
    file: &Path,
    format: Format,
    classes: u32,
    files: &mut BTreeMap<String, String>,
) -> Result<Vec<(usize, Example)>> {
    let bytes = std::fs::read(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BuildError::Dataset {
            file: file.to_path_buf(),
            line: None,
            problem: "missing".into(),
        },
        _ => BuildError::io(file, e),
    })?;
    let name = file
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    files.insert(name, hex::encode(Sha256::digest(&bytes)));
    let text = std::str::from_utf8(&bytes).map_err(|e| BuildError::Dataset {
        file: file.to_path_buf(),
        line: Some(
            bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1,
        ),
        problem: "not UTF-8".into(),
    })?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |problem: String| BuildError::Dataset {
            file: file.to_path_buf(),
            line: Some(i + 1),
            problem,
        };
        let value: Value =
            serde_json::from_str(line).map_err(|e| at(format!("not valid JSON: {e}")))?;
        let Value::Object(row) = value else {
            return Err(at("not a JSON object".into()));
        };
        rows.push((i + 1, parse_row(&row, format, classes).map_err(at)?));
    }
    Ok(rows)
}

fn string_field(row: &Map<String, Value>, name: &str) -> Result<String, String> {
    match row.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("field {name:?} is not a string ({other})")),
        None => Err(format!("missing field {name:?}")),
    }
}

fn parse_row(row: &Map<String, Value>, format: Format, classes: u32) -> Result<Example, String> {
    let label = row.get("label").ok_or("missing field \"label\"")?;
    let (text, label) = match format {
        Format::AarChat => {
            // CHAT_TEMPLATE, filled in one pass (a field that contains
            // "{second}" stays as it is).
            let (p, a, b) = (
                string_field(row, "prompt")?,
                string_field(row, "first")?,
                string_field(row, "second")?,
            );
            let text = format!("Question: {p}\nAnswer A: {a}\nAnswer B: {b}\nLabel:");
            let label = match label.as_str() {
                Some("A") => 0,
                Some("B") => 1,
                _ => return Err(format!("label {label} is not one of \"A\", \"B\"")),
            };
            (text, label)
        }
        Format::AarMath | Format::AarCode => {
            // BINARY_TEMPLATE, filled in one pass.
            let (q, c) = (string_field(row, "question")?, string_field(row, "choice")?);
            let text = format!("Question: {q}\nAnswer: {c}\nLabel:");
            let label = match label.as_bool() {
                Some(b) => u32::from(b),
                None => return Err(format!("label {label} is not one of true, false")),
            };
            (text, label)
        }
        Format::Jsonl => {
            let text = string_field(row, "text")?;
            if text.is_empty() {
                return Err("field \"text\" is empty".into());
            }
            let label = match label.as_u64() {
                Some(l) if l < u64::from(classes) => l as u32,
                _ => return Err(format!("label {label} is outside the classes 0..{classes}")),
            };
            (text, label)
        }
    };
    let subset = match row.get("subset") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(other) => {
            return Err(format!(
                "field \"subset\" is not a non-empty string ({other})"
            ));
        }
    };
    Ok(Example {
        text,
        label,
        subset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn aar_chat_rows_become_the_aar_prompt() {
        let d = tempfile::tempdir().unwrap();
        let row = |l: &str, s: &str| {
            format!(r#"{{"prompt":"p {{second}}","first":"a","second":"b","label":"{l}"{s}}}"#)
        };
        write(
            d.path(),
            "train_label.jsonl",
            &format!("{}\n\n{}\n", row("A", ""), row("B", "")),
        );
        write(d.path(), "train_unlabel.jsonl", &row("B", ""));
        write(
            d.path(),
            "test.jsonl",
            &format!("{}\n{}\n", row("A", r#","subset":"rb2""#), row("B", "")),
        );
        let ds = Dataset::read(d.path(), Format::AarChat, SplitRule::default(), None, 0).unwrap();
        assert_eq!(ds.labeled.len(), 2);
        assert_eq!(ds.labeled[1].label, 1);
        // CHAT_TEMPLATE filled in, the prompt's own "{second}" untouched.
        assert_eq!(
            ds.pool[0].text,
            "Question: p {second}\nAnswer A: a\nAnswer B: b\nLabel:"
        );
        assert_eq!(ds.test_subset_names().unwrap(), ["rb2", NO_SUBSET]);
        assert_eq!(ds.files.len(), 3);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("data.jsonl");
        let read = |text: &str| {
            std::fs::write(&f, text).unwrap();
            Dataset::read(&f, Format::Jsonl, SplitRule::default(), Some(3), 0)
                .unwrap_err()
                .to_string()
        };
        let ok = r#"{"text":"x","label":1}"#;
        assert!(read(&format!("{ok}\n{{oops\n")).contains("line 2: not valid JSON"));
        assert!(
            read(&format!("{ok}\n\n{{\"text\":\"y\",\"label\":3}}\n"))
                .contains("line 3: label 3 is outside the classes 0..3")
        );
        assert!(read(r#"{"label":1}"#).contains("line 1: missing field \"text\""));
        assert!(read(ok).contains("split is empty"));
    }
}
