"""Exact single-precision arithmetic in Python.

Python floats are f64. The host's values are f32, and a Rust strategy
computes its targets in f32, so a Python strategy that must give the same
student bit for bit rounds to f32 after every operation, as Rust does.
Rounding the exact f64 result of one ``+``, ``-``, ``*`` or ``/`` of two f32
values to f32 gives the correctly rounded f32 result: f64's 53 bits are more
than ``2 * 24 + 2``, so the double rounding is innocuous (Figueroa, "When is
double rounding innocuous?", 1995). Pure Python: no host calls.
"""

import math
import struct

_F32 = struct.Struct("<f")


def f32(x: float) -> float:
    """``x`` rounded to the nearest f32 (ties to even), as Rust's ``as f32``.
    Values beyond the f32 range become infinities, NaN stays NaN."""
    try:
        return _F32.unpack(_F32.pack(x))[0]
    except OverflowError:
        return float("inf") if x > 0 else float("-inf")


def add(a: float, b: float) -> float:
    """f32 ``a + b``."""
    return f32(a + b)


def sub(a: float, b: float) -> float:
    """f32 ``a - b``."""
    return f32(a - b)


def mul(a: float, b: float) -> float:
    """f32 ``a * b``."""
    return f32(a * b)


def div(a: float, b: float) -> float:
    """f32 ``a / b``, IEEE on a zero divisor (an infinity, or NaN for 0/0)
    where Python would raise."""
    if b == 0.0:
        if a != a or a == 0.0:
            return float("nan")
        negative = (math.copysign(1.0, a) < 0) != (math.copysign(1.0, b) < 0)
        return float("-inf") if negative else float("inf")
    return f32(a / b)
