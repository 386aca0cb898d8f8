//! The tasks a submission may name: every task bundle directly under the
//! tasks directory (`--tasks`, default `.w2s/tasks`), named after its
//! subdirectory; `default` is the default task.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// A registered task, as `GET /v1/tasks` lists it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct TaskInfo {
    /// The subdirectory's name: what a submission names.
    pub(crate) name: String,
    /// The manifest's name, size and generator, in words.
    pub(crate) description: String,
    /// Number of classes.
    pub(crate) classes: i64,
    /// Examples in the unlabeled pool.
    pub(crate) pool: i64,
}

/// Whether `name` may name a task directory: 1 to 64 bytes of
/// `[A-Za-z0-9._-]`, not starting with a dot.
pub(crate) fn valid_name(name: &str) -> bool {
    crate::tokens::valid_name(name) && !name.starts_with('.')
}

/// The bundle directory of task `name` under `dir` (not checked to exist).
pub(crate) fn task_dir(dir: &Path, name: &str) -> Option<PathBuf> {
    valid_name(name).then(|| dir.join(name))
}

/// Reads the manifest of the bundle at `dir`, if it looks like one.
fn read(name: &str, dir: &Path) -> Option<TaskInfo> {
    let text = std::fs::read_to_string(dir.join("task.toml")).ok()?;
    let m: toml::Table = text.parse().ok()?;
    let classes = m.get("classes")?.as_integer()?;
    let pool = m.get("splits")?.get("pool")?.as_integer()?;
    let dim = m.get("feature_dim")?.as_integer()?;
    let title = m.get("name")?.as_str()?;
    let generator = m
        .get("provenance")
        .and_then(|p| p.get("generator"))
        .and_then(|g| g.as_str())
        .unwrap_or("unknown generator");
    Some(TaskInfo {
        name: name.to_owned(),
        description: format!(
            "{title}: {classes} classes, {dim} features, pool of {pool} ({generator})"
        ),
        classes,
        pool,
    })
}

/// The registered tasks under `dir`, sorted by name; a subdirectory
/// without a readable `task.toml` is skipped.
pub(crate) fn list(dir: &Path) -> Vec<TaskInfo> {
    let mut out: Vec<TaskInfo> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if !valid_name(&name) {
                return None;
            }
            read(&name, &e.path())
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_leave_the_directory() {
        assert!(task_dir(Path::new("/t"), "..").is_none());
        assert!(task_dir(Path::new("/t"), "a/b").is_none());
        assert!(task_dir(Path::new("/t"), ".hidden").is_none());
        assert_eq!(
            task_dir(Path::new("/t"), "default"),
            Some(PathBuf::from("/t/default"))
        );
    }
}
