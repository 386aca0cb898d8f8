"""Parsing a strategy's config string: ``key=value`` pairs separated by
commas, for example ``epochs=10,lr=3e-4``. The Python twin of the Rust
SDK's ``Config`` (``guest-sdk/src/config.rs``): the same grammar, the same
refusals, the same messages.

A strategy takes the keys it knows with ``Config.take`` or
``Config.take_or``, giving each a parser (``u32``, ``usize``, ``f32``,
``f64``, ``string``, ``boolean``), then calls ``Config.finish``, which
refuses any key left over: a typo never silently falls back to a default.
Pure Python: no host calls.
"""

import re
from typing import Callable, List, Optional, Tuple, TypeVar

from .f32math import f32 as _round_f32

T = TypeVar("T")

_INT = re.compile(r"\+?[0-9]+\Z")
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\Z",
    re.IGNORECASE,
)


def _quoted(s: str) -> str:
    """A string quoted as Rust's ``{:?}`` does for plain text."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ConfigError(ValueError):
    """Why a config string was refused. ``kind`` is one of ``malformed``,
    ``duplicate-key``, ``invalid-value``, ``unknown-keys``; ``key`` the key
    concerned (the segment for ``malformed``, the comma-joined keys for
    ``unknown-keys``)."""

    def __init__(self, kind: str, key: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key


def _unsigned(bits: int) -> Callable[[str], int]:
    limit = 1 << bits

    def parse(value: str) -> int:
        if not value:
            raise ValueError("cannot parse integer from empty string")
        if not _INT.match(value):
            raise ValueError("invalid digit found in string")
        n = int(value)
        if n >= limit:
            raise ValueError("number too large to fit in target type")
        return n

    parse.__name__ = f"u{bits}"
    return parse


u32 = _unsigned(32)
"""Parser of an unsigned 32-bit integer (Rust's ``u32``)."""
u64 = _unsigned(64)
"""Parser of an unsigned 64-bit integer (Rust's ``u64``)."""
usize = u32
"""Parser of a count (Rust's ``usize`` on wasm32: 32 bits)."""


def f64(value: str) -> float:
    """Parser of a float (Rust's ``f64`` grammar: no ``_`` separators)."""
    if not _FLOAT.match(value):
        raise ValueError("invalid float literal")
    return float(value)


def f32(value: str) -> float:
    """Parser of a float rounded to f32 (Rust's ``f32``; the decimal goes
    through f64 first, which differs from a direct parse only for decimals
    within 2**-54 relative of an f32 rounding boundary)."""
    return _round_f32(f64(value))


def string(value: str) -> str:
    """The value as given."""
    return value


def boolean(value: str) -> bool:
    """``true`` or ``false`` (Rust's ``bool``)."""
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValueError("provided string was not `true` or `false`")


class Config:
    """A parsed config string: the entries not yet taken."""

    def __init__(self, entries: List[Tuple[str, str]]) -> None:
        self._entries = entries

    @classmethod
    def parse(cls, config: str) -> "Config":
        """Parses ``key=value,key=value``. Whitespace around keys and values
        is ignored, and so are empty segments; values may contain ``=``."""
        entries: List[Tuple[str, str]] = []
        for segment in config.split(","):
            if not segment.strip():
                continue
            if "=" not in segment:
                raise ConfigError(
                    "malformed",
                    segment.strip(),
                    f"config entry {_quoted(segment.strip())} is not key=value",
                )
            key, value = segment.split("=", 1)
            key, value = key.strip(), value.strip()
            if not key:
                raise ConfigError(
                    "malformed",
                    segment.strip(),
                    f"config entry {_quoted(segment.strip())} is not key=value",
                )
            if any(k == key for k, _ in entries):
                raise ConfigError("duplicate-key", key, f"config key {_quoted(key)} given twice")
            entries.append((key, value))
        return cls(entries)

    def take(self, key: str, parser: Callable[[str], T]) -> Optional[T]:
        """Removes ``key`` and parses its value; ``None`` when not given."""
        for pos, (k, value) in enumerate(self._entries):
            if k == key:
                del self._entries[pos]
                try:
                    return parser(value)
                except ValueError as e:
                    raise ConfigError(
                        "invalid-value",
                        key,
                        f"config key {_quoted(key)}: invalid value {_quoted(value)}: {e}",
                    ) from None
        return None

    def take_or(self, key: str, default: T, parser: Callable[[str], T]) -> T:
        """Like ``take``, with ``default`` when the key was not given."""
        value = self.take(key, parser)
        return default if value is None else value

    def is_empty(self) -> bool:
        """Whether no entries are left."""
        return not self._entries

    def remaining(self) -> List[Tuple[str, str]]:
        """The entries not yet taken, in the order given."""
        return list(self._entries)

    def finish(self) -> None:
        """Succeeds when every entry was taken; otherwise raises
        ``ConfigError`` naming the unknown keys."""
        if self._entries:
            keys = [k for k, _ in self._entries]
            raise ConfigError("unknown-keys", ",".join(keys), "unknown config keys: " + ", ".join(keys))
