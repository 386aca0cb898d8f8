//! The vanilla weak-to-strong baseline, natively (no sandbox): generates a
//! synthetic task and prints weak, ceiling and vanilla student accuracies
//! and PGR. Used to size the default task and as the native reference for
//! the sandboxed `plugins/vanilla`.
//!
//! `cargo run -p w2s-train --example native_vanilla -- [SEED] [SCALE] [FAMILY]`
//! (FAMILY: one of `w2s_train::synth::Family`, default `latent`).

use candle_core::{Device, Tensor};
use w2s_train::bundle::{self, Manifest, MappedFile};
use w2s_train::recipe::{self, Recipe};
use w2s_train::synth::{self, Family, SynthConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let scale: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let family: Family = args.next().as_deref().unwrap_or("latent").parse()?;
    let dir = std::env::temp_dir().join(format!("w2s-native-vanilla-{}", std::process::id()));
    let cfg = SynthConfig::family_task(family, seed).scaled(scale);
    let summary = synth::generate(&cfg, &dir)?;
    for g in &summary.groups {
        println!("teacher on {} (n = {}): {:.4}", g.group, g.n, g.acc);
    }
    let (m, _) = Manifest::read(&dir)?;
    let (pool, test, d, k) = (
        m.splits.pool as usize,
        m.splits.test as usize,
        m.feature_dim as usize,
        m.classes as usize,
    );
    let public = MappedFile::open_verified(&dir, &m, bundle::PUBLIC_POOL)?;
    let x = Tensor::from_vec(
        public.f32s("features", &[pool, d])?,
        (pool, d),
        &Device::Cpu,
    )?;
    let weak = public.f32s("weak_probs", &[pool, k])?;
    let truth = MappedFile::open_verified(&dir, &m, bundle::HELDOUT_POOL_LABELS)?.u32s(
        "labels",
        &[pool],
        k as u32,
    )?;
    let t = MappedFile::open_verified(&dir, &m, bundle::HELDOUT_TEST)?;
    let tx = Tensor::from_vec(t.f32s("features", &[test, d])?, (test, d), &Device::Cpu)?;
    let ty = t.u32s("labels", &[test], k as u32)?;
    let weak_acc = recipe::accuracy(&t.f32s("weak_probs", &[test, k])?, k, &ty);
    let r = Recipe::reference();
    let start = std::time::Instant::now();
    let ceiling = r.train(&x, &recipe::one_hot(&truth, k), k, 1, &mut |_, _| {})?;
    let ceiling_acc = recipe::accuracy(&recipe::predict_all(&ceiling, &tx, 4096)?, k, &ty);
    let hard = recipe::one_hot(&recipe::argmax_rows(&weak, k), k);
    let student = r.train(&x, &hard, k, 1, &mut |_, _| {})?;
    let student_acc = recipe::accuracy(&recipe::predict_all(&student, &tx, 4096)?, k, &ty);
    let pool_weak_acc = recipe::accuracy(&weak, k, &truth);
    println!("pool weak acc {pool_weak_acc:.4}");
    println!(
        "weak {weak_acc:.4} ceiling {ceiling_acc:.4} student {student_acc:.4} PGR {:.4} ({:.2} s for two trainings)",
        (student_acc - weak_acc) / (ceiling_acc - weak_acc),
        start.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
