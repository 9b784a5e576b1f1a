"""The figures of ``compmech reproduce quantum`` (Riechers, Elliott & Shai 2025): the belief
probe's R^2 per layer beside its baselines, and the cross-architecture CKA matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

#: One colour per architecture, in column order.
COLOURS = ("C0", "C1", "C2", "C3", "C4", "C5")


def layer_r2_figure(results: Mapping, titles: Mapping[str, str], archs: Sequence[str]) -> Figure:
    """One panel per process: the probe's R^2 at every layer (x: input ... last, concat) of each
    network at the final checkpoint (o) and the initial one (x), the band from the random
    networks' mean to their 95th percentile, and the Markov-3 lookup (dashed).

    Args:
        results: ``{process: ProcessSummary}`` (:mod:`compmech.experiments.quantum_report`; per
            process ``architectures`` -> ``layers``).
        titles: a panel title per process.
        archs: the architectures, in colour order.
    """
    procs = list(results)
    fig = Figure(figsize=(4.2 * len(procs), 3.6))
    axes = fig.subplots(1, len(procs), squeeze=False)[0]
    colours = dict(zip(archs, COLOURS, strict=False))
    for ax, process in zip(axes, procs, strict=True):
        entry = results[process]
        for arch, a in entry.architectures.items():
            layers = list(a.layers.values())
            x = np.arange(len(layers))
            ax.plot(x, [s.r2 for s in layers], "o-", color=colours[arch], label=arch)
            ax.plot(x, [s.initial.r2 for s in layers], "x:", color=colours[arch], alpha=0.6)
            ax.fill_between(x, [s.random_networks.mean for s in layers],
                            [s.random_networks.p95 for s in layers], color=colours[arch],
                            alpha=0.12)
        ax.axhline(entry.markov3_lookup.r2, color="k", ls="--", lw=0.8, label="Markov-3 lookup")
        ax.set_title(titles.get(process, process))
        ax.set_xlabel("layer (input ... last, concat)")
        ax.set_ylabel("R² (probability-weighted)")
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
    axes[0].legend(fontsize=7)
    fig.suptitle("Belief probe per layer: final (o), initial (x), random networks mean..p95 "
                 "(band)")
    return fig


def cka_figure(results: Mapping, titles: Mapping[str, str]) -> Figure | None:
    """One heat map per process of the linear CKA between the networks' last layers (``None``
    when no process has one).

    Args:
        results: ``{process: ProcessSummary}`` (:mod:`compmech.experiments.quantum_report`).
        titles: a panel title per process.
    """
    procs = [p for p in results if results[p].cka is not None]
    if not procs:
        return None
    fig = Figure(figsize=(3.6 * len(procs), 3.4))
    axes = fig.subplots(1, len(procs), squeeze=False)[0]
    image = None
    for ax, process in zip(axes, procs, strict=True):
        m = results[process].cka.matrix
        names = list(m)
        grid = np.array([[m[a][b] for b in names] for a in names])
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(names)), names, rotation=45)
        ax.set_yticks(range(len(names)), names)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="w" if grid[i, j] < 0.6 else "k")
        ax.set_title(titles.get(process, process))
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="linear CKA")
    fig.suptitle("Cross-architecture linear CKA of the last layers (same prefixes)")
    return fig


__all__ = ["cka_figure", "layer_r2_figure"]
