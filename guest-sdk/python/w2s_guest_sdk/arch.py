"""Student architectures and the limits a task's policy puts on them (the
Rust SDK's ``Arch``, ``ArchFamily``, ``ArchLimit``, ``largest_allowed``).
Pure Python, except the conversions to and from the bindings' types."""

from dataclasses import dataclass
from enum import Enum
from typing import Optional, Sequence


class ArchFamily(Enum):
    """Architecture families, without their sizes."""

    LINEAR = "linear"
    MLP = "mlp"


@dataclass(frozen=True)
class Arch:
    """A student head over the task's frozen strong features: a linear probe
    (``Arch.linear()``, hidden 0) or a two-layer perceptron of the given
    hidden width (``Arch.mlp(h)``)."""

    family: ArchFamily
    hidden: int = 0

    @classmethod
    def linear(cls) -> "Arch":
        """A linear probe: features -> classes."""
        return cls(ArchFamily.LINEAR, 0)

    @classmethod
    def mlp(cls, hidden: int) -> "Arch":
        """features -> hidden (ReLU) -> classes."""
        return cls(ArchFamily.MLP, hidden)

    def is_allowed(self, limits: Sequence["ArchLimit"]) -> bool:
        """Whether one of ``limits`` allows this architecture."""
        return any(limit.allows(self) for limit in limits)

    def within(self, limits: Sequence["ArchLimit"]) -> Optional["Arch"]:
        """This architecture if ``limits`` allow it, else the largest allowed
        one (``largest_allowed``); ``None`` when nothing is allowed."""
        return self if self.is_allowed(limits) else largest_allowed(limits)

    def to_wit(self):
        """The bindings' ``types.Arch`` value."""
        from wit_world.imports import types

        if self.family is ArchFamily.LINEAR:
            return types.Arch_Linear()
        return types.Arch_Mlp(types.Mlp(self.hidden))

    @classmethod
    def from_wit(cls, arch) -> "Arch":
        """From the bindings' ``types.Arch`` value."""
        from wit_world.imports import types

        if isinstance(arch, types.Arch_Mlp):
            return cls.mlp(arch.value.hidden)
        return cls.linear()


@dataclass(frozen=True)
class ArchLimit:
    """One architecture family the task allows, with its size bound."""

    family: ArchFamily
    max_hidden: int

    def allows(self, arch: Arch) -> bool:
        """Whether this limit allows ``arch``."""
        if self.family is ArchFamily.LINEAR:
            return arch.family is ArchFamily.LINEAR
        return arch.family is ArchFamily.MLP and 0 < arch.hidden <= self.max_hidden

    def largest(self) -> Optional[Arch]:
        """The largest architecture this limit allows, if any."""
        if self.family is ArchFamily.LINEAR:
            return Arch.linear()
        return Arch.mlp(self.max_hidden) if self.max_hidden > 0 else None


def largest_allowed(limits: Sequence[ArchLimit]) -> Optional[Arch]:
    """The widest allowed MLP, else a linear probe; ``None`` when ``limits``
    allow nothing. (The first of equals wins, as Rust's ``max_by_key`` keeps
    the last: equal architectures are equal, so it does not matter.)"""
    best: Optional[Arch] = None
    for limit in limits:
        arch = limit.largest()
        if arch is None:
            continue
        if best is None or _size(arch) >= _size(best):
            best = arch
    return best


def _size(arch: Arch) -> int:
    return 0 if arch.family is ArchFamily.LINEAR else arch.hidden + 1
