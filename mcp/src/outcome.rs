//! What an evaluation tells an agent: the coarse public feedback, and
//! whether it is a success or a tool error with the typed outcome code.

use serde_json::{Value, json};

/// An evaluation's answer to the agent.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The report's `feedback` section (public PGR rounded to 0.01, its
    /// interval, outcome codes, flags; nothing else).
    pub feedback: Value,
    /// The sandbox's one-line refusal of the component, if it refused it.
    pub refusal: Option<String>,
    /// The component's sha256.
    pub wasm_sha256: String,
    /// The task's hash.
    pub task: String,
    /// The submission's id, in remote mode (for `status` and `report`).
    pub submission_id: Option<String>,
}

impl Evaluated {
    /// The outcome code that makes this evaluation a tool error: the first
    /// run's outcome that is not `completed`, or `None` when all completed.
    pub fn failure_code(&self) -> Option<String> {
        self.feedback
            .get("outcomes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|code| *code != "completed")
            .map(str::to_owned)
    }

    /// The JSON the tool returns.
    pub fn to_json(&self) -> Value {
        json!({
            "feedback": self.feedback,
            "refusal": self.refusal,
            "wasm_sha256": self.wasm_sha256,
            "task_hash": self.task,
            "submission_id": self.submission_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failed_outcome_is_the_code() {
        let e = Evaluated {
            feedback: json!({"outcomes": ["completed", "fuel-exhausted", "trap"]}),
            refusal: None,
            wasm_sha256: String::new(),
            task: String::new(),
            submission_id: None,
        };
        assert_eq!(e.failure_code().as_deref(), Some("fuel-exhausted"));
        let ok = Evaluated {
            feedback: json!({"outcomes": ["completed"]}),
            ..e
        };
        assert_eq!(ok.failure_code(), None);
    }
}
