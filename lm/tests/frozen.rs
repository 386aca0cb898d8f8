//! The frozen forward's bits: the same at 1 and 2 threads, and the same
//! whatever other texts share a batch (its products' rows are tokens, and
//! attention reads a text's own tokens only).

use w2s_lm::extract::extract;
use w2s_lm::random_model::RandomModel;
use w2s_lm::{Family, FrozenDecoder, ModelDir, Pooling};

/// A random Qwen2 model large enough that its products split across two
/// threads (over `w2s_gemm`'s 2^22 multiply-adds for a batch of 4 texts of
/// 64 tokens: 256 x 256 x 2048 for gate and up).
fn model(dir: &std::path::Path) -> ModelDir {
    let spec = RandomModel {
        hidden: 256,
        intermediate: 1024,
        layers: 2,
        ..RandomModel::tiny(Family::Qwen2)
    };
    spec.write(dir, 11).unwrap();
    ModelDir::open(dir, 64).unwrap()
}

fn texts() -> Vec<String> {
    (0..4)
        .map(|i| format!("{i}: the answer is correct because of seven cats ").repeat(2))
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn frozen_features_are_the_same_bits_at_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let texts = texts();
    let strs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let layer = model.config.num_layers;
    let run = |threads: usize| {
        let frozen = FrozenDecoder::load(model.weights(), &model.config, layer)
            .unwrap()
            .with_threads(threads);
        let pool = rayon_pool(threads);
        pool.install(|| {
            extract(
                &frozen,
                &model.tokenizer,
                &strs,
                Pooling::Mean,
                4,
                &mut |_| {},
            )
            .unwrap()
            .0
        })
    };
    let one = run(1);
    let two = run(2);
    assert!(one.iter().all(|v| v.is_finite()));
    assert_eq!(bits(&one), bits(&two));
}

#[test]
fn frozen_features_do_not_depend_on_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let mut texts = texts();
    texts.push("short".to_owned());
    let strs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let frozen = FrozenDecoder::load(model.weights(), &model.config, 1).unwrap();
    let alone = extract(
        &frozen,
        &model.tokenizer,
        &strs,
        Pooling::LastToken,
        1,
        &mut |_| {},
    )
    .unwrap()
    .0;
    let together = extract(
        &frozen,
        &model.tokenizer,
        &strs,
        Pooling::LastToken,
        5,
        &mut |_| {},
    )
    .unwrap()
    .0;
    assert_eq!(bits(&alone), bits(&together));
}

#[test]
fn a_token_outside_the_vocabulary_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    RandomModel::tiny(Family::Llama)
        .write(dir.path(), 1)
        .unwrap();
    let model = ModelDir::open(dir.path(), 16).unwrap();
    let frozen = FrozenDecoder::load(model.weights(), &model.config, 2).unwrap();
    let err = frozen.hidden_states(&[&[1, 300]]).unwrap_err();
    assert!(err.to_string().contains("outside the embedding"), "{err}");
}

/// A rayon pool of `threads` threads (the GEMM splits on the current pool).
fn rayon_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// FNV-1a over the values' bits: a fingerprint of a feature matrix.
fn fingerprint(v: &[f32]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in v {
        for byte in x.to_bits().to_le_bytes() {
            h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The frozen forward's bits, pinned: the activation cache
/// (`taskbuild/src/cache.rs`) serves stored features whenever the model,
/// texts and settings match, on the promise that the same inputs give the
/// same bits. A change of kernels that moves any bit must also change its
/// `CACHE_VERSION` (and then this fingerprint). Faster kernels with the
/// same order of operations keep it (the packed AVX2 GEMM, the SIMD dot
/// products and the attention's per-sequence threads did).
#[test]
fn frozen_features_keep_the_bits_the_activation_cache_version_names() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let texts = texts();
    let strs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let frozen =
        FrozenDecoder::load(model.weights(), &model.config, model.config.num_layers).unwrap();
    let print = |pooling| {
        let features = extract(&frozen, &model.tokenizer, &strs, pooling, 4, &mut |_| {})
            .unwrap()
            .0;
        fingerprint(&features)
    };
    let prints = [print(Pooling::Mean), print(Pooling::LastToken)];
    eprintln!("fingerprints {prints:?}");
    assert_eq!(
        prints,
        // Measured at 48706c3 (before the packed AVX2 GEMM) and after it.
        ["2cf27af1fbb06500", "80d0879b3c17713c"],
        "the frozen forward's bits changed: bump CACHE_VERSION in taskbuild/src/cache.rs and pin the new fingerprints"
    );
}

#[test]
fn last_token_states_are_the_last_rows_of_all_states_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let sequences: [&[u32]; 3] = [&[5, 9, 2, 7, 1, 3], &[4], &[8, 8, 6]];
    for layer in 0..=model.config.num_layers {
        let frozen = FrozenDecoder::load(model.weights(), &model.config, layer).unwrap();
        let all = frozen.hidden_states(&sequences).unwrap();
        let last = frozen.last_token_states(&sequences).unwrap();
        let dim = model.config.hidden_size;
        let mut want = Vec::new();
        let mut end = 0;
        for s in sequences {
            end += s.len();
            want.extend_from_slice(&all[(end - 1) * dim..end * dim]);
        }
        assert_eq!(bits(&last), bits(&want), "layer {layer}");
    }
}
