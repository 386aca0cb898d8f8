"""The one place that calls the generated bindings' fallible functions:
``call`` turns the bindings' ``Err(types.Error)`` into this SDK's ``Error``.

The bindings (package ``wit_world``) are generated from ``wit/w2s.wit`` by
componentize-py when the component is built; they exist only inside a
component."""

from componentize_py_types import Err

from .errors import Error, ErrorCode

_CODES = {0: ErrorCode.INVALID_ARGUMENT, 1: ErrorCode.NOT_ALLOWED, 2: ErrorCode.WRONG_HANDLE}


def to_error(err: Err) -> Error:
    """The SDK error for a binding's ``Err`` carrying the WIT record."""
    record = err.value
    return Error(_CODES[record.code.value], record.message)


def call(fn, *args):
    """``fn(*args)``, raising ``Error`` where the host returned one."""
    try:
        return fn(*args)
    except Err as e:
        raise to_error(e) from None
