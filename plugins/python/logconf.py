"""Weak-to-strong training with the auxiliary confidence loss of Burns et
al. 2023 (arXiv:2312.09390, section 4.3.2), in Python.

A port of ``plugins/logconf`` (Rust; its docs explain the method), call for
call and operation for operation, so under the same host seed it trains
the same student bit for bit (``tests/all/python_twin.rs`` checks it):
the warm-up and the quantiles are computed in f64 as there, and the mixed
targets in f32 with ``f32math``, rounding after each operation as Rust
does. Config keys: ``epochs`` (20), ``lr`` (1e-3), ``batch`` (128),
``hidden`` (0 asks for a linear probe), ``alpha`` (0.75, in [0, 1]) and
``warmup`` (0.2, in [0, 1]).
"""

import math

from w2s_guest_sdk import (
    Arch,
    Config,
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
from w2s_guest_sdk import f32math

LABEL_CHUNK = 4096
"""Pool indices per ``weak-labels`` call while reading the teacher's labels."""

F64_MIN_POSITIVE = 2.2250738585072014e-308
"""Rust's ``f64::MIN_POSITIVE``: the floor of a per-class threshold."""


class Settings:
    """The method's hyperparameters, from the config string."""

    def __init__(self, config: str) -> None:
        c = Config.parse(config)
        self.epochs = c.take_or("epochs", 20, u32)
        self.lr = c.take_or("lr", f32("1e-3"), f32)
        self.batch = c.take_or("batch", 128, usize)
        self.hidden = c.take("hidden", u32)
        self.alpha = c.take_or("alpha", f32("0.75"), f32)
        self.warmup = c.take_or("warmup", f32("0.2"), f32)
        c.finish()
        if self.batch == 0:
            raise ValueError("batch must be positive")
        if not (math.isfinite(self.lr) and self.lr > 0.0):
            raise ValueError("lr must be positive")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError("alpha must be in [0, 1]")
        if not 0.0 <= self.warmup <= 1.0:
            raise ValueError("warmup must be in [0, 1]")

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


def round_half_away(x: float) -> int:
    """Rust's ``f64::round`` for ``x >= 0`` (halves away from zero; Python's
    ``round`` rounds them to even)."""
    floor = math.floor(x)
    return int(floor) + (1 if x - floor >= 0.5 else 0)


def alpha_at(step: int, total_steps: int, alpha_max: float, warmup: float) -> float:
    """The weight of the self-label term at ``step``: a linear ramp from 0
    over ``round(warmup * total_steps)`` steps, then ``alpha_max``."""
    warmup_steps = round_half_away(warmup * float(total_steps))
    if warmup_steps == 0 or step >= warmup_steps:
        return alpha_max
    return f32math.f32(alpha_max * float(step) / float(warmup_steps))


def quantile(values: list, q: float) -> float:
    """The ``q``-quantile with linear interpolation (numpy's default), in
    f64 as the Rust twin."""
    v = sorted(values)
    pos = min(max(q, 0.0), 1.0) * float(len(v) - 1)
    lo = math.floor(pos)
    at_lo = v[lo]
    at_hi = v[lo + 1] if pos > lo else at_lo
    return at_lo + (at_hi - at_lo) * (pos - lo)


def harden(probs: list, weak: list, k: int) -> list:
    """The student's hardened predictions for one batch (row-major
    ``probs``, the weak hard labels ``weak``): the paper's threshold at the
    weak labels' class prior for two classes, per-class thresholds and the
    argmax of ``p_c / t_c`` for more."""
    n = len(weak)
    counts = [0] * k
    for w in weak:
        counts[w] += 1
    prior = [c / n for c in counts]
    if k == 2:
        p0 = probs[0::2]
        t = quantile(p0, prior[1])
        return [1 if p < t else 0 for p in p0]
    thresholds = [max(quantile(probs[c::k], 1.0 - prior[c]), F64_MIN_POSITIVE) for c in range(k)]
    hard = []
    for row in range(n):
        best, best_score = 0, -math.inf
        for c in range(k):
            score = probs[row * k + c] / thresholds[c]
            if score > best_score:
                best, best_score = c, score
        hard.append(best)
    return hard


def mixed_targets(weak: list, hard: list, k: int, alpha: float) -> list:
    """Row-major ``(1 - alpha) * onehot(weak) + alpha * onehot(hard)`` in
    f32, rounding after each operation as Rust does. Each entry is one of
    four values (its one-hot factors are 0 or 1), computed once per call."""
    keep = f32math.sub(1.0, alpha)

    def entry(from_weak: float, from_self: float) -> float:
        return f32math.add(f32math.mul(keep, from_weak), f32math.mul(alpha, from_self))

    neither, weak_only, self_only, both = entry(0.0, 0.0), entry(1.0, 0.0), entry(0.0, 1.0), entry(1.0, 1.0)
    out = []
    for w, h in zip(weak, hard):
        row = [neither] * k
        if w == h:
            row[w] = both
        else:
            row[w] = weak_only
            row[h] = self_only
        out.extend(row)
    return out


def run(config: str) -> Student:
    """Weak-to-strong training with the auxiliary confidence loss."""
    settings = Settings(config)
    seed = task.seed()
    k = task.num_classes()
    pool = task.pool_indices()
    weak = []
    for start in range(0, len(pool), LABEL_CHUNK):
        weak.extend(task.weak_probs(pool[start : start + LABEL_CHUNK]).argmax_rows())
    student = Student.create(settings.arch(), seed)
    opt = Optimizer.adamw(settings.lr)
    rng = Rng.for_stream(seed, "shuffle")
    ones = [1.0] * min(settings.batch, len(pool))
    total = settings.epochs * -(-len(pool) // settings.batch)
    step = 0
    for epoch in range(settings.epochs):
        order = rng.permutation(len(pool))
        loss_sum = 0.0
        for batch in batches(order, settings.batch):
            alpha = alpha_at(step, total, settings.alpha, settings.warmup)
            weak_batch = [weak[i] for i in batch]
            probs = student.predict(batch).values
            hard = harden(probs, weak_batch, k)
            targets = mixed_targets(weak_batch, hard, k, alpha)
            loss = student.train_step(opt, batch, targets, ones[: len(batch)])
            loss_sum += loss * len(batch)
            step += 1
        if order:
            log_metric(epoch, "train_loss", loss_sum / len(order))
    return student
