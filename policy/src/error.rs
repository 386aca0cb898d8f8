//! [`PolicyError`]: why a policy file was refused. Every message is one
//! line and names the field (or fields) at fault.

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not valid TOML, or does not fit the v1 schema (an unknown
    /// field, a wrong type, a missing or unsupported `version`).
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column (in characters) of the problem.
        column: usize,
        /// What is wrong, from the TOML parser, on one line.
        message: String,
    },
    /// A number is below its minimum or above its hard cap.
    #[error("`{field}` = {value} is {relation} {bound}: {reason}")]
    OutOfRange {
        /// The field, as `section.key`.
        field: &'static str,
        /// The value in the file.
        value: u64,
        /// `below the minimum of` or `above the hard cap of`.
        relation: &'static str,
        /// The bound.
        bound: u64,
        /// Why the bound exists.
        reason: &'static str,
    },
    /// Two fields contradict each other.
    #[error("`{field}` conflicts with `{other}`: {reason}")]
    Conflict {
        /// The field that cannot hold.
        field: &'static str,
        /// The field (and value) it contradicts.
        other: String,
        /// Why they cannot both hold.
        reason: String,
    },
    /// A value that is wrong on its own (an unknown interface, a duplicate).
    #[error("`{field}`: {reason}")]
    Invalid {
        /// The field, as `section.key` (with an index for list items).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl PolicyError {
    /// The error for a TOML parse failure, located in `text`.
    pub(crate) fn syntax(err: &toml::de::Error, text: &str) -> Self {
        let (line, column) = match err.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                (line, column)
            }
            None => (1, 1),
        };
        let message = err
            .message()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        PolicyError::Syntax {
            line,
            column,
            message,
        }
    }
}
