"""Figures of belief geometry. Imports matplotlib; ``import compmech`` does not import this module.

Example:
    >>> import compmech
    >>> from compmech.plotting import plot_mixed_state_tree
    >>> hmm = compmech.get_process("mess3")
    >>> fig = plot_mixed_state_tree(compmech.mixed_state_tree(hmm, 8), hmm)  # doctest: +SKIP
"""

from __future__ import annotations

import os

import numpy as np

from compmech.geometry import SQRT3_2, belief_colors, pca, simplex_projection
from compmech.hmm import HMM


def _planar(beliefs: np.ndarray, weights: np.ndarray | None):
    """2-D coordinates of beliefs and of the hidden states' one-hot beliefs, and axis labels."""
    S = beliefs.shape[1]
    vertices = np.eye(S)
    if S == 3:
        return simplex_projection(beliefs), simplex_projection(vertices), None
    if S == 2:
        xy = np.column_stack([beliefs[:, 1], np.zeros(beliefs.shape[0])])
        return xy, np.array([[0.0, 0.0], [1.0, 0.0]]), ("P(state 1)", "")
    fit = pca(beliefs, 2, weights)
    labels = tuple(f"PC{k + 1} ({100 * r:.0f}% var.)" for k, r in enumerate(
        fit.explained_variance_ratio))
    return fit.transform(beliefs), fit.transform(vertices), labels


def plot_beliefs(beliefs, hmm: HMM, *, weights=None, ax=None, title: str | None = None,
                 max_marker_size: float = 30.0, min_marker_size: float = 0.3):
    """Scatter beliefs on the 2-simplex (3 states) or their PCA plane (more states).

    Points are coloured by :func:`compmech.geometry.belief_colors` (RGB = belief for 3 states) and
    sized by ``weights`` (e.g. word probabilities, largest drawn first so small points stay
    visible); the generating HMM's states (one-hot beliefs) are marked and named.

    Args:
        beliefs: ``(N, S)`` beliefs.
        hmm: the generating process (for state names).
        weights: optional ``(N,)`` non-negative sizes (relative); uniform if omitted.
        ax: a matplotlib axes to draw into (a new figure otherwise).
        title: figure title.
        max_marker_size: marker area (pt^2) of the heaviest point.
        min_marker_size: smallest marker area.

    Returns:
        the matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    b = np.asarray(beliefs, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != hmm.num_states:
        raise ValueError(f"beliefs must have shape (N, {hmm.num_states}); got {b.shape}")
    w = np.ones(b.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 5.6))
    else:
        fig = ax.figure
    xy, corners, labels = _planar(b, None if weights is None else w)
    rel = w / w.max() if w.max() > 0 else w
    sizes = np.clip(max_marker_size * np.sqrt(rel), min_marker_size, None)
    order = np.argsort(-sizes, kind="stable")
    ax.scatter(xy[order, 0], xy[order, 1], s=sizes[order], c=belief_colors(b)[order],
               linewidths=0, rasterized=True)
    if hmm.num_states == 3:
        outline = np.vstack([corners, corners[:1]])
        ax.plot(outline[:, 0], outline[:, 1], color="0.6", lw=0.8, zorder=0)
        ax.set_aspect("equal")
        ax.set_xlim(-0.08, 1.08)
        ax.set_ylim(-0.08, SQRT3_2 + 0.08)
        ax.axis("off")
    elif labels is not None:
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
    centre = corners.mean(axis=0)
    for k, name in enumerate(hmm.state_names):
        ax.scatter(*corners[k], marker="^", s=60, facecolor="none", edgecolor="k", zorder=3)
        offset = corners[k] - centre
        offset = 0.06 * offset / (np.linalg.norm(offset) or 1.0)
        ax.text(*(corners[k] + offset), str(name), ha="center", va="center", fontsize=11)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_mixed_state_tree(tree, hmm: HMM, *, ax=None, title: str | None = None):
    """Draw every node of a :class:`compmech.msp.MixedStateTree` on the simplex.

    Each node is sized by its word probability relative to the others at its depth (so every
    level contributes equally), coloured by its belief.

    Returns:
        the matplotlib ``Figure``.
    """
    rel = np.concatenate([p * p.shape[0] for p in tree.probabilities])
    if title is None:
        params = ", ".join(f"{k}={v}" for k, v in hmm.params.items())
        title = (f"{hmm.name}({params}): mixed states to depth {tree.depth} "
                 f"({tree.num_nodes:,} words)")
    return plot_beliefs(tree.all_beliefs(), hmm, weights=rel, ax=ax, title=title)


def save_figure(fig, path: str | os.PathLike, dpi: int = 150) -> None:
    """Save ``fig`` to ``path`` and close it."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
