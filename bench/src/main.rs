//! `w2s-bench`: the performance figures of `docs/PERFORMANCE.md`, measured
//! in one run.
//!
//! ```sh
//! scripts/build-plugins.sh                                  # the guests it runs
//! scripts/build-python-plugins.sh                           # and the Python ones
//! cargo run -p w2s-bench                                    # print the figures
//! cargo run -p w2s-bench -- --write docs/PERFORMANCE.md     # and write the doc
//! ```
//!
//! Three benchmarks:
//!
//! - **sandbox tax** ([`tax`]): `plugins/vanilla` and `plugins/logconf`
//!   through the sandbox against their native twins
//!   (`w2s_train::recipe::Recipe::train`, `w2s_train::logconf::LogConf`)
//!   on the default task, same seed; the students are compared bit for bit
//!   on every repeat;
//! - **primitive throughput** ([`throughput`]): examples per second of a
//!   fused train step with AdamW, linear and MLP heads, against PyTorch CPU
//!   (`bench/torch_throughput.py`, same shapes and thread count) when
//!   `python3 -c 'import torch'` works;
//! - **call overhead** ([`calls`]): the cost of one trivial host call and
//!   of one small tensor op, from `plugins/bench-guest` loops;
//! - **Python guests** ([`python`]): compile time (cold and cached) of the
//!   Python ports (`scripts/build-python-plugins.sh`) and their Rust twins,
//!   and their fuel and wall time.
//! - **feature extraction** ([`extraction`], [`real_extraction`]): tokens
//!   per second of `w2s-lm`'s forward pass against PyTorch `transformers`
//!   on random-weight Qwen2-shaped models and on the real models' layers
//!   (`bench/torch_extraction.py`), with peak resident memory; and one
//!   `lm-lora` train step on SmolLM2-135M against PyTorch + peft
//!   ([`lora_step`], `bench/torch_lora.py`). `--extraction-only --write
//!   docs/PERFORMANCE.md` measures these alone and rewrites their section.
//!
//! The binary uses mimalloc, as `w2s` does. It is a workspace member so
//! that CI builds it, but nothing runs it in `cargo test`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod calls;
mod extraction;
mod guest;
mod lora_step;
mod machine;
mod on_device;
mod python;
mod real_extraction;
mod report;
mod tax;
mod throughput;

use std::path::PathBuf;

use anyhow::{Result, bail};
use w2s_train::device::DeviceSpec;

/// Command-line options.
struct Args {
    /// Write the Markdown report here.
    write: Option<PathBuf>,
    /// Timed repeats per sandbox-tax measurement (11 by default: with 5, the
    /// paired median still moved by about 5% between runs on a shared
    /// 2-core machine).
    repeats: usize,
    /// Only the throughput benchmark (no guests, no report).
    throughput_only: bool,
    /// Only the sandbox tax (no report).
    tax_only: bool,
    /// Only the Python guests' figures (prints their section).
    python_only: bool,
    /// Only the feature-extraction benchmark (prints its section).
    extraction_only: bool,
    /// Only the `lm-lora` train step's pair (prints its table).
    lora_only: bool,
    /// Internal: print this process's throughput figures as JSON.
    throughput_child: bool,
    /// Run `--throughput-only` or `--extraction` on this device, in this
    /// process, and print one JSON object ([`on_device`]).
    device: Option<DeviceSpec>,
    /// The feature-extraction benchmark (needs `--device`).
    extraction: bool,
    /// Internal: one real model's w2s-lm side (`DIR LAYER TEXTS.json`),
    /// printed as JSON ([`real_extraction::child`]).
    extraction_child: Option<(PathBuf, usize, PathBuf)>,
}

impl Args {
    fn parse() -> Result<Self> {
        let mut args = Args {
            write: None,
            repeats: 11,
            throughput_only: false,
            throughput_child: false,
            tax_only: false,
            python_only: false,
            extraction_only: false,
            lora_only: false,
            device: None,
            extraction: false,
            extraction_child: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            match a.as_str() {
                "--write" => match it.next() {
                    Some(p) => args.write = Some(PathBuf::from(p)),
                    None => bail!("--write needs a path"),
                },
                "--repeats" => match it.next().and_then(|r| r.parse().ok()) {
                    Some(r) if r > 0 => args.repeats = r,
                    _ => bail!("--repeats needs a positive integer"),
                },
                "--throughput-only" => args.throughput_only = true,
                "--throughput-child" => args.throughput_child = true,
                "--tax-only" => args.tax_only = true,
                "--python-only" => args.python_only = true,
                "--extraction-only" => args.extraction_only = true,
                "--lora-only" => args.lora_only = true,
                "--extraction" => args.extraction = true,
                "--extraction-child" => {
                    let (Some(dir), Some(layer), Some(texts)) = (it.next(), it.next(), it.next())
                    else {
                        bail!("--extraction-child needs DIR LAYER TEXTS.json");
                    };
                    args.extraction_child =
                        Some((PathBuf::from(dir), layer.parse()?, PathBuf::from(texts)));
                }
                "--device" => match it.next() {
                    Some(d) => args.device = Some(w2s_train::device::parse_device(&d)?),
                    None => bail!("--device needs cpu, cuda or cuda:N"),
                },
                "-h" | "--help" => {
                    println!(
                        "usage: w2s-bench [--write FILE.md] [--repeats N (default 11)] [--throughput-only | --tax-only | --python-only | --extraction-only | --lora-only]
       w2s-bench --device cpu|cuda[:N] (--throughput-only | --extraction)   (one JSON object)"
                    );
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?} (try --help)"),
            }
        }
        if args.extraction && args.device.is_none() {
            bail!("--extraction needs --device");
        }
        if args.device.is_some() && !(args.extraction || args.throughput_only) {
            bail!("--device goes with --throughput-only or --extraction");
        }
        Ok(args)
    }
}

fn main() -> Result<()> {
    let args = Args::parse()?;
    if let Some((dir, layer, texts)) = &args.extraction_child {
        return real_extraction::child(dir, *layer, texts);
    }
    if args.throughput_child {
        let [linear, mlp] = throughput::rust_both(throughput::Shapes::STANDARD)?;
        println!("{}", serde_json::json!({ "linear": linear, "mlp": mlp }));
        return Ok(());
    }
    if let Some(device) = args.device {
        let value = if args.extraction {
            on_device::extraction(device)?
        } else {
            on_device::throughput(device)?
        };
        println!("{value}");
        return Ok(());
    }
    let machine = machine::Machine::describe();
    // One thread, and every thread candle would use: PyTorch and candle
    // degrade differently when the cores are shared.
    let mut thread_counts = vec![1, machine.threads];
    thread_counts.dedup();
    let load_before = machine::load();
    eprintln!(
        "{} ({} cores, {} threads), load {:?}",
        machine.cpu, machine.cores, machine.threads, load_before
    );
    if args.tax_only {
        let task = guest::DefaultTask::generate()?;
        tax::measure(&task, args.repeats)?;
        return Ok(());
    }
    if args.python_only {
        let task = guest::DefaultTask::generate()?;
        let python = python::measure(&task, args.repeats.min(5))?;
        print!("{}", python.summary());
        eprintln!("load after: {:?}", machine::load());
        print!("{}", python.markdown());
        return Ok(());
    }
    if args.lora_only {
        match lora_step::measure(machine.threads)? {
            Some(f) => print!("{}", lora_step::markdown(&f)?),
            None => bail!("the LoRA step's model is not there"),
        }
        return Ok(());
    }
    if args.extraction_only {
        let real = real_extraction::measure(machine.threads)?;
        let lora = lora_step::measure(machine.threads)?;
        let figures = extraction::measure(machine.threads, &candle_core::Device::Cpu)?;
        let section = format!(
            "{}\n{}{}",
            extraction::markdown(&figures, machine.threads, load_before)?,
            real_extraction::markdown(&real),
            match &lora {
                Some(f) => format!("\n{}", lora_step::markdown(f)?),
                None => String::new(),
            }
        );
        print!("{section}");
        if let Some(path) = args.write {
            extraction::replace_section(&path, &section)?;
            eprintln!("wrote the extraction section of {}", path.display());
        }
        return Ok(());
    }
    if args.throughput_only {
        throughput::measure(throughput::Shapes::STANDARD, &thread_counts)?;
        return Ok(());
    }
    let task = guest::DefaultTask::generate()?;
    let tax = tax::measure(&task, args.repeats)?;
    let throughput = throughput::measure(throughput::Shapes::STANDARD, &thread_counts)?;
    let calls = calls::measure(&task, 3)?;
    let python = python::measure(&task, args.repeats.min(5))?;
    let extraction_load = machine::load();
    let extraction = extraction::measure(machine.threads, &candle_core::Device::Cpu)?;
    let real = real_extraction::measure(machine.threads)?;
    let load_after = machine::load();
    let figures = report::Figures {
        machine,
        load_before,
        load_after,
        tax,
        throughput,
        shapes: throughput::Shapes::STANDARD,
        calls,
        python,
    };
    print!("{}", figures.summary());
    let extraction = format!(
        "{}\n{}",
        extraction::markdown(&extraction, figures.machine.threads, extraction_load)?,
        real_extraction::markdown(&real)
    );
    print!("{extraction}");
    if let Some(path) = args.write {
        std::fs::write(&path, format!("{}\n{extraction}", figures.markdown()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
