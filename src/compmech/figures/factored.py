"""The figure of ``compmech reproduce factored`` (:mod:`compmech.experiments.factored`): the last
layer's cumulative explained variance over training beside the factored and joint predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from compmech.figures.common import save


def cev_figure(results: Sequence, out_stem: Path) -> list[Path]:
    """Per model: CEV curves at each analysed checkpoint (colour = training step) with both
    predictions marked, and ``components_95`` against step.

    Args:
        results: the models' :class:`~compmech.experiments.factored_results.FactoredResult`.
        out_stem: path without extension (``.png`` and ``.pdf`` are written).

    Returns:
        the paths written.
    """
    n = len(results)
    fig = Figure(figsize=(4.2 * n, 7.0))
    axes = fig.subplots(2, n, squeeze=False)
    cmap = colormaps["viridis"]
    for j, r in enumerate(results):
        ax, ax2 = axes[0, j], axes[1, j]
        rows = r.checkpoints
        for i, c in enumerate(rows):
            cev = np.asarray(c.cev)
            ax.plot(np.arange(1, cev.size + 1), cev, color=cmap(i / max(len(rows) - 1, 1)),
                    lw=1.2, label=f"step {c.step}")
        pf, pj = r.predicted_factored, r.predicted_joint
        for line in (ax.axvline, ax2.axhline):
            line(pf, ls="--", color="tab:red", label=f"factored {pf}")
            line(pj, ls=":", color="tab:purple", label=f"joint {pj}")
        ax.axhline(0.95, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(r.name, fontsize=9)
        ax.set_xlabel("components")
        ax.set_ylabel("cumulative explained variance")
        ax2.plot([max(c.step, 1) for c in rows], [c.components_95 for c in rows], "o-",
                 color="black")
        ax2.set_xscale("log")
        ax2.set_xlabel("training step (step 0 drawn at 1)")
        ax2.set_ylabel("components for 95%")
        if j == 0:
            ax.legend(fontsize=6)
            ax2.legend(fontsize=6)
    fig.suptitle("last-layer CEV over training; dashed: predicted factored, dotted: joint")
    return save(fig, out_stem)


__all__ = ["cev_figure"]
