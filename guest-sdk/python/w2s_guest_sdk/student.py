"""Students (trainable heads living in host memory) and their optimizers:
the Rust SDK's ``Student``, ``Optimizer``, ``OptimizerConfig`` and
``OptimizerKind`` (``guest-sdk/src/student.rs``)."""

from dataclasses import dataclass, replace
from enum import Enum
from typing import List, Optional, Sequence, Tuple

from wit_world.imports import student as _wit
from wit_world.imports import types as _types

from ._host import call
from .arch import Arch
from .matrix import Matrix
from .tensor import Tensor
from . import task


class OptimizerKind(Enum):
    """Which update rule an optimizer applies."""

    ADAMW = "adamw"
    """AdamW (decoupled weight decay)."""
    SGD = "sgd"
    """SGD with optional momentum and (coupled) weight decay."""


@dataclass(frozen=True)
class OptimizerConfig:
    """Hyperparameters of an optimizer (the host ignores the fields a kind
    does not use). Values go to the host as f32."""

    kind: OptimizerKind
    learning_rate: float
    weight_decay: float
    beta1: float
    beta2: float
    eps: float
    momentum: float

    def to_wit(self) -> "_types.OptimizerConfig":
        """The bindings' record."""
        kind = _types.OptimizerKind.ADAMW if self.kind is OptimizerKind.ADAMW else _types.OptimizerKind.SGD
        return _types.OptimizerConfig(
            kind, self.learning_rate, self.weight_decay, self.beta1, self.beta2, self.eps, self.momentum
        )


class Optimizer:
    """An optimizer for one student: hyperparameters plus host-side state.
    The host resource is created on the first step that uses it, so the
    builder methods cost nothing; the state binds to the first student it
    updates (another student gets a ``wrong-handle`` error)."""

    def __init__(self, config: OptimizerConfig) -> None:
        self._config = config
        self._handle: Optional[_wit.Optimizer] = None

    @classmethod
    def adamw(cls, learning_rate: float) -> "Optimizer":
        """AdamW with PyTorch's defaults: weight decay 0.01, betas
        0.9/0.999, eps 1e-8."""
        return cls(OptimizerConfig(OptimizerKind.ADAMW, learning_rate, 0.01, 0.9, 0.999, 1e-8, 0.0))

    @classmethod
    def sgd(cls, learning_rate: float, momentum: float = 0.0) -> "Optimizer":
        """SGD with the given momentum and weight decay 0."""
        return cls(OptimizerConfig(OptimizerKind.SGD, learning_rate, 0.0, 0.9, 0.999, 1e-8, momentum))

    def with_weight_decay(self, weight_decay: float) -> "Optimizer":
        """A fresh optimizer with another weight decay."""
        return Optimizer(replace(self._config, weight_decay=weight_decay))

    def with_betas(self, beta1: float, beta2: float) -> "Optimizer":
        """A fresh optimizer with other Adam betas."""
        return Optimizer(replace(self._config, beta1=beta1, beta2=beta2))

    def with_eps(self, eps: float) -> "Optimizer":
        """A fresh optimizer with another Adam epsilon."""
        return Optimizer(replace(self._config, eps=eps))

    @property
    def config(self) -> OptimizerConfig:
        """The current hyperparameters."""
        return self._config

    def set_learning_rate(self, learning_rate: float) -> None:
        """Changes the learning rate from the next step on, keeping the
        state."""
        if self._handle is not None:
            call(self._handle.set_learning_rate, learning_rate)
        self._config = replace(self._config, learning_rate=learning_rate)

    def handle(self) -> "_wit.Optimizer":
        """The host resource, created on first use."""
        if self._handle is None:
            self._handle = _wit.Optimizer(self._config.to_wit())
        return self._handle


class Student:
    """A trainable head over the task's frozen strong features, living in
    host memory. The host side is freed when the object is collected."""

    def __init__(self, handle: "_wit.Student") -> None:
        self._handle = handle

    @classmethod
    def create(cls, arch: Arch, seed: int) -> "Student":
        """A new student with weights drawn from ``seed``."""
        return cls(call(_wit.Student.create, arch.to_wit(), seed))

    def duplicate(self) -> "Student":
        """An independent copy with the same weights."""
        return Student(call(self._handle.duplicate))

    def architecture(self) -> Arch:
        """This student's architecture."""
        return Arch.from_wit(self._handle.architecture())

    def hidden_dim(self) -> int:
        """Width of the representation that feeds the final layer."""
        return self._handle.hidden_dim()

    def predict(self, indices: Sequence[int]) -> Matrix:
        """Class probabilities for ``indices``: one row per index."""
        return Matrix(call(self._handle.predict, list(indices)), task.num_classes())

    def predict_chunked(self, indices: Sequence[int]) -> Matrix:
        """``predict`` for any number of indices, in calls of at most
        ``task.CHUNK`` indices."""
        values: List[float] = []
        for start in range(0, len(indices), task.CHUNK):
            values.extend(call(self._handle.predict, list(indices[start : start + task.CHUNK])))
        return Matrix(values, task.num_classes())

    def hidden(self, indices: Sequence[int]) -> Matrix:
        """The representation that feeds the final layer: one row of
        ``hidden_dim()`` values per index."""
        return Matrix(call(self._handle.hidden, list(indices)), self.hidden_dim())

    def train_step(
        self, opt: Optimizer, indices: Sequence[int], targets: Sequence[float], weights: Sequence[float]
    ) -> float:
        """One fused step: weighted soft-label cross-entropy on a batch of
        pool indices, its gradient and one update by ``opt``. ``targets``
        is row-major (a distribution per index), ``weights`` one
        non-negative value per index. Returns the loss before the update."""
        return call(self._handle.train_step, opt.handle(), list(indices), list(targets), list(weights))

    def forward(self, indices: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """Tracked logits ``(n, classes)`` and the representation that feeds
        the final layer, both carrying gradients to the parameters."""
        logits, hidden = call(self._handle.forward, list(indices))
        return Tensor(logits), Tensor(hidden)

    def backward_step(self, loss: Tensor, opt: Optimizer) -> None:
        """Backward from the scalar ``loss``, then one update by ``opt``."""
        call(self._handle.backward_step, loss.handle, opt.handle())

    def reinit(self, seed: int) -> None:
        """Redraws the weights from ``seed``, as ``create`` would."""
        call(self._handle.reinit, seed)

    def parameters(self) -> List[Tensor]:
        """Copies of the parameters ``[w0, b0, w1, b1, ...]``."""
        return [Tensor(t) for t in call(self._handle.parameters)]

    def set_parameters(self, params: Sequence[Tensor]) -> None:
        """Replaces the parameters; shapes must match ``parameters()``."""
        call(self._handle.set_parameters, [p.handle for p in params])

    def add_noise(self, seed: int, std: float) -> None:
        """Adds seeded Gaussian noise of standard deviation ``std``."""
        call(self._handle.add_noise, seed, std)

    def into_handle(self) -> "_wit.Student":
        """The WIT handle, for returning the student from ``run``."""
        handle, self._handle = self._handle, None
        return handle
