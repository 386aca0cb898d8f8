//! The WIT contract grows only by addition: `wit/history/w2s-0.1.0.wit`
//! is the contract as guests built against `w2s:strategy@0.1.0` saw it,
//! and `wit/w2s.wit` with the items added since removed (the `lm`
//! interface and the `lm-strategy` world, each with its doc comment) must
//! be that file byte for byte. So every interface, type and function a
//! 0.1.0 guest can import is unchanged, docs included; and the host links
//! the world `lm-strategy`, which `include`s `strategy` unchanged, so old
//! components instantiate (every `.wat` fixture under `tests/fixtures` is
//! such a component, and the hostile-module tests run them).

use crate::helpers::repo;

/// Removes the top-level item whose first line is `header`, with the doc
/// comment lines just above it and the blank line after it.
fn remove_item(text: &str, header: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == header)
        .unwrap_or_else(|| panic!("no `{header}` in wit/w2s.wit"));
    let end = start
        + lines[start..]
            .iter()
            .position(|l| *l == "}")
            .expect("the item closes at column 0");
    let mut first = start;
    while first > 0 && lines[first - 1].starts_with("///") {
        first -= 1;
    }
    let mut last = end + 1;
    if lines.get(last) == Some(&"") {
        last += 1;
    }
    let mut kept: Vec<&str> = lines[..first].to_vec();
    kept.extend_from_slice(&lines[last..]);
    let mut out = kept.join("\n");
    out.push('\n');
    out
}

#[test]
fn the_wit_contract_only_grew_since_0_1_0() {
    let root = repo();
    let old = std::fs::read_to_string(root.join("wit/history/w2s-0.1.0.wit")).unwrap();
    let new = std::fs::read_to_string(root.join("wit/w2s.wit")).unwrap();
    assert!(new.contains("package w2s:strategy@0.1.0;"));
    let stripped = remove_item(&remove_item(&new, "interface lm {"), "world lm-strategy {");
    let stripped = stripped.trim_end().to_owned() + "\n";
    if stripped != old {
        let first = old
            .lines()
            .zip(stripped.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(old.lines().count().min(stripped.lines().count()));
        panic!(
            "wit/w2s.wit changed an item of 0.1.0 (first difference at line {}): add new items instead",
            first + 1
        );
    }
    // The host links the superset world, which includes `strategy` whole.
    assert!(new.contains("world lm-strategy {\n    include strategy;\n    import lm;\n}"));
}
