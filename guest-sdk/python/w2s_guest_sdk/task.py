"""The public view of the task: what the weak teacher says about an
unlabeled pool of examples (the Rust SDK's ``task`` module). Free
functions, because a guest runs exactly one task."""

from typing import List, Sequence

from wit_world.imports import task as _wit

from ._host import call
from .arch import ArchFamily, ArchLimit
from .matrix import Matrix

CHUNK = 4096
"""Pool indices per host call in ``weak_probs_chunked`` (far below the
policy's default ``max-indices-per-call``)."""


def name() -> str:
    """The task's name, from its bundle."""
    return _wit.name()


def seed() -> int:
    """The seed the host chose for this run. Derive every random choice from
    it (see ``Rng``): the run is then reproducible."""
    return _wit.seed()


def num_classes() -> int:
    """Number of classes."""
    return _wit.num_classes()


def pool_size() -> int:
    """Number of examples in the unlabeled training pool."""
    return _wit.pool_size()


def pool_indices() -> List[int]:
    """Every pool index, in order: ``0 .. pool_size() - 1``."""
    return list(range(_wit.pool_size()))


def feature_dim() -> int:
    """Width of the strong features (the input of a student head)."""
    return _wit.feature_dim()


def weak_labels(indices: Sequence[int]) -> List[float]:
    """The weak teacher's class probabilities for ``indices``, row-major."""
    return call(_wit.weak_labels, list(indices))


def weak_probs(indices: Sequence[int]) -> Matrix:
    """``weak_labels`` as a matrix with one row per index."""
    return Matrix(weak_labels(indices), num_classes())


def weak_probs_chunked(indices: Sequence[int]) -> Matrix:
    """``weak_probs`` for any number of indices, in calls of at most
    ``CHUNK`` indices: one row per index, in order."""
    values: List[float] = []
    for start in range(0, len(indices), CHUNK):
        values.extend(weak_labels(indices[start : start + CHUNK]))
    return Matrix(values, num_classes())


def allowed_architectures() -> List[ArchLimit]:
    """The student architectures this run may build."""
    families = {0: ArchFamily.LINEAR, 1: ArchFamily.MLP}
    return [
        ArchLimit(families[limit.family.value], limit.max_hidden)
        for limit in _wit.allowed_architectures()
    ]
