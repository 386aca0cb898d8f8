//! Tokens per second and peak resident memory of one extraction through
//! the frozen forward, on a model directory: the w2s-lm side of
//! `w2s-bench --extraction-only`'s real-model rows, runnable without the
//! benchmark binary's dependencies.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run -p w2s-lm --example extract_probe -- DIR LAYER TEXTS.json [BATCH] [REPEATS]
//! ```
//!
//! `TEXTS.json` is a JSON list of strings. One untimed batch, then
//! `REPEATS` (default 2) timed passes; the fastest counts. Prints one JSON
//! object.

use std::path::Path;
use std::time::Instant;

use w2s_lm::extract::extract;
use w2s_lm::{FrozenDecoder, ModelDir, Pooling};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err("usage: extract_probe DIR LAYER TEXTS.json [BATCH] [REPEATS]".into());
    }
    let layer: usize = args[1].parse()?;
    let batch: usize = args.get(3).map_or(Ok(8), |b| b.parse())?;
    let repeats: usize = args.get(4).map_or(Ok(2), |r| r.parse())?;
    let texts: Vec<String> = serde_json::from_slice(&std::fs::read(&args[2])?)?;
    let strs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let model = ModelDir::open(Path::new(&args[0]), 256)?;
    let rss_open = peak_rss_kib();
    let start = Instant::now();
    let decoder = FrozenDecoder::load(model.weights(), &model.config, layer)?;
    let load_s = start.elapsed().as_secs_f64();
    let rss_loaded = peak_rss_kib();
    extract(
        &decoder,
        &model.tokenizer,
        &strs[..batch.min(strs.len())],
        Pooling::LastToken,
        batch,
        &mut |_| {},
    )?;
    let mut fastest = f64::INFINITY;
    let mut tokens = 0;
    for _ in 0..repeats {
        let start = Instant::now();
        let (_, n) = extract(
            &decoder,
            &model.tokenizer,
            &strs,
            Pooling::LastToken,
            batch,
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
            "weight_bytes": decoder.weight_bytes(),
            "peak_rss_kib_after_open": rss_open,
            "peak_rss_kib_after_load": rss_loaded,
            "peak_rss_kib": peak_rss_kib(),
            "load_s": load_s,
        })
    );
    Ok(())
}
