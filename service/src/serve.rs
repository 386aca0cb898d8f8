//! `w2s serve` and `w2s worker`: the runtime, the listener, the workers.

use std::io::Write;
use std::sync::Arc;

use crate::Error;
use crate::api::{self, AppState};
use crate::db::Db;
use crate::metrics::Metrics;
use crate::worker::{self, WorkerConfig};

/// How `w2s serve` runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// `sqlite://PATH` or `postgres://…`.
    pub db_url: String,
    /// Address to listen on (`HOST:PORT`; port 0 picks a free one).
    pub listen: String,
    /// Show only public-split figures (leaderboard, summaries, reports).
    pub competition: bool,
    /// Largest request body accepted; 413 above it.
    pub max_body_bytes: usize,
    /// The local workers (`workers = 0`: API only).
    pub worker: WorkerConfig,
}

/// A multi-threaded tokio runtime.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", "tokio", e))
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Runs the HTTP server and `config.worker.workers` local workers until
/// Ctrl-C or SIGTERM. Once listening it prints `listening on http://ADDR`
/// alone on one stdout line.
pub fn serve(config: ServeConfig) -> Result<(), Error> {
    runtime()?.block_on(async {
        let db = Db::connect(&config.db_url).await?;
        let metrics = Arc::new(Metrics::default());
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|e| Error::io("cannot listen on", &config.listen, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the address of", &config.listen, e))?;
        worker::spawn_workers(db.clone(), config.worker.clone(), metrics.clone()).await?;
        let state = AppState {
            db,
            metrics,
            tasks_dir: config.worker.tasks_dir.clone(),
            competition: config.competition,
        };
        let app = api::router(state, config.max_body_bytes);
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("cannot write to", "stdout", e))?;
        drop(out);
        axum::serve(listener, app)
            .with_graceful_shutdown(stop_signal())
            .await
            .map_err(|e| Error::io("serving on", addr.to_string(), e))
    })
}

/// Runs `config.workers` workers against `db_url`, no HTTP, until Ctrl-C
/// or SIGTERM.
pub fn work(db_url: &str, config: WorkerConfig) -> Result<(), Error> {
    runtime()?.block_on(async {
        let db = Db::connect(db_url).await?;
        worker::spawn_workers(db, config, Arc::new(Metrics::default())).await?;
        stop_signal().await;
        Ok(())
    })
}
