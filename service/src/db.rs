//! Connecting to SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! One code path serves both backends: every query uses `$N` placeholders
//! (SQLite accepts them) and portable SQL, and the one difference, how a job
//! is claimed, is a suffix chosen by [`Backend`] (src/store/jobs.rs). The
//! `Any` driver costs little here because the schema keeps to the types it
//! maps on both sides (TEXT, BIGINT, DOUBLE PRECISION, bytes).

use std::str::FromStr;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, ConnectOptions};

use crate::Error;

/// The migrations in `service/migrations/`, embedded at build time by hand
/// rather than by `sqlx::migrate!`, whose proc-macro would build both
/// database drivers (bundled SQLite's C included) a second time.
#[derive(Debug)]
struct Migrations;

/// `(version, description, SQL)` of every migration, in order.
const MIGRATIONS: [(i64, &str, &str); 1] =
    [(1, "init", include_str!("../migrations/0001_init.sql"))];

impl MigrationSource<'static> for Migrations {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(*v, (*d).into(), MigrationType::Simple, (*sql).into(), false)
                })
                .collect())
        })
    }
}

/// Which database the `Any` pool talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// One file, WAL mode: one machine.
    Sqlite,
    /// A server: many machines.
    Postgres,
}

/// A connection pool and the backend behind it.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    /// The pool.
    pub(crate) pool: AnyPool,
    /// The backend.
    pub(crate) backend: Backend,
}

impl Db {
    /// Connects to `url` (`sqlite://PATH`, created when missing, or
    /// `postgres://…`) and applies the migrations.
    pub(crate) async fn connect(url: &str) -> Result<Db, Error> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let file = std::path::Path::new(path.split('?').next().unwrap_or(path));
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io("cannot create the directory", parent, e))?;
            }
            // mode=rwc: create the file when missing.
            let sep = if path.contains('?') { '&' } else { '?' };
            (Backend::Sqlite, format!("sqlite://{path}{sep}mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(Error::DbUrl {
                url: url.to_owned(),
            });
        };
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let max = match backend {
            // Writers queue on SQLite's one write lock anyway.
            Backend::Sqlite => 4,
            Backend::Postgres => 8,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Wait for the write lock rather than fail with SQLITE_BUSY.
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        // FULL: a commit is on disk before it returns (the 201 promise).
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            // Persistent in the file: readers never block the writer.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        Migrator::new(Migrations).await?.run(&pool).await?;
        Ok(Db { pool, backend })
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn every_migration_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
            .collect();
        assert_eq!(
            files, embedded,
            "service/migrations/ and db.rs MIGRATIONS differ"
        );
    }
}
