"""The component's export: ``run`` of the ``strategy`` world.

componentize-py looks for a class ``WitWorld`` in the app module. ``w2s
guest build`` generates that module, which calls ``make_world`` with the
strategy's own ``run(config: str) -> Student``; so a strategy file is plain
Python and never touches the bindings."""

import sys
import traceback
from typing import Callable

from componentize_py_types import Err

from .student import Student


def make_world(run: Callable[[str], Student]) -> type:
    """The ``WitWorld`` class exporting ``run``.

    An exception escaping ``run`` becomes the ``err`` of the export, which
    the host reports as the outcome ``guest-error`` with the text
    ``"<ExceptionType>: <message>"``; its traceback goes to stderr, which
    the report keeps (bounded). A ``run`` that returns something other
    than a ``Student`` is a guest error too."""

    class WitWorld:
        def run(self, config: str):
            try:
                student = run(config)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                traceback.print_exc(file=sys.stderr)
                raise Err(f"{type(e).__name__}: {e}") from None
            if not isinstance(student, Student):
                raise Err(f"run returned {type(student).__name__}, not a Student")
            return student.into_handle()

    return WitWorld
