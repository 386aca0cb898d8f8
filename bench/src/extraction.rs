//! Feature-extraction throughput of `w2s-lm` (the forward pass of `w2s task
//! build`) against PyTorch `transformers` on the CPU, same model files,
//! same texts, same batches, same thread count
//! (`bench/torch_extraction.py`).
//!
//! Two random-weight Qwen2-shaped models: the tests' tiny one (hidden 32,
//! 3 layers; overhead-bound) and Qwen2.5-0.5B's shape (hidden 896, 24
//! layers, 14 heads over 2, MLP 4864; vocabulary 8192 instead of 151936,
//! on both sides). Both sides run the whole stack (the final norm's output,
//! w2s-lm's layer `num_layers`), so the work is the same; `task build`'s
//! default, the middle layer, runs only half the blocks.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::Device;
use w2s_lm::extract::{ExtractionModel, extract};
use w2s_lm::random_model::RandomModel;
use w2s_lm::{Family, ModelDir, Pooling};

use crate::guest::repo;

/// One model's workload.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    /// `tiny` or `medium`.
    pub(crate) name: &'static str,
    /// The model.
    pub(crate) model: RandomModel,
    /// Texts per pass.
    pub(crate) texts: usize,
    /// Tokens per text.
    pub(crate) tokens: usize,
    /// Texts per batch.
    pub(crate) batch: usize,
    /// Timed passes (after one untimed); the fastest counts.
    pub(crate) repeats: usize,
}

impl Workload {
    /// The two workloads: tiny (256 texts of 64 tokens, batches of 16) and
    /// medium (16 texts of 128 tokens, batches of 8), 3 timed passes each.
    pub(crate) fn standard() -> [Self; 2] {
        [
            Self {
                name: "tiny",
                model: RandomModel::tiny(Family::Qwen2),
                texts: 256,
                tokens: 64,
                batch: 16,
                repeats: 3,
            },
            Self {
                name: "medium",
                model: RandomModel::qwen2_medium(),
                texts: 16,
                tokens: 128,
                batch: 8,
                repeats: 3,
            },
        ]
    }

    fn describe(&self) -> String {
        let m = &self.model;
        format!(
            "hidden {}, {} layers, {} heads over {}, MLP {}, vocab {}; {} texts x {} tokens, batches of {}",
            m.hidden,
            m.layers,
            m.heads,
            m.kv_heads,
            m.intermediate,
            m.vocab,
            self.texts,
            self.tokens,
            self.batch
        )
    }
}

/// One workload's figures.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    /// The workload.
    pub(crate) workload: String,
    /// Its description.
    pub(crate) shape: String,
    /// Real tokens per second, w2s-lm.
    pub(crate) rust_tps: f64,
    /// Real tokens per second, PyTorch, or why it did not run.
    pub(crate) torch_tps: Result<f64, String>,
}

/// ASCII texts of exactly `tokens` bytes (one token each with the
/// byte-level tokenizer), all different.
fn texts(n: usize, tokens: usize) -> Vec<String> {
    const WORDS: [&str; 8] = [
        "the ", "answer ", "is ", "correct ", "because ", "of ", "seven ", "cats ",
    ];
    (0..n)
        .map(|i| {
            let mut t = format!("{i}: ");
            let mut w = i;
            while t.len() < tokens {
                t.push_str(WORDS[w % WORDS.len()]);
                w = (w * 31 + 7) % 1_000_003;
            }
            t.truncate(tokens);
            t
        })
        .collect()
}

fn measure_one(w: &Workload, threads: usize, device: &Device) -> Result<Figures> {
    let dir = tempfile::tempdir()?;
    let model_dir = dir.path().join("model");
    w.model.write(&model_dir, 1)?;
    let texts = texts(w.texts, w.tokens);
    let texts_file = dir.path().join("texts.json");
    std::fs::write(&texts_file, serde_json::to_vec(&texts)?)?;

    let model = ModelDir::open(&model_dir, w.tokens + 8)?;
    let decoder = ExtractionModel::load(
        model.weights(),
        &model.config,
        model.config.num_layers,
        device,
    )?;
    let strs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut fastest = f64::INFINITY;
    let mut tokens = 0;
    for pass in 0..=w.repeats {
        let start = Instant::now();
        let (_, n) = extract(
            &decoder,
            &model.tokenizer,
            &strs,
            Pooling::LastToken,
            w.batch,
            &mut |_| {},
        )?;
        let secs = start.elapsed().as_secs_f64();
        tokens = n;
        if pass > 0 {
            fastest = fastest.min(secs);
        }
    }
    drop(decoder);
    let rust_tps = tokens as f64 / fastest;
    eprintln!("  {}: w2s-lm {rust_tps:.0} tokens/s", w.name);
    let torch_tps = torch(
        &model_dir,
        &texts_file,
        w,
        threads,
        tokens,
        device.is_cuda(),
    );
    match &torch_tps {
        Ok(t) => eprintln!("  {}: PyTorch {t:.0} tokens/s", w.name),
        Err(e) => eprintln!("  {}: PyTorch did not run: {e}", w.name),
    }
    Ok(Figures {
        workload: w.name.to_owned(),
        shape: w.describe(),
        rust_tps,
        torch_tps,
    })
}

fn torch(
    model: &Path,
    texts: &Path,
    w: &Workload,
    threads: usize,
    tokens: usize,
    cuda: bool,
) -> Result<f64, String> {
    let out = Command::new("python3")
        .arg(repo().join("bench/torch_extraction.py"))
        .arg(model)
        .arg(texts)
        .args([
            "--batch",
            &w.batch.to_string(),
            "--repeats",
            &w.repeats.to_string(),
        ])
        .args(["--threads", &threads.to_string()])
        .args(["--device", if cuda { "cuda" } else { "cpu" }])
        .output()
        .map_err(|e| format!("python3 did not start: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "exit {}: {}",
            out.status,
            err.lines().last().unwrap_or("")
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("unreadable output: {e}"))?;
    if v["tokens"].as_u64() != Some(tokens as u64) {
        return Err(format!(
            "PyTorch counted {} tokens, w2s-lm {tokens}",
            v["tokens"]
        ));
    }
    v["tokens_per_s"]
        .as_f64()
        .ok_or_else(|| "no tokens_per_s".to_owned())
}

/// Runs both workloads with `threads` threads on both sides, on `device`
/// (PyTorch on the same kind of device).
pub(crate) fn measure(threads: usize, device: &Device) -> Result<Vec<Figures>> {
    eprintln!("feature extraction ({threads} threads, {device:?}):");
    Workload::standard()
        .iter()
        .map(|w| {
            measure_one(w, threads, device)
                .with_context(|| format!("extraction benchmark {}", w.name))
        })
        .collect()
}

/// The section of `docs/PERFORMANCE.md`.
pub(crate) fn markdown(
    figures: &[Figures],
    threads: usize,
    load: Option<[f64; 3]>,
) -> Result<String> {
    if figures.is_empty() {
        bail!("no extraction figures");
    }
    let mut s = format!(
        "## Feature extraction (`w2s task build`)\n\n\
         Tokens per second through `w2s-lm`'s frozen forward (what `task \
         build` runs on the CPU: `w2s_lm::FrozenDecoder`; the whole stack, \
         last-token pooling) against PyTorch `transformers` (`AutoModel`, f32, \
         eager attention, inference mode) on the same random-weight \
         Qwen2-shaped model files, texts and batches, {threads} threads each \
         (`PATH=/work/cache/torchenv/bin:$PATH cargo run -p w2s-bench -- \
         --extraction-only --write docs/PERFORMANCE.md`, which writes this \
         whole section; `bench/src/extraction.rs`, \
         `bench/src/real_extraction.rs`, `bench/src/lora_step.rs`, \
         `bench/torch_extraction.py`, `bench/torch_lora.py`). Load average \
         at the start: {}.\n\n\
         | model | shape | w2s-lm tokens/s | PyTorch tokens/s | ratio |\n\
         |---|---|---|---|---|\n",
        load.map_or("unknown".to_owned(), |l| format!(
            "{:.2} / {:.2} / {:.2}",
            l[0], l[1], l[2]
        ))
    );
    for f in figures {
        let (torch, ratio) = match &f.torch_tps {
            Ok(t) => (format!("{t:.0}"), format!("{:.2}x", f.rust_tps / t)),
            Err(e) => (format!("did not run ({e})"), "-".to_owned()),
        };
        s.push_str(&format!(
            "| {} | {} | {:.0} | {torch} | {ratio} |\n",
            f.workload, f.shape, f.rust_tps
        ));
    }
    Ok(s)
}

/// Replaces the feature-extraction section of the Markdown file at `path`
/// (from its `## Feature extraction` heading to the next `## ` heading or
/// the end) with `section`, or appends `section` when there is none.
pub(crate) fn replace_section(path: &Path, section: &str) -> Result<()> {
    const HEADING: &str = "## Feature extraction";
    let doc =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let new = match doc.find(HEADING) {
        Some(start) => {
            let after = start + HEADING.len();
            let end = doc[after..]
                .find("\n## ")
                .map_or(doc.len(), |i| after + i + 1);
            format!("{}{section}\n{}", &doc[..start], &doc[end..])
        }
        None => format!("{doc}\n{section}"),
    };
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}
