//! The evaluation service on SQLite (the suite is tests/all/service_suite.rs).

use crate::service_suite;

#[test]
fn sqlite_happy_path() {
    service_suite::happy_path(None);
}

#[test]
fn sqlite_errors_are_answered_not_panicked() {
    service_suite::errors(None);
}

#[test]
fn sqlite_kill9_mid_run_completes_exactly_once() {
    service_suite::kill9(None);
}

#[test]
fn sqlite_two_workers_race() {
    service_suite::two_workers(None, 3);
}

#[test]
fn openapi_lists_every_route() {
    let doc: serde_json::Value = serde_json::from_str(w2s_service::OPENAPI).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in w2s_service::ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is missing from service/openapi.json"
        );
    }
    let documented = doc["paths"].as_object().unwrap().len();
    let paths: std::collections::BTreeSet<_> = w2s_service::ROUTES.iter().map(|(_, p)| p).collect();
    assert_eq!(
        documented,
        paths.len(),
        "openapi.json documents a route the server lacks"
    );
}
