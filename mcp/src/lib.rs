//! Agents as first-class users of w2s: an MCP server (`w2s mcp`) and the
//! strategy templates of `w2s new`.
//!
//! # Design decisions
//!
//! - **The official SDK, server side only.** The protocol is `rmcp`'s
//!   (stdio, and streamable HTTP served by axum, already in the graph for
//!   the service); no client, no macros, no auth features. The tools are
//!   dispatched by hand ([`server`]) so that every failure, bad arguments
//!   included, is a *tool error* an agent reads, led by a stable code,
//!   rather than a protocol error its client may hide.
//! - **One door among others, with the same rules.** Local mode runs the
//!   evaluation library exactly as `w2s eval --feedback-only` does
//!   ([`local`]): host-chosen seeds from the evaluator's secret, the
//!   operator's policy, the scorer in its own process. Remote mode is a
//!   client of `w2s serve` with a submitter's token ([`remote`]): the
//!   service's quotas and seeds apply. Either way an agent gets the
//!   `feedback` section (public PGR rounded to 0.01, outcome codes, flags)
//!   and never a private figure, a student accuracy, a seed or held-out
//!   data; the report and the leaderboard are filtered to their public
//!   parts.
//! - **The server never runs guest code it did not get from the evaluator's
//!   sandbox**: builds run `cargo` or `w2s guest build` as child processes,
//!   offline; evaluations run in the sandbox of `w2s-eval`. This crate
//!   depends on neither the scorer nor anything that reads held-out data.
//! - **Templates ship in the binary** ([`scaffold`], embedded by
//!   `build.rs`): a generated project carries its own copy of the guest SDK
//!   and the WIT contract and builds offline.

mod build;
pub mod card;
mod embedded;
mod error;
mod http;
pub mod local;
pub mod methods;
pub mod outcome;
pub mod remote;
pub mod scaffold;
pub mod server;
pub mod tools;

use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

pub use build::{Built, build as build_strategy};
pub use error::{Error, Result};
pub use server::{Mode, W2sServer};

/// A runtime for the server (multi-threaded: evaluations run on its
/// blocking pool while the protocol keeps answering).
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime for", "w2s mcp", e))
}

/// Serves `server` on stdin/stdout until the client closes them.
pub fn serve_stdio(server: W2sServer) -> Result<()> {
    runtime()?.block_on(async move {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::Transport(format!("MCP initialization failed: {e}")))?;
        running
            .waiting()
            .await
            .map_err(|e| Error::Transport(format!("the MCP session ended abnormally: {e}")))?;
        Ok(())
    })
}

/// Serves `server` over streamable HTTP at `http://ADDR/mcp` until the
/// process is stopped; prints `listening on http://HOST:PORT/mcp` first.
pub fn serve_http(server: W2sServer, addr: &str) -> Result<()> {
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io("cannot listen on", addr, e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the address of", addr, e))?;
        let service = StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let router = axum::Router::new().nest_service("/mcp", service);
        println!("listening on http://{local}/mcp");
        axum::serve(listener, router)
            .await
            .map_err(|e| Error::io("the HTTP server failed on", addr, e))
    })
}
