"""A small row-major matrix of floats (class probabilities, hidden
representations, one-hot targets) and the label helpers: the Rust SDK's
``Matrix``, ``argmax`` and ``one_hot``. Pure Python: no host calls."""

from typing import Iterator, List, Sequence


def argmax(values: Sequence[float]) -> int:
    """The index of the largest value (the first one on ties; NaN never
    wins). 0 for an empty sequence."""
    best = -1
    best_value = 0.0
    for i, v in enumerate(values):
        if v == v and (best < 0 or v > best_value):
            best, best_value = i, v
    return max(best, 0)


def one_hot(label: int, k: int) -> List[float]:
    """A one-hot row: ``k`` values, 1.0 at ``label``. Raises ``ValueError``
    when ``label >= k``."""
    if not 0 <= label < k:
        raise ValueError(f"label {label} >= {k} classes")
    row = [0.0] * k
    row[label] = 1.0
    return row


class Matrix:
    """A row-major matrix with a fixed row width, as the host returns them
    (``rows * cols`` values in one list)."""

    __slots__ = ("values", "cols")

    def __init__(self, values: List[float], cols: int) -> None:
        """Wraps row-major ``values`` with rows of ``cols`` values. Raises
        ``ValueError`` when ``cols`` is zero or does not divide the length."""
        if cols <= 0 or len(values) % cols:
            raise ValueError(f"{len(values)} values do not form rows of {cols}")
        self.values = values
        self.cols = cols

    @classmethod
    def one_hot(cls, labels: Sequence[int], num_classes: int) -> "Matrix":
        """One one-hot row per label, ``num_classes`` wide."""
        if num_classes <= 0:
            raise ValueError("one-hot rows need at least one class")
        values = [0.0] * (len(labels) * num_classes)
        for row, label in enumerate(labels):
            if not 0 <= label < num_classes:
                raise ValueError(f"label {label} >= {num_classes} classes")
            values[row * num_classes + label] = 1.0
        return cls(values, num_classes)

    def rows(self) -> int:
        """Number of rows."""
        return len(self.values) // self.cols

    def __len__(self) -> int:
        return self.rows()

    def row(self, i: int) -> List[float]:
        """Row ``i``."""
        if not 0 <= i < self.rows():
            raise IndexError(f"row {i} of {self.rows()}")
        return self.values[i * self.cols : (i + 1) * self.cols]

    def iter_rows(self) -> Iterator[List[float]]:
        """The rows, in order."""
        c = self.cols
        for start in range(0, len(self.values), c):
            yield self.values[start : start + c]

    def argmax(self, i: int) -> int:
        """The column of row ``i``'s largest value (the first on ties)."""
        return argmax(self.row(i))

    def argmax_rows(self) -> List[int]:
        """``argmax`` of every row: hard labels from probabilities."""
        return [argmax(r) for r in self.iter_rows()]

    def gather(self, positions: Sequence[int]) -> List[float]:
        """The rows at ``positions``, concatenated row-major (the targets of
        one minibatch out of a matrix with one row per pool index)."""
        c = self.cols
        v = self.values
        out: List[float] = []
        for p in positions:
            out.extend(v[p * c : (p + 1) * c])
        return out

    def __repr__(self) -> str:
        return f"Matrix(rows={self.rows()}, cols={self.cols})"
