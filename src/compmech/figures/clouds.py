"""Belief clouds and curves: theory beside learned (:func:`side_by_side`, :func:`panel_grid`,
:func:`architecture_grid`), the loss per position, training curves and the emergence GIF.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from compmech.figures.common import (
    BeliefPlane,
    CloudConfig,
    _same_limits,
    _scatter,
    finish,
    save,
)
from compmech.files import atomic_output
from compmech.msp import mixed_state_tree
from compmech.probing.targets import belief_targets
from transformer import Run


# ---------------------------------------------------------------------------------- figures
def side_by_side(theory_beliefs: np.ndarray, predicted: np.ndarray, true: np.ndarray, *,
                 caption: str = "", title: str = "", stem: str | Path | None = None,
                 learned: str = "the residual stream", config: CloudConfig | None = None) -> Figure:
    """Two panels: "theory (MSP)" | "learned (probe of ``learned``)", same axes, RGB = true belief.

    Args:
        theory_beliefs: ``(M, S)`` the mixed-state beliefs (e.g. every node of the MSP tree).
        predicted: ``(N, S)`` the probe's predictions on held-out points.
        true: ``(N, S)`` their true beliefs (the colours).
        caption: printed under the panels (MSE and baselines).
        title: figure title.
        stem: if given, saved as ``stem.png`` and ``stem.pdf``.
        learned: what was probed, for the right panel's title (e.g. ``"layer 4 hidden"``).
        config: how the clouds are drawn (:class:`~compmech.figures.common.CloudConfig`:
            subsample seed, simplex or principal axes).
    """
    config = CloudConfig() if config is None else config
    seed = config.seed
    plane = BeliefPlane(theory_beliefs, simplex=config.simplex)
    fig = Figure(figsize=(8.0, 4.4))
    axes = fig.subplots(1, 2)
    _scatter(axes[0], plane, theory_beliefs, theory_beliefs, seed=seed)
    _scatter(axes[1], plane, predicted, true, seed=seed)
    _same_limits(axes, plane, theory_beliefs, predicted)
    axes[0].set_title("theory: mixed-state presentation", fontsize=10)
    axes[1].set_title(f"learned: probe of {learned}\n(held-out points, colour = true belief)",
                      fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    if caption:
        fig.text(0.5, 0.01, caption, ha="center", fontsize=7.5, wrap=True)
    if plane.simplex:
        fig.subplots_adjust(left=0.02, right=0.98, top=0.85, bottom=0.1, wspace=0.05)
    else:  # room for the axis labels and tick labels of the PCA view
        fig.subplots_adjust(left=0.08, right=0.98, top=0.82, bottom=0.2, wspace=0.25)
    if stem is not None:
        save(fig, stem)
    return fig


def panel_grid(panels: Sequence[tuple[str, np.ndarray]], true: np.ndarray, *,
               theory_beliefs: np.ndarray | None = None, ncols: int = 4, title: str = "",
               caption: str = "", stem: str | Path | None = None,
               config: CloudConfig | None = None) -> Figure:
    """A grid of belief clouds: one panel per ``(label, predicted (N, S))``, coloured by ``true``.

    Used for the per-layer grid (embedding, each block, final LN, concatenation), the shuffle
    control and the emergence over training. With ``theory_beliefs`` the first panel is the theory.
    ``config``: how the clouds are drawn (:class:`~compmech.figures.common.CloudConfig`).
    """
    config = CloudConfig() if config is None else config
    seed = config.seed
    plane = BeliefPlane(theory_beliefs if theory_beliefs is not None else true,
                        simplex=config.simplex)
    items = list(panels)
    if theory_beliefs is not None:
        items = [("theory (MSP)", None)] + items
    n = len(items)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(2.6 * ncols, 2.5 * nrows + 0.6))
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, (label, pred) in zip(axes, items, strict=False):
        if pred is None:
            _scatter(ax, plane, theory_beliefs, theory_beliefs, seed=seed)
        else:
            _scatter(ax, plane, pred, true, seed=seed)
        ax.set_title(label, fontsize=8)
    for ax in axes[n:]:
        ax.set_axis_off()
    used = [ax for ax in axes[:n]]
    clouds = [p for _, p in items if p is not None]
    _same_limits(used, plane, *clouds)
    if title:
        fig.suptitle(title, fontsize=10)
    if caption:
        fig.text(0.5, 0.01, caption, ha="center", fontsize=7)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9 if title else 0.95, bottom=0.06,
                        wspace=0.08, hspace=0.3)
    if stem is not None:
        save(fig, stem)
    return fig


def architecture_grid(rows: Sequence[tuple[str, np.ndarray, dict]], columns: Sequence[str], *,
                      title: str = "", stem: str | Path | None = None, seed: int = 0) -> Figure:
    """Rows of belief clouds: the theory, then one learned cloud per network.

    Args:
        rows: ``(label, theory_beliefs (M, k), {column: (predicted (N, k), true (N, k),
            caption)}, simplex)`` per row (e.g. per process; ``simplex``: the targets are
            probabilities of three states, drawn in the simplex); a missing column leaves its
            panel empty.
        columns: the network names, in column order (after the theory's).
        title: figure title.
        stem: if given, saved as ``stem.png`` and ``stem.pdf``.
        seed: seed of the drawn subsample.
    """
    ncols = 1 + len(columns)
    fig = Figure(figsize=(2.5 * ncols, 2.6 * len(rows) + 0.6))
    axes = np.atleast_2d(fig.subplots(len(rows), ncols)).reshape(len(rows), ncols)
    for i, (label, theory, panels, simplex) in enumerate(rows):
        plane = BeliefPlane(theory, simplex=simplex)
        _scatter(axes[i, 0], plane, theory, theory, seed=seed)
        axes[i, 0].set_title(f"{label}: theory", fontsize=8)
        clouds = [theory]
        for j, name in enumerate(columns, start=1):
            ax = axes[i, j]
            if name not in panels:
                ax.set_axis_off()
                continue
            predicted, true, caption = panels[name]
            _scatter(ax, plane, predicted, true, seed=seed)
            ax.set_title(f"{name}\n{caption}", fontsize=6.5)
            clouds.append(predicted)
        _same_limits([axes[i, j] for j in range(ncols) if axes[i, j].axison], plane, *clouds)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.03, right=0.98, top=0.92 if title else 0.96, bottom=0.03,
                        wspace=0.35, hspace=0.55)
    if stem is not None:
        save(fig, stem)
    return fig


def loss_per_position(eval_loss: np.ndarray, optimal: np.ndarray, *, initial_loss=None,
                      components: Sequence[tuple] = (),
                      title: str = "", stem: str | Path | None = None) -> Figure:
    """Held-out cross-entropy per input position (nats) against the optimum ``h(t+1) ln 2``.

    ``components`` (a mixture's in-context curves): ``(name, loss on that component's data, that
    component's own optimum[, the Bayes-mixture optimum on its data])`` per component, drawn beside
    the mixture's. The Bayes-mixture curve (``E_k[H(P_k)] + E_k[KL(P_k || P_mix)]``) is the best
    any predictor achieves on the component's data; the optimum knowing the component lies below it
    and is not achievable (drawn faint).
    """
    eval_loss = np.asarray(eval_loss, dtype=float)
    optimal = np.asarray(optimal, dtype=float)
    pos = np.arange(1, eval_loss.size + 1)
    fig = Figure(figsize=(4.8 if not components else 6.0, 3.4))
    ax = fig.subplots()
    if initial_loss is not None:
        ax.plot(pos, initial_loss, "o-", color="0.7", ms=3, label="untrained")
    ax.plot(pos, eval_loss, "o-", color="C0", ms=3, label="trained" if not components
            else "trained, mixture")
    ax.plot(pos, optimal, "k--", lw=1, label="optimum (myopic entropy)" if not components
            else "optimum, mixture (Bayes over components)")
    for k, (name, loss, best, *bayes) in enumerate(components):
        color = f"C{k + 1}"
        ax.plot(pos, loss, "s-", ms=2.5, lw=1, color=color, label=f"trained, on {name}")
        if bayes and bayes[0] is not None:
            ax.plot(pos, bayes[0], "--", lw=1.2, color=color,
                    label=f"Bayes-mixture optimum on {name} (achievable)")
        ax.plot(pos, best, ":", lw=1.0, color=color, alpha=0.6,
                label=f"optimum knowing {name} (not achievable)")
    ax.set_xlabel("input position t")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_xticks(pos)
    ax.legend(fontsize=7 if components else 8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return finish(fig, stem)


class Curve(NamedTuple):
    """A quantity over training.

    Attributes:
        tokens: ``(C,)`` training tokens seen at each point.
        values: ``(C,)`` the quantity there.
    """

    tokens: Sequence[float] | np.ndarray
    values: Sequence[float] | np.ndarray


def training_curves(mse: Curve, relative_loss: Curve | None = None, *,
                    train_relative_loss: Curve | None = None,
                    baselines: dict[str, float] | None = None,
                    paper: dict[float, float] | None = None, title: str = "",
                    stem: str | Path | None = None) -> Figure:
    """Probe MSE vs tokens seen (log-log) beside the relative excess loss vs tokens seen.

    Args:
        mse: the held-out probe MSE at each checkpoint (0 tokens: the initialisation, drawn as a
            horizontal line).
        relative_loss: the exact held-out ``loss / optimum - 1`` at each evaluation (points).
        train_relative_loss: the same of the training batches (a line).
        baselines: MSE of each baseline by name (dotted lines).
        paper: tokens -> the published MSE (crosses).
        title: figure title.
        stem: if given, saved as ``stem.png`` and ``stem.pdf``.
    """
    tokens = np.asarray(mse.tokens, dtype=float)
    mse_values = np.asarray(mse.values, dtype=float)
    fig = Figure(figsize=(9.0, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    keep = tokens > 0
    ax1.loglog(tokens[keep], mse_values[keep], "o-", ms=3, color="C0", label="trained (held-out)")
    if (~keep).any():
        ax1.axhline(mse_values[~keep][0], color="0.6", lw=1, ls="-", label="initialisation")
    for i, (name, value) in enumerate((baselines or {}).items()):
        if value is not None and np.isfinite(value):
            ax1.axhline(value, color=f"C{i + 1}", lw=1, ls=":", label=name)
    if paper:
        ax1.loglog(list(paper), list(paper.values()), "kx", ms=6, label="Shai et al. 2024")
    ax1.set_xlabel("training tokens seen")
    ax1.set_ylabel("probe MSE (held-out)")
    ax1.legend(fontsize=7, frameon=False)
    if relative_loss is not None and len(relative_loss.values):
        rt = np.asarray(relative_loss.tokens, dtype=float)
        rl = np.asarray(relative_loss.values, dtype=float)
        ok = (rt > 0) & (rl > 0)
        ax2.loglog(rt[ok], rl[ok], "o", ms=4, color="C3", label="held-out (exact)")
    if train_relative_loss is not None and len(train_relative_loss.tokens):
        tt = np.asarray(train_relative_loss.tokens, dtype=float)
        tl = np.asarray(train_relative_loss.values, dtype=float)
        ok = (tt > 0) & (tl > 0)
        ax2.loglog(tt[ok], tl[ok], "-", lw=1, color="C0", alpha=0.7, label="training batches")
    if ax2.lines:
        ax2.legend(fontsize=7, frameon=False)
    ax2.set_xlabel("training tokens seen")
    ax2.set_ylabel("relative excess loss (loss / optimum - 1)")
    if title:
        fig.suptitle(title, fontsize=10)
    return finish(fig, stem)


def emergence_gif(frames: Sequence[tuple[str, np.ndarray]], true: np.ndarray,
                  theory_beliefs: np.ndarray, path: str | Path, *, duration_ms: int = 600,
                  max_points: int = 15_000, config: CloudConfig | None = None) -> Path:
    """An animated GIF: the learned belief cloud at each checkpoint beside the theory (``config``
    as :class:`~compmech.figures.common.CloudConfig`; at most ``max_points`` points a frame)."""
    from PIL import Image

    config = CloudConfig() if config is None else config
    seed = config.seed
    plane = BeliefPlane(theory_beliefs, simplex=config.simplex)
    images = []
    for label, pred in frames:
        fig = Figure(figsize=(6.0, 3.2))
        a0, a1 = fig.subplots(1, 2)
        _scatter(a0, plane, theory_beliefs, theory_beliefs, seed=seed, max_points=max_points)
        _scatter(a1, plane, pred, true, seed=seed, max_points=max_points)
        _same_limits([a0, a1], plane, theory_beliefs, pred)
        a0.set_title("theory (MSP)", fontsize=9)
        a1.set_title(label, fontsize=9)
        fig.subplots_adjust(left=0.02, right=0.98, top=0.88, bottom=0.02, wspace=0.05)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        buf.seek(0)
        images.append(Image.open(buf).convert("P", palette=Image.ADAPTIVE))
    path = Path(path)
    with atomic_output(path) as fh:
        images[0].save(fh, format="GIF", save_all=True, append_images=images[1:],
                       duration=duration_ms, loop=0)
    return path


def theory_beliefs(run: Run, data_beliefs: np.ndarray) -> np.ndarray:
    """The theory's beliefs for a run, as the probe's targets read them
    (:func:`compmech.probing.targets.belief_targets`): every node of the mixed-state tree to depth
    ``n_ctx`` (or, when the tree is too large, the distinct targets of the probe's points,
    ``data_beliefs``)."""
    depth = run.model_config.n_ctx - (1 if run.bos_token is not None else 0)
    if run.hmm.vocab_size**depth <= 2_000_000:
        try:
            return belief_targets(run.hmm, mixed_state_tree(run.hmm, depth).all_beliefs())
        except ValueError:
            pass
    return np.unique(np.round(data_beliefs, 12), axis=0)


__all__ = [
    "Curve",
    "emergence_gif",
    "loss_per_position",
    "panel_grid",
    "side_by_side",
    "theory_beliefs",
    "training_curves",
]
