//! The MCP server: the tool list, and the dispatch of a call to the local
//! evaluator or to the remote service.
//!
//! A tool that fails answers a tool error (`isError: true`) whose text
//! starts with a stable code (`invalid_arguments`, `unknown_task`,
//! `build_failed`, an outcome code such as `fuel-exhausted`, a service code
//! such as `quota_exceeded`), and whose structured content is
//! `{"error": {"code", "message"}, ...}`. A name that is no tool is a
//! protocol error (JSON-RPC -32602), as the MCP specification asks. Either
//! way the server keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::local::{LocalConfig, Step};
use crate::methods::{self, Lang};
use crate::outcome::Evaluated;
use crate::remote::Remote;
use crate::tools::{self, parse};
use crate::{build, card, scaffold};

/// Where evaluations happen.
#[derive(Debug, Clone)]
pub enum Mode {
    /// In this process's evaluator.
    Local(LocalConfig),
    /// On a `w2s serve`, as one submitter.
    Remote(Remote),
}

/// The w2s MCP server (cheap to clone: one per HTTP session).
#[derive(Debug, Clone)]
pub struct W2sServer {
    mode: Arc<Mode>,
    /// The `w2s` executable (Python builds, the evaluator's children).
    w2s: PathBuf,
}

const INSTRUCTIONS: &str = "w2s evaluates weak-to-strong training strategies compiled to \
WebAssembly. The loop: list_methods and task_card to orient, explain_policy for the limits, \
new_strategy to start a project, edit its strategy file, build_strategy, evaluate for coarse \
public feedback (public PGR rounded to 0.01), iterate; submit to rank on the private split \
(remote mode). Seeds are chosen by the host; held-out data and private figures are never shown.";

impl W2sServer {
    /// A server in `mode`; `w2s` is the `w2s` executable.
    pub fn new(mode: Mode, w2s: PathBuf) -> Self {
        Self {
            mode: Arc::new(mode),
            w2s,
        }
    }

    async fn dispatch(
        &self,
        call: CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Value> {
        let args = call.arguments;
        let name = call.name.as_ref();
        match name {
            "list_methods" => {
                let a: tools::ListMethodsArgs = parse(name, args)?;
                let lang = a.lang.as_deref().map(parse_lang).transpose()?;
                let list: Vec<Value> = methods::all()
                    .into_iter()
                    .filter(|m| lang.is_none_or(|l| m.lang() == l))
                    .map(|m| {
                        let files: Vec<&str> = m.sources().iter().map(|(p, _)| *p).collect();
                        json!({"plugin": m.plugin, "lang": m.lang(), "label": m.label,
                               "source": m.source, "config": m.config, "files": files})
                    })
                    .collect();
                Ok(json!({ "methods": list }))
            }
            "task_card" => {
                let a: tools::TaskArgs = parse(name, args)?;
                let task = a.task.unwrap_or_else(|| "default".into());
                match &*self.mode {
                    Mode::Local(cfg) => {
                        let exe = w2s_eval::Executable::at(&self.w2s);
                        let dir = blocking(cfg.clone(), move |cfg| {
                            cfg.task_dir(&task, &exe).map(|d| (task, d))
                        })
                        .await?;
                        card::task_card(&dir.0, &dir.1)
                    }
                    Mode::Remote(remote) => remote.task(&task).await,
                }
            }
            "explain_policy" => {
                let _: tools::NoArgs = parse(name, args)?;
                let path = match &*self.mode {
                    Mode::Local(cfg) => cfg.policy.clone(),
                    Mode::Remote(_) => None,
                };
                let info = w2s_eval::PolicyInfo::effective(path.as_deref())?;
                let explanation = w2s_policy::explain::Explanation::of(&info.effective);
                Ok(json!({
                    "source": match &*self.mode {
                        Mode::Local(_) => info.source,
                        Mode::Remote(_) => "the built-in default policy (what `w2s serve` workers run)".into(),
                    },
                    "sha256": info.sha256,
                    "text": explanation.to_text(),
                    "explanation": explanation,
                }))
            }
            "new_strategy" => {
                let a: tools::NewStrategyArgs = parse(name, args)?;
                let lang = a
                    .lang
                    .as_deref()
                    .map(parse_lang)
                    .transpose()?
                    .unwrap_or(Lang::Rust);
                let parent = PathBuf::from(a.parent.unwrap_or_else(|| ".".into()));
                if a.name.contains('/') || a.name.contains('\\') {
                    return Err(Error::InvalidArguments(
                        "name: a name, not a path (use `parent`)".into(),
                    ));
                }
                let project = scaffold::create(&parent.join(&a.name), lang, a.from.as_deref())?;
                Ok(serde_json::to_value(&project).expect("a project serializes"))
            }
            "build_strategy" => {
                let a: tools::BuildStrategyArgs = parse(name, args)?;
                let built = build::build(Path::new(&a.path), &self.w2s).await?;
                Ok(serde_json::to_value(&built).expect("a build serializes"))
            }
            "evaluate" => {
                let a: tools::EvaluateArgs = parse(name, args)?;
                let evaluated = self.evaluate(a, ctx).await?;
                match evaluated.failure_code() {
                    None => Ok(evaluated.to_json()),
                    Some(code) => Err(Error::Outcome {
                        code,
                        detail: evaluated.to_json(),
                    }),
                }
            }
            "submit" => {
                let a: tools::EvaluateArgs = parse(name, args)?;
                let remote = self.remote("submit")?;
                let wasm = PathBuf::from(&a.wasm);
                let stem = wasm
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("strategy")
                    .to_owned();
                remote
                    .submit(
                        &wasm,
                        &stem,
                        a.task.as_deref().unwrap_or("default"),
                        a.config.as_deref().unwrap_or(""),
                    )
                    .await
            }
            "status" => {
                let a: tools::SubmissionArgs = parse(name, args)?;
                self.remote("status")?.status(&a.id).await
            }
            "report" => {
                let a: tools::SubmissionArgs = parse(name, args)?;
                self.remote("report")?.report(&a.id).await
            }
            "leaderboard" => {
                let a: tools::TaskArgs = parse(name, args)?;
                self.remote("leaderboard")?
                    .leaderboard(a.task.as_deref().unwrap_or("default"))
                    .await
            }
            _ => unreachable!("call_tool checks the name first"),
        }
    }

    fn remote(&self, tool: &'static str) -> Result<&Remote> {
        match &*self.mode {
            Mode::Remote(r) => Ok(r),
            Mode::Local(_) => Err(Error::NeedsServer(tool)),
        }
    }

    /// Runs an evaluation, sending a progress notification per step when
    /// the client asked for them (a progress token in the request).
    async fn evaluate(
        &self,
        a: tools::EvaluateArgs,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Evaluated> {
        let task = a.task.unwrap_or_else(|| "default".into());
        let config = a.config.unwrap_or_default();
        let wasm = PathBuf::from(a.wasm);
        let token = ctx.meta.get_progress_token();
        let peer = ctx.peer.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Step>();
        let notifier = tokio::spawn(async move {
            while let Some((done, total, message)) = rx.recv().await {
                if let Some(token) = &token {
                    let param = ProgressNotificationParam::new(token.clone(), f64::from(done))
                        .with_total(f64::from(total))
                        .with_message(message);
                    // A client that went away does not stop the evaluation.
                    let _ = peer.notify_progress(param).await;
                }
            }
        });
        let result = match &*self.mode {
            Mode::Local(cfg) => {
                blocking(cfg.clone(), move |cfg| {
                    cfg.evaluate(&wasm, &task, &config, tx)
                })
                .await
            }
            Mode::Remote(remote) => {
                // Queued, running, done: three steps. The closure owns the
                // sender, so the notifier ends when the evaluation does.
                let mut step = 0;
                remote
                    .evaluate(&wasm, &task, &config, move |message| {
                        step += 1;
                        let _ = tx.send((step, 3, message.to_owned()));
                    })
                    .await
            }
        };
        let _ = notifier.await;
        result
    }
}

/// Runs `f` on the blocking pool (evaluations and task generation block).
async fn blocking<T: Send + 'static>(
    cfg: LocalConfig,
    f: impl FnOnce(LocalConfig) -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(move || f(cfg))
        .await
        .map_err(|e| Error::Transport(format!("an evaluation thread failed: {e}")))?
}

fn parse_lang(s: &str) -> Result<Lang> {
    s.parse().map_err(Error::InvalidArguments)
}

/// A failed tool's answer: the code first, then the message; the same as
/// structured content.
fn tool_error(err: &Error) -> CallToolResult {
    let code = err.code();
    let message = w2s_host::printable(&err.to_string());
    let mut structured = json!({"error": {"code": code, "message": message}});
    if let Error::Outcome { detail, .. } = err {
        structured["evaluation"] = detail.clone();
    }
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!("{code}: {message}"))]);
    result.structured_content = Some(structured);
    result
}

impl ServerHandler for W2sServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("w2s", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !tools::all().iter().any(|t| t.name == request.name) {
            let names: Vec<String> = tools::all().iter().map(|t| t.name.to_string()).collect();
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {:?}; the tools are: {}",
                    request.name,
                    names.join(", ")
                ),
                None,
            ));
        }
        let result = match self.dispatch(request, &context).await {
            Ok(value) => CallToolResult::structured(value),
            Err(err) => tool_error(&err),
        };
        Ok(CallToolResponse::Complete(result))
    }
}
