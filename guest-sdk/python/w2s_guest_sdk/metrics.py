"""Metrics that the report keeps (training curves, diagnostics)."""

from wit_world.imports import metrics as _wit


def log_metric(step: int, name: str, value: float) -> None:
    """Records ``value`` for metric ``name`` at ``step``. Names are at most
    64 bytes; the host keeps a bounded number of points per run."""
    _wit.log(step, name, value)
