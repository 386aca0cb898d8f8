"""Minibatches, subsets and k-fold splits of pool indices: the Rust SDK's
``batches``, ``subset`` and ``k_fold`` (``guest-sdk/src/batch.rs``,
``folds.rs``). Pure Python: no host calls."""

from typing import Iterator, List, Sequence, Tuple


def batches(order: Sequence[int], batch: int) -> Iterator[Sequence[int]]:
    """Consecutive batches of ``batch`` indices from ``order``; the last one
    holds the remainder and may be shorter. Raises ``ValueError`` when
    ``batch`` is not positive."""
    if batch <= 0:
        raise ValueError("batch size must be positive")
    for start in range(0, len(order), batch):
        yield order[start : start + batch]


def k_fold(indices: Sequence[int], k: int, fold: int) -> Tuple[List[int], List[int]]:
    """The ``fold``-th of ``k`` contiguous folds of ``indices``:
    ``(train, held_out)``. Fold sizes differ by at most one; ``k`` is clamped
    to ``1..=len(indices)`` and ``fold`` taken modulo ``k``. Shuffle
    ``indices`` first (with ``Rng``) for random folds."""
    n = len(indices)
    k = min(max(k, 1), max(n, 1))
    fold %= k
    start = fold * n // k
    end = (fold + 1) * n // k
    held = list(indices[start:end])
    train = list(indices[:start]) + list(indices[end:])
    return train, held


def subset(indices: Sequence[int], keep: Sequence[bool]) -> List[int]:
    """The indices whose ``keep`` flag is true (a shorter ``keep`` drops the
    rest)."""
    return [i for i, k in zip(indices, keep) if k]
