"""Write weak-to-strong training strategies in Python and compile them to
WebAssembly components (componentize-py) that the w2s host runs. The
Python twin of the Rust SDK (``guest-sdk/src``): the same wrappers, the same
names where Python allows, the same generator.

A strategy is a module with one function::

    from w2s_guest_sdk import Arch, Matrix, Optimizer, Rng, Student, batches, task

    def run(config: str) -> Student:
        pool = task.pool_indices()
        targets = Matrix.one_hot(task.weak_probs(pool).argmax_rows(), task.num_classes())
        student = Student.create(Arch.linear(), task.seed())
        opt = Optimizer.adamw(1e-3)
        for batch in batches(Rng(task.seed()).permutation(len(pool)), 128):
            student.train_step(opt, batch, targets.gather(batch), [1.0] * len(batch))
        return student

built with ``w2s guest build strategy.py -o strategy.wasm``.

Design:

- **The WIT file is the contract.** componentize-py generates the bindings
  (package ``wit_world``) from ``wit/w2s.wit`` each time a component is
  built, so they cannot drift from what the host implements; nothing
  generated is committed. Only ``task``, ``student``, ``tensor``,
  ``metrics`` and ``entry`` touch them.
- **Pure parts run natively.** ``rng``, ``config``, ``indices``, ``matrix``,
  ``arch``, ``errors`` and ``f32math`` import no bindings: the tests run
  them under CPython and compare them with the Rust SDK. The names that
  need the host (``Student``, ``Tensor``, ``task``, ...) are imported on
  first use (PEP 562), so ``import w2s_guest_sdk.rng`` works anywhere.
- **Errors are exceptions.** A refusal of the host raises ``Error`` (with
  the WIT ``ErrorCode``); an exception escaping ``run`` ends the run as a
  ``guest-error`` naming it.
- **Bit-identical twins.** ``Rng`` is the Rust SDK's xoshiro256**, and
  ``f32math`` rounds to f32 after each operation as Rust computes, so a
  port of a Rust strategy trains the same student bit for bit.
"""

from importlib import import_module

from .arch import Arch, ArchFamily, ArchLimit, largest_allowed
from .config import Config, ConfigError, boolean, f32, f64, string, u32, u64, usize
from .errors import Error, ErrorCode
from .indices import batches, k_fold, subset
from .matrix import Matrix, argmax, one_hot
from .rng import Rng, derive_seed

_HOST_NAMES = {
    "task": ("task", None),
    "Student": ("student", "Student"),
    "Optimizer": ("student", "Optimizer"),
    "OptimizerConfig": ("student", "OptimizerConfig"),
    "OptimizerKind": ("student", "OptimizerKind"),
    "Tensor": ("tensor", "Tensor"),
    "UnaryOp": ("tensor", "UnaryOp"),
    "BinaryOp": ("tensor", "BinaryOp"),
    "CompareOp": ("tensor", "CompareOp"),
    "ReduceOp": ("tensor", "ReduceOp"),
    "log_metric": ("metrics", "log_metric"),
}

__all__ = [
    "Arch", "ArchFamily", "ArchLimit", "largest_allowed",
    "Config", "ConfigError", "boolean", "f32", "f64", "string", "u32", "u64", "usize",
    "Error", "ErrorCode", "batches", "k_fold", "subset", "Matrix", "argmax", "one_hot",
    "Rng", "derive_seed", *_HOST_NAMES,
]


def __getattr__(name: str):
    """The names that need the host's bindings, imported on first use."""
    if name not in _HOST_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _HOST_NAMES[name]
    value = import_module(f".{module}", __name__)
    return value if attr is None else getattr(value, attr)
