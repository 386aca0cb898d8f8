//! The evaluation library's example (`eval/examples/evaluate.rs`) runs,
//! and its report is `w2s eval`'s: the library is the engine, the binary
//! its argument parsing and printing.

use w2s_eval::replay::first_difference;

use crate::helpers::{default_task, eval_report, plugin, strip_volatile};

#[path = "../../eval/examples/evaluate.rs"]
#[allow(dead_code, unreachable_pub)] // the example's `main`, its `pub fn`
mod evaluate_example;

#[test]
fn the_library_example_gives_the_report_w2s_eval_gives() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let from_library = evaluate_example::evaluate(
        crate::helpers::w2s_exe(),
        &plugin("vanilla"),
        &default_task(),
        "epochs=10",
        vec![1, 2],
        &cache,
    )
    .unwrap();
    assert!(from_library.fully_scored());
    assert!(from_library.controls.is_some());
    let mut from_library = serde_json::to_value(&from_library).unwrap();
    let (mut from_binary, _) = eval_report(
        &plugin("vanilla"),
        &default_task(),
        dir.path(),
        "r.json",
        &[
            "--seed",
            "1",
            "--seed",
            "2",
            "--controls",
            "--config",
            "epochs=10",
        ],
    );
    strip_volatile(&mut from_library);
    strip_volatile(&mut from_binary);
    assert_eq!(first_difference(&from_binary, &from_library, 0.0), None);
}
