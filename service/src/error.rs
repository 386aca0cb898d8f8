//! The service's one error type.

use std::path::PathBuf;

/// What can go wrong outside a request (start-up, database, workers).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `--db` URL is neither `sqlite://…` nor `postgres://…`.
    #[error("unsupported database URL {url:?}: expected sqlite://PATH or postgres://…")]
    DbUrl {
        /// The URL as given.
        url: String,
    },
    /// A database operation failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Applying the migrations failed.
    #[error("database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file or socket operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path or address involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An argument was invalid.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An [`Error::Io`] naming what failed and where.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
