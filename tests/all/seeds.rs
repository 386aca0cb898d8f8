//! Seeds are chosen by the host, from the evaluator's secret and the
//! submission's hash; the report records their values and a commitment to
//! the secret, never the secret.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::helpers::{default_task, eval_default, eval_report, flag_codes, plugin};

/// Seed `i` as the docs define it, computed independently of the CLI.
fn expected_seed(secret: &[u8], wasm: &str, task: &str, i: u32) -> u64 {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("w2s-seed/v1\n{wasm}\n{task}\n{i}").as_bytes());
    u64::from_le_bytes(mac.finalize().into_bytes()[..8].try_into().unwrap())
}

#[test]
fn seeds_derive_from_the_secret_and_the_submission() {
    let dir = tempfile::tempdir().unwrap();
    let secret_path = dir.path().join("keys/secret");
    let secret_arg = secret_path.to_str().unwrap();
    let (report, _) = eval_report(
        &plugin("vanilla"),
        &default_task(),
        dir.path(),
        "a.json",
        &["--seeds", "2", "--secret-file", secret_arg],
    );
    let secret = std::fs::read(&secret_path).unwrap();
    assert_eq!(secret.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (wasm, task) = (
        report["wasm"]["sha256"].as_str().unwrap(),
        report["task"]["hash"].as_str().unwrap(),
    );
    let seeds = &report["seeds"];
    assert_eq!(seeds["source"], "secret");
    let values: Vec<u64> = seeds["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        values,
        vec![
            expected_seed(&secret, wasm, task, 0),
            expected_seed(&secret, wasm, task, 1)
        ]
    );
    // Each run ran under its seed, in order.
    for (run, seed) in report["runs"].as_array().unwrap().iter().zip(&values) {
        assert_eq!(run["seed"].as_u64().unwrap(), *seed);
    }
    // A commitment to the secret, and never the secret itself.
    assert_eq!(
        seeds["secret_commitment"],
        hex::encode(Sha256::digest(&secret))
    );
    let text = std::fs::read_to_string(dir.path().join("a.json")).unwrap();
    assert!(!text.contains(&hex::encode(&secret)));

    // Another evaluator (another secret) draws other seeds.
    let other = dir.path().join("other-secret");
    let (report2, _) = eval_report(
        &plugin("vanilla"),
        &default_task(),
        dir.path(),
        "b.json",
        &["--seeds", "2", "--secret-file", other.to_str().unwrap()],
    );
    assert_ne!(report2["seeds"]["values"], report["seeds"]["values"]);
    assert_ne!(
        report2["seeds"]["secret_commitment"],
        report["seeds"]["secret_commitment"]
    );
}

#[test]
fn seeds_given_on_the_command_line_are_not_rankable() {
    let (report, table) = eval_default("vanilla", &["--seed", "5"]);
    assert_eq!(report["seeds"]["source"], "flag");
    assert_eq!(report["seeds"]["values"], serde_json::json!([5]));
    assert!(report["seeds"]["secret_commitment"].is_null());
    assert_eq!(report["rankable"]["value"], false);
    assert_eq!(report["feedback"]["rankable"], false);
    assert_eq!(flag_codes(&report), vec!["seeds-from-flag"]);
    assert!(
        table.contains("rankable  no: seeds given with --seed"),
        "{table}"
    );
    // One seed: a mean, but no interval.
    assert_eq!(report["score"]["private"]["pgr"]["n"], 1);
    assert!(report["score"]["private"]["pgr"]["ci95"].is_null());
}
