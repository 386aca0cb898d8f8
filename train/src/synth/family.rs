//! Task families: four ways for the weak teacher to go wrong.
//!
//! Every family shares the world of the generative story (latent concept,
//! strong features, distractors); they differ in what the teacher sees and
//! what it is trained on, so each gives the student a different kind of
//! weak label to learn from:
//!
//! - [`Family::Latent`] (the default task): the teacher sees a degraded
//!   view of the concept (part of the latent dimensions, noisy). Its errors
//!   come from what it cannot see.
//! - [`Family::LabelNoise`]: the teacher sees the concept well but is
//!   trained on labels with independent, symmetric noise: each training
//!   label is replaced, with probability [`LABEL_NOISE_RATE`], by a uniformly
//!   drawn other class.
//! - [`Family::SliceErrors`]: on a slice of the input space (latent
//!   coordinate 0 above [`SLICE_THRESHOLD`], about a quarter of the
//!   examples) the teacher's training labels are permuted (class `c`
//!   becomes `c + 1 mod k`), and the teacher can tell the slice apart (its
//!   view carries the slice indicator and its interaction with the view),
//!   so it errs consistently there and almost nowhere else.
//! - [`Family::SpuriousCue`]: the teacher sees, besides a noisy view of the
//!   concept, a cue (a one-hot class code) that agrees with the label on
//!   [`CUE_AGREEMENT`] of its training split but is drawn independently of
//!   the label in the pool and the test split. The teacher leans on the cue.
//!   The cue is also written into the strong features (in place of the last
//!   `classes` distractors), so a student that imitates the teacher can
//!   learn the same shortcut.
//!
//! The random draws a family adds come from streams of their own, so the
//! samples (and the default task's bytes) do not depend on the family.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Split, SynthConfig};
use crate::rng::Rng;

/// Probability that a teacher training label is replaced (label-noise).
pub const LABEL_NOISE_RATE: f64 = 0.6;
/// The slice is `z[0] > SLICE_THRESHOLD` (slice-errors); 0.674 is the
/// upper quartile of a standard normal, so the slice holds about 25 %.
pub const SLICE_THRESHOLD: f64 = 0.674;
/// Fraction of the teacher's training split whose cue equals the label
/// (spurious-cue); the rest get a uniformly drawn class.
pub const CUE_AGREEMENT: f64 = 0.7;
/// Magnitude of the cue's one-hot code in the teacher's view and the strong
/// features (spurious-cue).
pub const CUE_SCALE: f32 = 1.0;

/// How the weak teacher goes wrong (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// The teacher sees a degraded view of the concept (the default task).
    #[default]
    Latent,
    /// The teacher is trained on labels with independent symmetric noise.
    LabelNoise,
    /// The teacher's training labels are permuted on a slice of the input.
    SliceErrors,
    /// The teacher leans on a cue that is spurious outside its training data.
    SpuriousCue,
}

impl Family {
    /// Every family, in a fixed order.
    pub const ALL: [Family; 4] = [
        Family::Latent,
        Family::LabelNoise,
        Family::SliceErrors,
        Family::SpuriousCue,
    ];

    /// The family's name, as `--family` and the config JSON spell it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Latent => "latent",
            Family::LabelNoise => "label-noise",
            Family::SliceErrors => "slice-errors",
            Family::SpuriousCue => "spurious-cue",
        }
    }

    /// One line on how the teacher goes wrong.
    pub fn summary(self) -> &'static str {
        match self {
            Family::Latent => "the teacher sees part of the concept, through noise",
            Family::LabelNoise => "the teacher is trained on labels with independent noise",
            Family::SliceErrors => {
                "the teacher's training labels are permuted on a slice of the input"
            }
            Family::SpuriousCue => {
                "the teacher leans on a cue that predicts the label only in its training data"
            }
        }
    }

    /// Whether this is the default family (which the config JSON omits, so
    /// the default task's bytes are what they were before families).
    pub fn is_latent(&self) -> bool {
        *self == Family::Latent
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "default" {
            return Ok(Family::Latent);
        }
        Family::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown task family {s:?}; known: {} (or default)",
                    names.join(", ")
                )
            })
    }
}

/// The teacher's accuracy on one group of test examples, measured by the
/// generator (which holds the ground truth).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupAccuracy {
    /// What the group is (`in-slice`, `cue-disagrees`, ...).
    pub group: &'static str,
    /// Test examples in the group.
    pub n: usize,
    /// The teacher's accuracy on them (`NaN` when the group is empty).
    pub acc: f64,
}

/// Which split a family is preparing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The teacher's own labeled training split.
    TeacherTrain,
    /// The pool or the test split.
    Evaluation,
}

/// One split as the teacher sees it.
pub(super) struct TeacherInput {
    /// Row-major `(n, width)`.
    pub(super) view: Vec<f32>,
    /// Labels the teacher is trained on (only used for the training split).
    pub(super) labels: Vec<u32>,
    /// The cue of each example (spurious-cue only).
    pub(super) cues: Vec<u32>,
}

fn in_slice(z0: f64) -> bool {
    z0 > SLICE_THRESHOLD
}

/// The width of the teacher's view.
pub(super) fn view_width(cfg: &SynthConfig) -> usize {
    let vis = cfg.weak_visible as usize;
    match cfg.family {
        Family::Latent | Family::LabelNoise => vis,
        Family::SliceErrors => 2 * vis + 1,
        Family::SpuriousCue => vis + cfg.classes as usize,
    }
}

/// Prepares `split` for the teacher: its view, its training labels and
/// (spurious-cue) its cues, which are also written into the strong
/// features. `stream` names the random stream of this split's draws.
pub(super) fn prepare(
    cfg: &SynthConfig,
    split: &mut Split,
    role: Role,
    stream: &str,
) -> TeacherInput {
    let k = cfg.classes as usize;
    let vis = cfg.weak_visible as usize;
    let n = split.labels.len();
    let mut rng = Rng::for_stream(cfg.seed, &format!("synth-{}-{stream}", cfg.family));
    let mut out = TeacherInput {
        view: Vec::with_capacity(n * view_width(cfg)),
        labels: split.labels.clone(),
        cues: Vec::new(),
    };
    match cfg.family {
        Family::Latent => out.view.clone_from(&split.weak_view),
        Family::LabelNoise => {
            out.view.clone_from(&split.weak_view);
            if role == Role::TeacherTrain {
                for l in &mut out.labels {
                    if rng.uniform() < LABEL_NOISE_RATE {
                        *l = (*l + 1 + rng.below(k as u64 - 1) as u32) % k as u32;
                    }
                }
            }
        }
        Family::SliceErrors => {
            for i in 0..n {
                let v = &split.weak_view[i * vis..(i + 1) * vis];
                let s = in_slice(split.z0[i]);
                out.view.extend_from_slice(v);
                out.view.extend(v.iter().map(|&x| if s { x } else { 0.0 }));
                out.view.push(if s { 1.0 } else { 0.0 });
                if s && role == Role::TeacherTrain {
                    out.labels[i] = (split.labels[i] + 1) % k as u32;
                }
            }
        }
        Family::SpuriousCue => {
            let d = cfg.feature_dim as usize;
            for i in 0..n {
                let agrees = role == Role::TeacherTrain && rng.uniform() < CUE_AGREEMENT;
                let cue = if agrees {
                    split.labels[i]
                } else {
                    rng.below(k as u64) as u32
                };
                out.cues.push(cue);
                out.view
                    .extend_from_slice(&split.weak_view[i * vis..(i + 1) * vis]);
                let row = &mut split.features[i * d + d - k..(i + 1) * d];
                for (c, slot) in row.iter_mut().enumerate() {
                    let x = if c == cue as usize { CUE_SCALE } else { 0.0 };
                    out.view.push(x);
                    *slot = x;
                }
            }
        }
    }
    out
}

/// The teacher's test accuracy on the groups that show its family's
/// failure mode (none for latent and label-noise, whose errors are not
/// tied to a group).
pub(super) fn groups(
    cfg: &SynthConfig,
    test: &Split,
    input: &TeacherInput,
    predicted: &[u32],
) -> Vec<GroupAccuracy> {
    let group = |name: &'static str, member: &dyn Fn(usize) -> bool| {
        let (mut n, mut right) = (0usize, 0usize);
        for (i, (&p, &l)) in predicted.iter().zip(&test.labels).enumerate() {
            if member(i) {
                n += 1;
                right += usize::from(p == l);
            }
        }
        GroupAccuracy {
            group: name,
            n,
            acc: right as f64 / n as f64,
        }
    };
    match cfg.family {
        Family::Latent | Family::LabelNoise => Vec::new(),
        Family::SliceErrors => vec![
            group("in-slice", &|i| in_slice(test.z0[i])),
            group("off-slice", &|i| !in_slice(test.z0[i])),
        ],
        Family::SpuriousCue => vec![
            group("cue-agrees", &|i| input.cues[i] == test.labels[i]),
            group("cue-disagrees", &|i| input.cues[i] != test.labels[i]),
        ],
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;
    use crate::bundle::{self, Manifest, MappedFile};
    use crate::recipe::{self, Recipe};
    use crate::synth::{SynthSummary, generate};

    /// A family task at a size where its failure mode is measurable and a
    /// test stays fast: the teacher keeps its full training split.
    fn small(family: Family, seed: u64) -> SynthConfig {
        SynthConfig {
            pool: 2000,
            test: 1500,
            ..SynthConfig::family_task(family, seed)
        }
    }

    /// Generates `cfg` and trains the ceiling (the reference recipe on the
    /// pool's ground truth, one seed); returns the summary, the ceiling's
    /// test accuracy and the task hash.
    fn generate_with_ceiling(cfg: &SynthConfig) -> (SynthSummary, f64, String) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t");
        let summary = generate(cfg, &out).unwrap();
        let (m, hash) = Manifest::read(&out).unwrap();
        let (np, nt, d, k) = (
            m.splits.pool as usize,
            m.splits.test as usize,
            m.feature_dim as usize,
            m.classes as usize,
        );
        let public = MappedFile::open_verified(&out, &m, bundle::PUBLIC_POOL).unwrap();
        let x = Tensor::from_vec(
            public.f32s("features", &[np, d]).unwrap(),
            (np, d),
            &Device::Cpu,
        )
        .unwrap();
        let truth = MappedFile::open_verified(&out, &m, bundle::HELDOUT_POOL_LABELS)
            .unwrap()
            .u32s("labels", &[np], k as u32)
            .unwrap();
        let t = MappedFile::open_verified(&out, &m, bundle::HELDOUT_TEST).unwrap();
        let tx =
            Tensor::from_vec(t.f32s("features", &[nt, d]).unwrap(), (nt, d), &Device::Cpu).unwrap();
        let ty = t.u32s("labels", &[nt], k as u32).unwrap();
        let ceiling = Recipe::reference()
            .train(&x, &recipe::one_hot(&truth, k), k, 1, &mut |_, _| {})
            .unwrap();
        let ceiling_acc =
            recipe::accuracy(&recipe::predict_all(&ceiling, &tx, 4096).unwrap(), k, &ty);
        (summary, ceiling_acc, hash)
    }

    fn group(s: &SynthSummary, name: &str) -> f64 {
        s.groups.iter().find(|g| g.group == name).unwrap().acc
    }

    /// The gap every family must leave for PGR to mean something.
    const MIN_GAP: f64 = 0.15;

    fn assert_gap(family: Family, s: &SynthSummary, ceiling: f64) {
        assert!(
            ceiling - s.weak_test_acc >= MIN_GAP,
            "{family}: weak {:.3}, ceiling {ceiling:.3}",
            s.weak_test_acc
        );
    }

    #[test]
    fn names_parse_back_and_default_means_latent() {
        for f in Family::ALL {
            assert_eq!(f.name().parse::<Family>().unwrap(), f);
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.name()));
        }
        assert_eq!("default".parse::<Family>().unwrap(), Family::Latent);
        let err = "noisy".parse::<Family>().unwrap_err();
        assert!(err.contains("label-noise"), "{err}");
    }

    #[test]
    fn a_family_task_is_deterministic() {
        for f in [Family::LabelNoise, Family::SliceErrors, Family::SpuriousCue] {
            let cfg = SynthConfig {
                pool: 200,
                test: 100,
                teacher_train: 300,
                ..SynthConfig::family_task(f, 5)
            };
            let dir = tempfile::tempdir().unwrap();
            generate(&cfg, &dir.path().join("a")).unwrap();
            generate(&cfg, &dir.path().join("b")).unwrap();
            let a = Manifest::read(&dir.path().join("a")).unwrap().1;
            let b = Manifest::read(&dir.path().join("b")).unwrap().1;
            assert_eq!(a, b, "{f}");
        }
    }

    #[test]
    fn label_noise_makes_the_teacher_worse_than_clean_labels_would() {
        let cfg = small(Family::LabelNoise, 0);
        let (noisy, ceiling, _) = generate_with_ceiling(&cfg);
        assert_gap(Family::LabelNoise, &noisy, ceiling);
        // The same samples and view, trained on clean labels.
        let clean_cfg = SynthConfig {
            family: Family::Latent,
            ..cfg
        };
        let (clean, _, _) = generate_with_ceiling(&clean_cfg);
        assert!(
            noisy.weak_test_acc < clean.weak_test_acc - 0.05,
            "noisy {:.3}, clean {:.3}",
            noisy.weak_test_acc,
            clean.weak_test_acc
        );
    }

    #[test]
    fn slice_errors_concentrate_on_the_slice() {
        let (s, ceiling, _) = generate_with_ceiling(&small(Family::SliceErrors, 0));
        assert_gap(Family::SliceErrors, &s, ceiling);
        let (inside, outside) = (group(&s, "in-slice"), group(&s, "off-slice"));
        assert!(
            inside < 0.25 && outside > inside + 0.5,
            "in-slice {inside:.3}, off-slice {outside:.3}"
        );
    }

    #[test]
    fn the_spurious_cue_misleads_the_teacher_where_it_disagrees() {
        let (s, ceiling, _) = generate_with_ceiling(&small(Family::SpuriousCue, 0));
        assert_gap(Family::SpuriousCue, &s, ceiling);
        let (agrees, disagrees) = (group(&s, "cue-agrees"), group(&s, "cue-disagrees"));
        assert!(
            agrees > disagrees + 0.3,
            "cue agrees {agrees:.3}, disagrees {disagrees:.3}"
        );
    }

    #[test]
    fn the_latent_family_leaves_its_gap() {
        let (s, ceiling, _) = generate_with_ceiling(&small(Family::Latent, 0));
        assert_gap(Family::Latent, &s, ceiling);
        assert!(s.groups.is_empty());
    }
}
