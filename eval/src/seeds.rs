//! The second stage: the seeds an evaluation runs under, chosen by the
//! host.
//!
//! A strategy never picks its own luck: each evaluation runs it under `N`
//! seeds (5 by default), and seed `i` is
//!
//! ```text
//! first 8 bytes, little-endian, of
//! HMAC-SHA256(secret, "w2s-seed/v1\n" || wasm_sha256 || "\n" || task_hash || "\n" || i)
//! ```
//!
//! where `secret` is the evaluator's secret (32 random bytes from the OS,
//! created on first use at `.w2s/secret` with mode 0600, or another file).
//! Without the secret a submitter cannot predict the seeds of a submission,
//! so cannot search for a wasm whose seeds happen to be lucky; with it, the
//! evaluator recomputes them. The report records the seed values and a
//! public commitment to the secret, its sha256, never the secret itself.
//!
//! Seeds given explicitly (`--seed S`, repeatable) are for local
//! iteration; the report then says so (`seeds.source = "flag"`) and is
//! marked not rankable.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{EvalError, Result};

/// Seeds per evaluation unless asked otherwise.
pub const DEFAULT_SEEDS: u32 = 5;
/// Most seeds one evaluation may ask for: each is a whole sandboxed run.
pub const MAX_SEEDS: u32 = 100;
/// Where the secret lives unless asked otherwise, relative to the working
/// directory.
pub const DEFAULT_SECRET_FILE: &str = ".w2s/secret";
/// Bytes of a fresh secret.
const SECRET_BYTES: usize = 32;
/// Shortest secret accepted (a hand-made one must still be unguessable).
const MIN_SECRET_BYTES: usize = 16;
/// Longest secret accepted (it is read whole).
const MAX_SECRET_BYTES: u64 = 4096;

/// How the seeds of an evaluation are to be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRequest {
    /// Exactly these seeds, when not empty (local iteration: not
    /// rankable) [default: none].
    pub given: Vec<u64>,
    /// Otherwise, this many seeds derived from the secret [default: 5].
    pub count: u32,
    /// The evaluator's secret, created on first use [default:
    /// `.w2s/secret`].
    pub secret_file: PathBuf,
}

impl Default for SeedRequest {
    fn default() -> Self {
        Self {
            given: Vec::new(),
            count: DEFAULT_SEEDS,
            secret_file: PathBuf::from(DEFAULT_SECRET_FILE),
        }
    }
}

impl SeedRequest {
    /// The seed plan for one wasm on one task (reading, or creating, the
    /// secret unless the seeds are given).
    pub fn plan(&self, wasm_sha256: &str, task_hash: &str) -> Result<SeedPlan> {
        if !self.given.is_empty() {
            return SeedPlan::given(self.given.clone());
        }
        let secret = Secret::load_or_create(&self.secret_file)?;
        Ok(secret.plan(wasm_sha256, task_hash, self.count))
    }
}

/// Where the seeds came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedSource {
    /// Derived by the host from the evaluator's secret: rankable.
    Secret,
    /// Given explicitly (`--seed`): local iteration, not rankable.
    Flag,
}

/// The seeds of one evaluation, as the report records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedPlan {
    /// Where they came from.
    pub source: SeedSource,
    /// How they were made, in words.
    pub rule: String,
    /// sha256 of the secret they were derived from (`None` for given
    /// seeds).
    pub secret_commitment: Option<String>,
    /// The seeds, in run order.
    pub values: Vec<u64>,
}

const DERIVED_RULE: &str = "seed i = first 8 bytes (little-endian) of HMAC-SHA256(secret, \"w2s-seed/v1\\n\" || wasm_sha256 || \"\\n\" || task_hash || \"\\n\" || i); secret_commitment = sha256(secret)";
const FLAG_RULE: &str = "given with --seed: local iteration only, not rankable";

impl SeedPlan {
    /// Exactly `values`, given by hand: local iteration, not rankable. At
    /// most [`MAX_SEEDS`] of them.
    pub fn given(values: Vec<u64>) -> Result<Self> {
        if values.len() > MAX_SEEDS as usize {
            return Err(EvalError::TooManySeeds { max: MAX_SEEDS });
        }
        Ok(Self {
            source: SeedSource::Flag,
            rule: FLAG_RULE.to_owned(),
            secret_commitment: None,
            values,
        })
    }

    /// Whether a ranking may use results under these seeds.
    pub fn rankable(&self) -> bool {
        self.source == SeedSource::Secret
    }
}

/// The evaluator's secret.
pub struct Secret(Vec<u8>);

impl Secret {
    /// Reads the secret at `path`, creating it (32 random bytes from the OS,
    /// mode 0600) when it does not exist. Refuses a secret that others may
    /// read, or one shorter than 16 bytes.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        if !path.exists() {
            create_secret(path).map_err(|e| EvalError::CreateSecret {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        }
        let read_err = |source| EvalError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = fs::metadata(path).map_err(read_err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(EvalError::SecretReadable {
                    path: path.to_path_buf(),
                    mode: mode & 0o777,
                });
            }
        }
        if meta.len() > MAX_SECRET_BYTES {
            return Err(EvalError::SecretTooLong {
                path: path.to_path_buf(),
                max: MAX_SECRET_BYTES,
            });
        }
        let bytes = fs::read(path).map_err(read_err)?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(EvalError::SecretTooShort {
                path: path.to_path_buf(),
                len: bytes.len(),
                min: MIN_SECRET_BYTES,
            });
        }
        Ok(Self(bytes))
    }

    /// A secret of these bytes (unit tests of other modules).
    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The public commitment to the secret: its sha256, lowercase hex.
    pub fn commitment(&self) -> String {
        w2s_train::bundle::sha256_hex(&self.0)
    }

    /// Seed `i` for a wasm on a task.
    pub fn seed(&self, wasm_sha256: &str, task_hash: &str, i: u32) -> u64 {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("w2s-seed/v1\n{wasm_sha256}\n{task_hash}\n{i}").as_bytes());
        let out = mac.finalize().into_bytes();
        u64::from_le_bytes(out[..8].try_into().expect("32-byte MAC"))
    }

    /// The generator seed of a ranking task: first 8 bytes, little-endian,
    /// of `HMAC-SHA256(secret, "w2s-task-seed/v1\n" || label)`. Without
    /// the secret, nobody can regenerate the task (its test split) from
    /// public inputs; with it, the evaluator regenerates it exactly
    /// (issue 18, fix 5a). `label` names the task (`default`, or
    /// `suite/SUITE/TASK/LISTED_SEED` for a suite task: see
    /// [`crate::suite::Suite::generator_seed`]) so that each gets its own
    /// seed.
    pub fn task_seed(&self, label: &str) -> u64 {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("w2s-task-seed/v1\n{label}").as_bytes());
        let out = mac.finalize().into_bytes();
        u64::from_le_bytes(out[..8].try_into().expect("32-byte MAC"))
    }

    /// `n` seeds for a wasm on a task, with the commitment.
    pub fn plan(&self, wasm_sha256: &str, task_hash: &str, n: u32) -> SeedPlan {
        SeedPlan {
            source: SeedSource::Secret,
            rule: DERIVED_RULE.to_owned(),
            secret_commitment: Some(self.commitment()),
            values: (0..n)
                .map(|i| self.seed(wasm_sha256, task_hash, i))
                .collect(),
        }
    }
}

/// Writes a fresh secret to `path` without ever exposing a partial file:
/// the bytes go to a private temporary file that is then hard-linked into
/// place, which fails if another process got there first (its secret wins).
fn create_secret(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir).map_err(|source| EvalError::Create {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| EvalError::Randomness {
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let create_err = |source| EvalError::Create {
        path: tmp.clone(),
        source,
    };
    let mut file = options.open(&tmp).map_err(create_err)?;
    let write_err = |source| EvalError::Write {
        path: tmp.clone(),
        source,
    };
    file.write_all(&bytes).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(EvalError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231, test case 1: key 0x0b * 20, data "Hi There".
        let mut mac = Hmac::<Sha256>::new_from_slice(&[0x0b; 20]).unwrap();
        mac.update(b"Hi There");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn seeds_depend_on_secret_wasm_task_and_index() {
        let a = Secret(vec![1; 32]);
        let b = Secret(vec![2; 32]);
        let plan = a.plan("w", "t", 5);
        assert_eq!(plan.values.len(), 5);
        assert_eq!(plan, a.plan("w", "t", 5));
        let mut distinct = plan.values.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 5);
        assert_ne!(plan.values, b.plan("w", "t", 5).values);
        assert_ne!(plan.values, a.plan("w2", "t", 5).values);
        assert_ne!(plan.values, a.plan("w", "t2", 5).values);
        assert_eq!(plan.values[..3], a.plan("w", "t", 3).values[..]);
        assert_eq!(
            plan.secret_commitment.as_deref(),
            Some(w2s_train::bundle::sha256_hex(&[1; 32]).as_str())
        );
        assert!(plan.rankable());
        assert!(!SeedPlan::given(vec![7]).unwrap().rankable());
    }

    /// Issue 18, fix 5a: a ranking task's generator seed cannot be
    /// computed without the secret, and differs from the public seed 0.
    #[test]
    fn ranking_task_seeds_need_the_secret() {
        let a = Secret(vec![1; 32]);
        let b = Secret(vec![2; 32]);
        assert_eq!(a.task_seed("default"), a.task_seed("default"));
        assert_ne!(a.task_seed("default"), b.task_seed("default"));
        assert_ne!(a.task_seed("default"), a.task_seed("other"));
        assert_ne!(a.task_seed("default"), 0);
        let ranking = crate::task::ranking_default_config(&a);
        let public = w2s_train::synth::SynthConfig::default_task(0);
        assert_ne!(ranking.seed, public.seed);
        // Everything but the generator seed is the public default task's.
        let same_story = w2s_train::synth::SynthConfig {
            seed: 0,
            ..ranking.clone()
        };
        assert_eq!(same_story, public);
        assert_eq!(ranking, crate::task::ranking_default_config(&a));
    }

    #[test]
    fn at_most_max_seeds_may_be_given() {
        assert!(SeedPlan::given(vec![1; MAX_SEEDS as usize]).is_ok());
        let err = SeedPlan::given(vec![1; MAX_SEEDS as usize + 1]).unwrap_err();
        assert_eq!(err.to_string(), "at most 100 --seed values");
    }

    #[test]
    fn the_secret_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secret");
        let first = Secret::load_or_create(&path).unwrap();
        assert_eq!(first.0.len(), SECRET_BYTES);
        let again = Secret::load_or_create(&path).unwrap();
        assert_eq!(first.0, again.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            let err = Secret::load_or_create(&path).err().unwrap().to_string();
            assert!(err.contains("readable by others"), "{err}");
        }
    }

    #[test]
    fn a_short_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(&path).unwrap().write_all(b"short").unwrap();
        let err = Secret::load_or_create(&path).err().unwrap().to_string();
        assert!(err.contains("at least 16"), "{err}");
    }
}
