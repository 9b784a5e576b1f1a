"""The loss gap of a trained run, read from its typed ``metrics.jsonl`` records
(:attr:`transformer.Run.evaluations`)."""

from __future__ import annotations

import numpy as np


def loss_gap_nats(run) -> float | None:
    """Mean over positions of the network's loss minus the optimum at the last evaluation
    (``None`` without one)."""
    evals = run.evaluations
    if not evals:
        return None
    return float(np.mean(np.asarray(evals[-1].eval_loss) - np.asarray(evals[-1].optimal_loss)))


__all__ = ["loss_gap_nats"]
