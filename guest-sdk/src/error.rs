//! The error a training primitive returns when it refuses a call.

use std::fmt;

use crate::bindings::w2s::strategy::types as wit;

/// The class of an expected failure, as the host reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An argument is out of range or of the wrong length.
    InvalidArgument,
    /// The task's policy does not allow this (an architecture, a size).
    NotAllowed,
    /// A handle was used with something it does not belong to (for example
    /// an optimizer already bound to another student).
    WrongHandle,
}

impl ErrorCode {
    /// The code's name in the WIT contract (`invalid-argument`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid-argument",
            Self::NotAllowed => "not-allowed",
            Self::WrongHandle => "wrong-handle",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a primitive refused a call: the WIT `error` record (a code and a
/// short, fixed message). The SDK also uses it, with
/// [`ErrorCode::InvalidArgument`], when the host answers with a shape the
/// contract rules out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: String,
}

impl Error {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The class of the failure.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The host's short explanation.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<wit::ErrorCode> for ErrorCode {
    fn from(code: wit::ErrorCode) -> Self {
        match code {
            wit::ErrorCode::InvalidArgument => Self::InvalidArgument,
            wit::ErrorCode::NotAllowed => Self::NotAllowed,
            wit::ErrorCode::WrongHandle => Self::WrongHandle,
        }
    }
}

impl From<wit::Error> for Error {
    fn from(error: wit::Error) -> Self {
        Self {
            code: error.code.into(),
            message: error.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_wit_code() {
        let e = Error::new(ErrorCode::NotAllowed, "architecture not allowed");
        assert_eq!(e.to_string(), "not-allowed: architecture not allowed");
    }

    #[test]
    fn converts_from_the_wit_record() {
        let e: Error = wit::Error {
            code: wit::ErrorCode::WrongHandle,
            message: "optimizer bound to another student".into(),
        }
        .into();
        assert_eq!(e.code(), ErrorCode::WrongHandle);
        assert_eq!(e.message(), "optimizer bound to another student");
    }
}
