"""The error a training primitive raises when the host refuses a call: the
WIT ``error`` record (a code and a short, fixed message), as the Rust SDK's
``Error`` (``guest-sdk/src/error.rs``)."""

from enum import Enum


class ErrorCode(Enum):
    """The class of an expected failure, named as in the WIT contract."""

    INVALID_ARGUMENT = "invalid-argument"
    """An argument is out of range or of the wrong length."""
    NOT_ALLOWED = "not-allowed"
    """The task's policy does not allow this (an architecture, a size)."""
    WRONG_HANDLE = "wrong-handle"
    """A handle was used with something it does not belong to."""

    def __str__(self) -> str:
        return self.value


class Error(Exception):
    """Why a primitive refused a call. ``str(error)`` is
    ``"<code>: <message>"``, as in Rust."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
