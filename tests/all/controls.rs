//! Teacher-ablation controls and degeneracy checks: a guest that ignores
//! its teacher and plays the class prior is flagged; vanilla is not; a
//! guest that carries an oracle and sabotages only the controls it can
//! detect is flagged by the counterfactual teacher.

use crate::helpers::{default_task, eval_default, flag_codes};

#[test]
fn a_guest_that_plays_the_class_prior_is_flagged() {
    let (report, table) = eval_default("prior_only", &["--seeds", "2", "--controls"]);
    let c = &report["controls"];
    assert_eq!(c["does_not_use_teacher"], true, "{c}");
    for control in ["permuted_labels", "class_prior", "counterfactual_teacher"] {
        assert_eq!(
            c[control]["verdict"], "does-not-drop",
            "{control}: {}",
            c[control]
        );
        assert_eq!(c[control]["runs"].as_array().unwrap().len(), 2);
        // The prior is the same under the first two controls: PGR does not
        // move. The counterfactual teacher renames the classes, so the
        // prior it plays is another one, and PGR moves a little (0.08 on
        // this task), still far from the margin.
        let most = if control == "counterfactual_teacher" {
            0.15
        } else {
            0.05
        };
        assert!(
            c[control]["drop"].as_f64().unwrap().abs() < most,
            "{control}: {}",
            c[control]["drop"]
        );
    }
    let flags = flag_codes(&report);
    assert!(
        flags.contains(&"does-not-use-teacher".to_owned()),
        "{flags:?}"
    );
    // Its predictions are prior-shaped: one or two classes for the whole
    // pool, far from the teacher's balance (whether one class passes the
    // near-constant threshold depends on the seed).
    assert!(
        flags.contains(&"class-distribution-shift".to_owned()),
        "{flags:?}"
    );
    for run in report["runs"].as_array().unwrap() {
        let largest = run["pool_predictions"]["largest_class_fraction"]
            .as_f64()
            .unwrap();
        assert!(largest > 0.8, "{largest}");
    }
    assert!(table.contains("DOES NOT DROP"), "{table}");
    // The submitter learns it too, through the feedback.
    let fb: Vec<&str> = report["feedback"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(fb.contains(&"does-not-use-teacher"));
}

#[test]
fn vanilla_uses_its_teacher_and_is_not_flagged() {
    let (report, _) = eval_default("vanilla", &["--seeds", "2", "--controls"]);
    let c = &report["controls"];
    assert_eq!(c["does_not_use_teacher"], false, "{c}");
    assert_eq!(c["inconclusive"], false);
    for control in ["permuted_labels", "class_prior", "counterfactual_teacher"] {
        assert_eq!(c[control]["verdict"], "drops", "{control}");
        // From about 0.37 to about chance: far past the margin.
        assert!(
            c[control]["drop"].as_f64().unwrap() > 0.75,
            "{}",
            c[control]["drop"]
        );
    }
    assert_eq!(flag_codes(&report), Vec::<String>::new());
    // The control runs ran under the real runs' seeds.
    assert_eq!(
        c["permuted_labels"]["runs"][1]["seed"],
        report["seeds"]["values"][1]
    );
}

/// The attack of issue 18: a strategy that carries the pool's ground truth
/// (as anyone who regenerates a public task offline could), ignores its
/// teacher, and trains on its teacher's labels only when it detects a
/// control (every row the same; a probe on the features cannot follow the
/// labels). It escapes the permuted-labels and class-prior controls, which
/// drop; the counterfactual teacher's labels look like a teacher's, so it
/// keeps its oracle there, its PGR does not drop, and it is flagged.
#[test]
fn an_oracle_that_dodges_the_detectable_controls_is_caught_by_the_counterfactual_teacher() {
    let heldout = candle_core::safetensors::load(
        default_task().join("heldout/pool_labels.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let truth: String = heldout["labels"]
        .to_vec1::<u32>()
        .unwrap()
        .iter()
        .map(|&l| char::from_digit(l, 16).unwrap())
        .collect();
    let config = format!("truth={truth}");
    let (report, table) = eval_default(
        "control_evader",
        &["--seeds", "2", "--controls", "--config", &config],
    );
    let private = report["score"]["private"]["pgr"]["mean"].as_f64().unwrap();
    assert!(private > 0.8, "the oracle scores high: {private}");
    let c = &report["controls"];
    for control in ["permuted_labels", "class_prior"] {
        assert_eq!(c[control]["verdict"], "drops", "{control}: {}", c[control]);
    }
    assert_eq!(
        c["counterfactual_teacher"]["verdict"], "does-not-drop",
        "{}",
        c["counterfactual_teacher"]
    );
    assert!(
        flag_codes(&report).contains(&"does-not-use-teacher".to_owned()),
        "{table}"
    );
    assert!(table.contains("counterfactual teacher"), "{table}");
    println!("{table}");
}
