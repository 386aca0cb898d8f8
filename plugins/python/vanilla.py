"""The standard weak-to-strong baseline (Burns et al. 2023), in Python: train
the strong student on the weak teacher's hard labels.

A port of ``plugins/vanilla`` (Rust), call for call: the same recipe (an MLP
head of width 128 within the policy, AdamW lr 1e-3, batches of 128, 20
epochs, one permutation of the pool per epoch from the ``"shuffle"``
stream of the task seed, weights from the task seed), the same host calls
in the same order with the same values, so under the same host seed it
trains the same student bit for bit (``tests/all/python_twin.rs`` checks
it). Config keys: ``epochs``, ``lr``, ``batch``, ``hidden`` (0 asks for a
linear probe).
"""

import math

from w2s_guest_sdk import (
    Arch,
    Config,
    Matrix,
    Optimizer,
    Rng,
    Student,
    batches,
    f32,
    log_metric,
    task,
    u32,
    usize,
)

LABEL_CHUNK = 4096
"""Pool indices per ``weak-labels`` call while reading the teacher's labels."""


class Settings:
    """The baseline's hyperparameters, from the config string."""

    def __init__(self, config: str) -> None:
        c = Config.parse(config)
        self.epochs = c.take_or("epochs", 20, u32)
        self.lr = c.take_or("lr", f32("1e-3"), f32)
        self.batch = c.take_or("batch", 128, usize)
        self.hidden = c.take("hidden", u32)
        c.finish()
        if self.batch == 0:
            raise ValueError("batch must be positive")
        if not (math.isfinite(self.lr) and self.lr > 0.0):
            raise ValueError("lr must be positive")

    def arch(self) -> Arch:
        """The architecture asked for, or an MLP of width 128 if the policy
        allows it, else the largest allowed."""
        if self.hidden == 0:
            return Arch.linear()
        if self.hidden is not None:
            return Arch.mlp(self.hidden)
        arch = Arch.mlp(128).within(task.allowed_architectures())
        if arch is None:
            raise ValueError("the policy allows no architecture")
        return arch


def hard_label_targets(pool: list) -> Matrix:
    """The weak teacher's hard labels for the whole pool, as one-hot rows."""
    labels = []
    for start in range(0, len(pool), LABEL_CHUNK):
        labels.extend(task.weak_probs(pool[start : start + LABEL_CHUNK]).argmax_rows())
    return Matrix.one_hot(labels, task.num_classes())


def run(config: str) -> Student:
    """Vanilla weak-to-strong training."""
    settings = Settings(config)
    seed = task.seed()
    pool = task.pool_indices()
    targets = hard_label_targets(pool)
    student = Student.create(settings.arch(), seed)
    opt = Optimizer.adamw(settings.lr)
    rng = Rng.for_stream(seed, "shuffle")
    ones = [1.0] * min(settings.batch, len(pool))
    for epoch in range(settings.epochs):
        order = rng.permutation(len(pool))
        loss_sum = 0.0
        for batch in batches(order, settings.batch):
            loss = student.train_step(opt, batch, targets.gather(batch), ones[: len(batch)])
            loss_sum += loss * len(batch)
        if order:
            log_metric(epoch, "train_loss", loss_sum / len(order))
    return student
