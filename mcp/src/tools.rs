//! The tools: their names, descriptions and argument types (the input
//! schemas are derived from the types, so they cannot drift from what the
//! server parses).

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// `new_strategy`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStrategyArgs {
    /// The project's name: its directory, and the crate or Python module
    /// name (lowercase ASCII letters, digits, '-' and '_'; starts with a
    /// letter).
    pub name: String,
    /// The directory to create the project in [default: the server's
    /// working directory].
    #[serde(default)]
    pub parent: Option<String>,
    /// `rust` (a crate using the guest SDK) or `python` (a file built with
    /// componentize-py) [default: rust].
    #[serde(default)]
    pub lang: Option<String>,
    /// Start from this method's sources (a `plugin` of list_methods, of the
    /// same language) instead of the built-in template.
    #[serde(default)]
    pub from: Option<String>,
}

/// `build_strategy`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildStrategyArgs {
    /// The project directory (as new_strategy returned it).
    pub path: String,
}

/// `evaluate` and `submit`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateArgs {
    /// The component to evaluate (the `wasm` that build_strategy returned).
    pub wasm: String,
    /// The task's name [default: `default`].
    #[serde(default)]
    pub task: Option<String>,
    /// The config string passed to the strategy's `run` (`key=value,...`)
    /// [default: empty].
    #[serde(default)]
    pub config: Option<String>,
}

/// `status` and `report`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionArgs {
    /// The submission's id (as submit returned it).
    pub id: String,
}

/// `leaderboard` and `task_card`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskArgs {
    /// The task's name [default: `default`].
    #[serde(default)]
    pub task: Option<String>,
}

/// `list_methods`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMethodsArgs {
    /// Only methods in this language (`rust` or `python`) [default: all].
    #[serde(default)]
    pub lang: Option<String>,
}

/// `explain_policy`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Parses a tool's arguments, naming the problem when they do not fit.
pub fn parse<T: DeserializeOwned>(tool: &str, args: Option<JsonObject>) -> Result<T> {
    let value = serde_json::Value::Object(args.unwrap_or_default());
    serde_json::from_value(value).map_err(|e| Error::InvalidArguments(format!("{tool}: {e}")))
}

fn tool<T: JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, Arc::new(JsonObject::new())).with_input_schema::<T>()
}

fn read_only(t: Tool) -> Tool {
    t.annotate(ToolAnnotations::new().read_only(true))
}

/// Every tool, in the order of the research loop.
pub fn all() -> Vec<Tool> {
    vec![
        read_only(tool::<ListMethodsArgs>(
            "list_methods",
            "List the weak-to-strong methods shipped with w2s (plugins/methods.toml): plugin \
             name, language, label, the paper or idea it comes from, and its benchmark config. \
             Any of them can seed new_strategy's `from`.",
        )),
        read_only(tool::<TaskArgs>(
            "task_card",
            "The public card of a task: its name, classes, feature dimension, split sizes, how it \
             was made, and its card fields when the bundle has them. Never its held-out data.",
        )),
        read_only(tool::<NoArgs>(
            "explain_policy",
            "What the sandbox policy in force grants and denies, in plain words: every \
             capability and every limit (fuel, wall clock, memory, compute budget in FLOPs, \
             train steps, allowed architectures), with the policy's sha256.",
        )),
        tool::<NewStrategyArgs>(
            "new_strategy",
            "Write a new strategy project (a Rust crate or a Python file, with a copy of the \
             guest SDK and the WIT contract) from the built-in template or from a listed \
             method. It builds offline as written. Returns its directory and the file to edit.",
        ),
        tool::<BuildStrategyArgs>(
            "build_strategy",
            "Build a project of new_strategy into a wasm32-wasip2 component (offline). \
             Returns the wasm's path, size and sha256; a compile error comes back as a tool \
             error `build_failed` with the compiler's last lines.",
        ),
        tool::<EvaluateArgs>(
            "evaluate",
            "Evaluate a component on a task under host-chosen seeds and return the coarse \
             public feedback only: public PGR (mean over seeds, rounded to 0.01) and its 95% \
             interval, each run's outcome code, flags, rankability. A run that does not \
             complete makes it a tool error led by the outcome code (e.g. `fuel-exhausted`, \
             `import-denied`, `guest-error`). Sends progress notifications while it runs.",
        ),
        tool::<EvaluateArgs>(
            "submit",
            "Submit a component to the evaluation server (remote mode) for ranking; returns \
             the submission id at once. Counts against the token's quota.",
        ),
        read_only(tool::<SubmissionArgs>(
            "status",
            "A submission's state (queued, running, done, failed), times and attempts; its \
             feedback once done.",
        )),
        read_only(tool::<SubmissionArgs>(
            "report",
            "The public parts of a done submission's report: the feedback, what was evaluated \
             (wasm and task hashes, policy sha256, config, versions) and rankability.",
        )),
        read_only(tool::<TaskArgs>(
            "leaderboard",
            "The server's leaderboard of a task: rank, submission, name and submitter; the \
             public PGR (rounded) only when the server ranks on the public split.",
        )),
    ]
}
