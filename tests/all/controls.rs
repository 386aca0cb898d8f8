//! Teacher-ablation controls and degeneracy checks: a guest that ignores
//! its teacher and plays the class prior is flagged; vanilla is not.

use crate::helpers::{eval_default, flag_codes};

#[test]
fn a_guest_that_plays_the_class_prior_is_flagged() {
    let (report, table) = eval_default("prior_only", &["--seeds", "2", "--controls"]);
    let c = &report["controls"];
    assert_eq!(c["does_not_use_teacher"], true, "{c}");
    for control in ["permuted_labels", "class_prior"] {
        assert_eq!(
            c[control]["verdict"], "does-not-drop",
            "{control}: {}",
            c[control]
        );
        assert_eq!(c[control]["runs"].as_array().unwrap().len(), 2);
        // The prior is the same under either control: PGR does not move.
        assert!(
            c[control]["drop"].as_f64().unwrap().abs() < 0.05,
            "{}",
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
    for control in ["permuted_labels", "class_prior"] {
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
