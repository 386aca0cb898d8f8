//! The sandbox tax: a strategy's wall time through the sandbox against its
//! native twin's, on the default task with the same seed.

use anyhow::{Result, bail};
use w2s_train::logconf::LogConf;
use w2s_train::recipe::{Recipe, argmax_rows, one_hot};

use crate::guest::{DefaultTask, Loaded, fastest, median, same_bits};

/// The seed of every timed run (the host would derive one from its secret;
/// any fixed value will do for timing).
pub(crate) const SEED: u64 = 2024;

/// One method's figures.
#[derive(Debug, Clone)]
pub(crate) struct Tax {
    /// The plugin's name.
    pub(crate) method: &'static str,
    /// Fastest wall time of a sandboxed run, seconds.
    pub(crate) sandbox_s: f64,
    /// Fastest wall time of the native twin, seconds.
    pub(crate) native_s: f64,
    /// Median over the repeats of each pair's ratio (sandboxed over native,
    /// the two runs back to back, so under about the same load).
    pub(crate) paired_ratio: f64,
    /// Whether the two students were identical bit for bit (every repeat).
    pub(crate) identical: bool,
    /// Timed repeats of each.
    pub(crate) repeats: usize,
}

impl Tax {
    /// `sandbox_s / native_s`: fastest over fastest.
    pub(crate) fn ratio(&self) -> f64 {
        self.sandbox_s / self.native_s
    }
}

/// The native twin of `method` on the public view: the weak labels are
/// read and turned into targets inside the timing, as the guest does.
fn native(method: &str, task: &DefaultTask) -> Result<(w2s_train::Head, f64)> {
    let t = &task.task;
    let k = t.classes();
    let start = std::time::Instant::now();
    let head = match method {
        "vanilla" => {
            let targets = one_hot(&argmax_rows(&t.weak_probs, k), k);
            Recipe::reference().train(&t.features, &targets, k, SEED, &mut |_, _| {})?
        }
        "logconf" => {
            LogConf::reference().train(&t.features, &t.weak_probs, k, SEED, &mut |_, _| {})?
        }
        other => bail!("no native twin for {other}"),
    };
    Ok((head, start.elapsed().as_secs_f64()))
}

/// Times `repeats` sandboxed and native runs of vanilla and logconf,
/// interleaved (alternating which goes first), after one untimed run of
/// each.
pub(crate) fn measure(task: &DefaultTask, repeats: usize) -> Result<Vec<Tax>> {
    let mut out = Vec::new();
    for method in ["vanilla", "logconf"] {
        let loaded = Loaded::plugin(method)?;
        let (warm_guest, _) = loaded.run(task, "", SEED)?;
        let (warm_native, _) = native(method, task)?;
        let mut identical = same_bits(&warm_guest, &warm_native)?;
        let (mut sandbox, mut native_s) = (Vec::new(), Vec::new());
        for r in 0..repeats {
            // Alternate which side goes first, so that neither always runs
            // in the other's wake (caches, freed memory).
            let ((g, s), (n, t)) = if r % 2 == 0 {
                (loaded.run(task, "", SEED)?, native(method, task)?)
            } else {
                let n = native(method, task)?;
                (loaded.run(task, "", SEED)?, n)
            };
            identical &= same_bits(&g, &n)?;
            sandbox.push(s);
            native_s.push(t);
        }
        let pairs: Vec<f64> = sandbox.iter().zip(&native_s).map(|(s, n)| s / n).collect();
        eprintln!("tax {method}: sandboxed {sandbox:.3?} s, native {native_s:.3?} s");
        let tax = Tax {
            method,
            paired_ratio: median(&pairs),
            sandbox_s: fastest(&sandbox),
            native_s: fastest(&native_s),
            identical,
            repeats,
        };
        eprintln!(
            "tax {method}: sandbox {:.3} s, native {:.3} s, ratio {:.3}, paired {:.3}, identical {identical}",
            tax.sandbox_s,
            tax.native_s,
            tax.ratio(),
            tax.paired_ratio
        );
        out.push(tax);
    }
    Ok(out)
}
