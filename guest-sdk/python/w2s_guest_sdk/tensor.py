"""Host tensors with autograd: the ``tensor`` interface, as the Rust SDK's
``Tensor`` (``guest-sdk/src/tensor.rs``), with Python operators.

A ``Tensor`` is a handle to f32 values in host memory; every operation
returns a new tensor. ``+ - * /`` take a tensor or a number on either side
(a number becomes a rank-0 tensor, broadcast), ``-t`` negates and ``a @ b``
is a matrix product. Tensors from ``Student.forward`` carry gradients back
to the student's parameters, so a loss built from them can be passed to
``Student.backward_step``. Every shape mismatch raises ``Error`` with
``ErrorCode.INVALID_ARGUMENT``.

    ce = Tensor.soft_cross_entropy(logits, targets)
    loss = ce - 0.1 * Tensor.entropy(logits)
"""

from typing import List, Sequence, Tuple, Union

from wit_world.imports import tensor as _wit

from ._host import call
from .errors import Error, ErrorCode

UnaryOp = _wit.UnaryOp
"""Elementwise functions of one tensor (``UnaryOp.EXP``, ...)."""
BinaryOp = _wit.BinaryOp
"""Elementwise functions of two tensors, with broadcasting."""
CompareOp = _wit.CompareOp
"""Comparisons giving a 0/1 mask, with broadcasting."""
ReduceOp = _wit.ReduceOp
"""Reductions over one dimension."""

Operand = Union["Tensor", float, int]


class Tensor:
    """A tensor in host memory. The host side is freed when the object is
    collected."""

    __slots__ = ("handle",)

    def __init__(self, handle: "_wit.Tensor") -> None:
        self.handle = handle

    @classmethod
    def from_list(cls, values: Sequence[float], shape: Sequence[int]) -> "Tensor":
        """A tensor of ``shape`` from row-major ``values`` (``shape=[]``
        makes a scalar from one value)."""
        return cls(call(_wit.Tensor.from_list, list(values), list(shape)))

    @classmethod
    def scalar(cls, value: float) -> "Tensor":
        """A rank-0 tensor."""
        return cls.from_list([value], [])

    @classmethod
    def full(cls, value: float, shape: Sequence[int]) -> "Tensor":
        """A tensor of ``shape`` filled with ``value``."""
        return cls(call(_wit.Tensor.full, value, list(shape)))

    def shape(self) -> List[int]:
        """The shape (``[]`` for a scalar)."""
        return self.handle.shape()

    def to_list(self) -> List[float]:
        """The values, row-major."""
        return call(self.handle.to_list)

    def item(self) -> float:
        """The value of a one-element tensor (a loss)."""
        values = self.to_list()
        if len(values) != 1:
            raise Error(ErrorCode.INVALID_ARGUMENT, "not a scalar")
        return values[0]

    def matmul(self, other: "Tensor") -> "Tensor":
        """Matrix product ``(m, k) x (k, n)``."""
        return Tensor(call(self.handle.matmul, other.handle))

    def binary(self, op: "_wit.BinaryOp", other: "Tensor") -> "Tensor":
        """Elementwise ``op(self, other)`` with broadcasting."""
        return Tensor(call(self.handle.binary, op, other.handle))

    def unary(self, op: "_wit.UnaryOp") -> "Tensor":
        """Elementwise ``op(self)``."""
        return Tensor(call(self.handle.unary, op))

    def exp(self) -> "Tensor":
        """``exp(self)``."""
        return self.unary(UnaryOp.EXP)

    def log(self) -> "Tensor":
        """``ln(self)``."""
        return self.unary(UnaryOp.LOG)

    def relu(self) -> "Tensor":
        """``max(self, 0)``."""
        return self.unary(UnaryOp.RELU)

    def sigmoid(self) -> "Tensor":
        """The logistic function."""
        return self.unary(UnaryOp.SIGMOID)

    def tanh(self) -> "Tensor":
        """``tanh(self)``."""
        return self.unary(UnaryOp.TANH)

    def sqrt(self) -> "Tensor":
        """``sqrt(self)``."""
        return self.unary(UnaryOp.SQRT)

    def square(self) -> "Tensor":
        """``self * self``."""
        return self.unary(UnaryOp.SQUARE)

    def abs(self) -> "Tensor":
        """``|self|``."""
        return self.unary(UnaryOp.ABS)

    def affine(self, mul: float, add: float) -> "Tensor":
        """``self * mul + add``, elementwise."""
        return Tensor(call(self.handle.affine, mul, add))

    def scale(self, factor: float) -> "Tensor":
        """``self * factor``."""
        return self.affine(factor, 0.0)

    def clamp(self, lo: float, hi: float) -> "Tensor":
        """Elementwise ``min(max(self, lo), hi)``."""
        return Tensor(call(self.handle.clamp, lo, hi))

    def softmax(self) -> "Tensor":
        """Softmax over the last dimension."""
        return Tensor(call(self.handle.softmax))

    def log_softmax(self) -> "Tensor":
        """Log-softmax over the last dimension."""
        return Tensor(call(self.handle.log_softmax))

    def reduce(self, op: "_wit.ReduceOp", dim: int, keepdim: bool = False) -> "Tensor":
        """Reduce over ``dim``."""
        return Tensor(call(self.handle.reduce, op, dim, keepdim))

    def sum(self, dim: int) -> "Tensor":
        """Sum over ``dim`` (removed)."""
        return self.reduce(ReduceOp.SUM, dim)

    def mean(self, dim: int) -> "Tensor":
        """Mean over ``dim`` (removed)."""
        return self.reduce(ReduceOp.MEAN, dim)

    def max(self, dim: int) -> "Tensor":
        """Maximum over ``dim`` (removed)."""
        return self.reduce(ReduceOp.MAX, dim)

    def sum_all(self) -> "Tensor":
        """The sum of all values, a scalar."""
        return Tensor(call(self.handle.sum_all))

    def mean_all(self) -> "Tensor":
        """The mean of all values, a scalar."""
        return Tensor(call(self.handle.mean_all))

    def argmax(self, dim: int) -> "Tensor":
        """Index of the largest value over ``dim``, as f32. No gradient."""
        return Tensor(call(self.handle.argmax, dim))

    def top_k(self, k: int) -> Tuple["Tensor", "Tensor"]:
        """The ``k`` largest values over the last dimension and their
        indices. No gradient."""
        values, indices = call(self.handle.top_k, k)
        return Tensor(values), Tensor(indices)

    def quantile(self, q: float) -> "Tensor":
        """The ``q``-quantile over the last dimension (removed)."""
        return Tensor(call(self.handle.quantile, q))

    def gather(self, dim: int, index: "Tensor") -> "Tensor":
        """torch.gather along ``dim`` with integer-valued f32 ``index``."""
        return Tensor(call(self.handle.gather, dim, index.handle))

    def index_select(self, dim: int, indices: Sequence[int]) -> "Tensor":
        """The slices ``indices`` of ``dim``."""
        return Tensor(call(self.handle.index_select, dim, list(indices)))

    def narrow(self, dim: int, start: int, length: int) -> "Tensor":
        """``length`` positions of ``dim`` from ``start``."""
        return Tensor(call(self.handle.narrow, dim, start, length))

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        """Swap two dimensions."""
        return Tensor(call(self.handle.transpose, dim0, dim1))

    def reshape(self, shape: Sequence[int]) -> "Tensor":
        """The same values in another shape."""
        return Tensor(call(self.handle.reshape, list(shape)))

    def detach(self) -> "Tensor":
        """The same values with no gradient."""
        return Tensor(call(self.handle.detach))

    def compare(self, op: "_wit.CompareOp", other: Operand) -> "Tensor":
        """A 0/1 mask ``op(self, other)`` with broadcasting."""
        return Tensor(call(self.handle.compare, op, _tensor(other).handle))

    def select(self, on_true: Operand, on_false: Operand) -> "Tensor":
        """Where ``self`` (a mask) is non-zero, ``on_true``, else
        ``on_false``."""
        return Tensor(call(self.handle.select, _tensor(on_true).handle, _tensor(on_false).handle))

    @staticmethod
    def concat(parts: Sequence["Tensor"], dim: int) -> "Tensor":
        """Join tensors along ``dim``."""
        return Tensor(call(_wit.Tensor.concat, [p.handle for p in parts], dim))

    @staticmethod
    def soft_cross_entropy(logits: "Tensor", targets: "Tensor") -> "Tensor":
        """Mean over rows of ``-sum targets * log softmax(logits)``."""
        return Tensor(call(_wit.soft_cross_entropy, logits.handle, targets.handle))

    @staticmethod
    def kl_divergence(targets: "Tensor", logits: "Tensor") -> "Tensor":
        """Mean over rows of ``KL(targets || softmax(logits))``."""
        return Tensor(call(_wit.kl_divergence, targets.handle, logits.handle))

    @staticmethod
    def reverse_kl_divergence(logits: "Tensor", targets: "Tensor") -> "Tensor":
        """Mean over rows of ``KL(softmax(logits) || targets)``."""
        return Tensor(call(_wit.reverse_kl_divergence, logits.handle, targets.handle))

    @staticmethod
    def entropy(logits: "Tensor") -> "Tensor":
        """Mean over rows of the entropy of ``softmax(logits)``."""
        return Tensor(call(_wit.entropy, logits.handle))

    def __add__(self, other: Operand) -> "Tensor":
        return self.binary(BinaryOp.ADD, _tensor(other))

    def __radd__(self, other: Operand) -> "Tensor":
        return _tensor(other).binary(BinaryOp.ADD, self)

    def __sub__(self, other: Operand) -> "Tensor":
        return self.binary(BinaryOp.SUB, _tensor(other))

    def __rsub__(self, other: Operand) -> "Tensor":
        return _tensor(other).binary(BinaryOp.SUB, self)

    def __mul__(self, other: Operand) -> "Tensor":
        return self.binary(BinaryOp.MUL, _tensor(other))

    def __rmul__(self, other: Operand) -> "Tensor":
        return _tensor(other).binary(BinaryOp.MUL, self)

    def __truediv__(self, other: Operand) -> "Tensor":
        return self.binary(BinaryOp.DIV, _tensor(other))

    def __rtruediv__(self, other: Operand) -> "Tensor":
        return _tensor(other).binary(BinaryOp.DIV, self)

    def __neg__(self) -> "Tensor":
        return self.unary(UnaryOp.NEG)

    def __matmul__(self, other: "Tensor") -> "Tensor":
        return self.matmul(other)


def _tensor(x: Operand) -> Tensor:
    """A tensor operand: a tensor as is, a number as a rank-0 tensor."""
    return x if isinstance(x, Tensor) else Tensor.scalar(float(x))
