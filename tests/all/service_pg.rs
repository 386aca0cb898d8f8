//! The same service suite against a real PostgreSQL server, whose URL is in
//! `W2S_TEST_POSTGRES_URL` (`scripts/with-postgres.sh` starts a throwaway
//! one; `scripts/test.sh` runs the tests under it). Without it the tests
//! fail in CI (`CI=true`) and are skipped, saying so, elsewhere.
//!
//! Each test creates a database of its own on that server, so that no
//! worker of one test claims another test's jobs.

use sqlx::Connection;

use crate::service_suite;

/// Creates a fresh database on the server at `url` and returns its URL.
fn fresh_database(url: &str) -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let name = format!("w2s_test_{}", hex::encode(bytes));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .expect("connect to W2S_TEST_POSTGRES_URL");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _db) = base.rsplit_once('/').expect("a postgres://HOST/DB URL");
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// A fresh database's URL, or `None` (skip) outside CI.
fn postgres() -> Option<String> {
    match std::env::var("W2S_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(fresh_database(&url)),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "W2S_TEST_POSTGRES_URL is unset in CI: run the tests under scripts/with-postgres.sh"
            );
            eprintln!("skipped: W2S_TEST_POSTGRES_URL is unset (scripts/with-postgres.sh sets it)");
            None
        }
    }
}

#[test]
fn postgres_happy_path() {
    if let Some(url) = postgres() {
        service_suite::happy_path(Some(&url));
    }
}

#[test]
fn postgres_errors_are_answered_not_panicked() {
    if let Some(url) = postgres() {
        service_suite::errors(Some(&url));
    }
}

#[test]
fn postgres_kill9_mid_run_completes_exactly_once() {
    if let Some(url) = postgres() {
        service_suite::kill9(Some(&url));
    }
}

#[test]
fn postgres_two_workers_race() {
    if let Some(url) = postgres() {
        service_suite::two_workers(Some(&url), 4);
    }
}
