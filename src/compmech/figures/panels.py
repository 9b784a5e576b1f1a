"""The experiments' panels: bottleneck metrics, loss gaps per position, one-dimensional
coordinates, structure over training, heat maps and theory-vs-learned scatters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from compmech.figures.common import BeliefPlane
from compmech.probing.structure1d import MspStructure, StructureAtStep, StructureSummary
from compmech.records import optional


# ------------------------------------------------------------------------------ experiment panels
def _num(x, default=np.nan) -> float:
    return default if x is None else float(x)


def _values(results, value: Callable[[Any], float | None]) -> np.ndarray:
    """``(len(results),)`` ``value`` of each result (NaN where it is ``None``)."""
    return np.array([_num(value(r)) for r in results])


def _width(result) -> int:
    """A bottleneck result's residual (or bottleneck) width, from its labels."""
    return result.labels["width"]


def _geometry(value: Callable[[Any], float | None]) -> Callable[[Any], float | None]:
    """``value`` of a result's held-out geometry (``None`` without one)."""
    return optional(lambda r: r.geometry, value)


def bottleneck_metrics(results: Sequence, linear: Sequence) -> Figure:
    """Loss gap, probe MSE (with the untrained network and the shuffle control) and the correlation
    dimensions of the predicted and true clouds above the probe's resolution (``geometry``)
    against the residual width; the linear-bottleneck variant as stars."""
    w = _values(results, _width)
    fig = Figure(figsize=(11.5, 3.3))
    a0, a1, a2 = fig.subplots(1, 3)
    gaps = _values(results, optional(lambda r: r.loss, lambda loss: loss.loss_gap))
    a0.plot(w, np.clip(gaps, 1e-6, None), "o-", color="C3")
    a0.set_yscale("log")
    a0.set_ylabel("loss gap to optimum (nats/token)")
    a1.plot(w, _values(results, lambda r: r.probe.mse_test), "o-", label="trained (held-out)")
    a1.plot(w, _values(results, lambda r: r.probe.untrained_mse), "s--", color="0.5",
            label="untrained network")
    a1.plot(w, _values(results, lambda r: r.probe.shuffle_mse), "x:", color="C1", label="shuffle control")
    for r in linear:
        lw = _width(r)
        a0.plot([lw], [max(_num(r.loss.loss_gap), 1e-6)], "*", ms=11, color="C4",
                label=f"linear bottleneck {lw} after d_model-{r.model['d_model']} blocks")
        a1.plot([lw], [_num(r.probe.mse_test)], "*", ms=11, color="C4",
                label=f"linear bottleneck {lw} (probe of z)")
        a1.plot([lw], [_num(r.probe.before_bottleneck_mse)], "P", ms=8, color="C4",
                label="  same net, residual before the bottleneck")
    if linear:
        a0.legend(fontsize=6, frameon=False)
    a1.set_yscale("log")
    a1.set_ylabel("probe MSE")
    a1.legend(fontsize=7, frameon=False)
    reference = (list(results) + list(linear))[-1]
    predicted = _geometry(lambda g: g.dimension_predicted)
    for value, marker, label in ((predicted, "o", "probe predictions"),
                                 (_geometry(lambda g: g.dimension_true), "s",
                                  "true beliefs, same points")):
        a2.plot(w, _values(results, value), marker + "-", ms=4, label=label)
    for r in linear:
        a2.plot([_width(r)], [_num(predicted(r))],
                "*", ms=11, color="C4", label="linear bottleneck, probe predictions")
    ky = None if reference.dimensions is None else reference.dimensions.kaplan_yorke
    if ky is not None:
        a2.axhline(ky, color="k", ls=":", lw=1, label="Blackwell measure, Kaplan-Yorke")
    a2.set_ylabel("correlation dimension above the resolution")
    a2.legend(fontsize=6, frameon=False)
    if not any(np.isfinite(line.get_ydata()).any() for line in a2.get_lines()):
        a2.text(0.5, 0.5, "no dimensions\n(less than a decade of scales\nabove the resolution)",
                ha="center", transform=a2.transAxes, fontsize=8)
    widths = np.concatenate([w, [_width(r) for r in linear]])
    for ax in (a0, a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_xlim(widths.min() / 1.4, widths.max() * 1.4)
        ax.set_xticks(w)
        ax.set_xticklabels([str(int(v)) for v in w])
        ax.set_xlabel("residual width d_model")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def loss_gap_per_position(results: Sequence, labels: Sequence[str],
                          dashed: Sequence[bool]) -> Figure:
    """Loss minus optimum per input position, one line per result."""
    fig = Figure(figsize=(4.8, 3.3))
    ax = fig.subplots()
    for i, (r, label, dash) in enumerate(zip(results, labels, dashed, strict=True)):
        gap = r.loss.loss_gap_per_position
        if gap is None:
            continue
        ax.plot(np.arange(1, len(gap) + 1), np.clip(gap, 1e-6, None), marker="o", ms=3,
                color=f"C{i % 10}", ls="--" if dash else "-", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("input position t")
    ax.set_ylabel("loss - optimum (nats)")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.tight_layout()
    return fig


def _strip(ax, values: np.ndarray, colors: np.ndarray, seed: int) -> None:
    jitter = np.random.default_rng(seed).uniform(-1, 1, values.shape[0])
    ax.scatter(values, jitter, c=colors, s=0.8, lw=0, rasterized=True)
    ax.set_yticks([])


def coordinate_1d(coordinate: np.ndarray, msp_projection: np.ndarray, beliefs: np.ndarray,
                  network: StructureSummary, msp: StructureSummary, *, what: str) -> Figure:
    """A single network coordinate (all inputs x positions) beside the MSP on its best 1-D linear
    direction: strips coloured by belief, histograms by most likely state, cluster counts.

    Args:
        coordinate: ``(N,)`` the network's coordinate.
        msp_projection: ``(N,)`` the true beliefs on their best 1-D direction.
        beliefs: ``(N, S)`` the true beliefs (the colours).
        network: the :func:`compmech.probing.structure1d.structure_1d` dict of the network's
            coordinate.
        msp: the same dict of ``msp_projection``.
        what: what the network coordinate is (for the title).
    """
    pick = np.random.default_rng(0).choice(coordinate.size, size=min(coordinate.size, 8_000),
                                           replace=False)
    plane = BeliefPlane(beliefs)
    colors = plane.colors(beliefs[pick])
    fig = Figure(figsize=(9.0, 4.2))
    axes = fig.subplots(2, 2, gridspec_kw={"height_ratios": [1.3, 1]}, sharex="col")
    dominant = beliefs.argmax(1)
    state_colors = plane.colors(np.eye(beliefs.shape[1]))
    for col, (values, title, s) in enumerate((
            (coordinate, f"network: {what} (all inputs x positions)", network),
            (msp_projection, "theory: MSP beliefs on their best 1-D linear direction", msp))):
        _strip(axes[0, col], values[pick], colors, seed=col)
        axes[0, col].set_title(title, fontsize=8)
        bins = np.linspace(values.min(), values.max(), 300)
        for k in range(beliefs.shape[1]):
            axes[1, col].hist(values[dominant == k], bins=bins, color=state_colors[k], alpha=0.55,
                              lw=0, histtype="stepfilled")
        axes[1, col].set_yscale("log")
        axes[1, col].set_ylabel("points (by most likely state)", fontsize=7)
        clusters = ", ".join(f"{c}@{r:g}" for r, c in zip(s.resolutions[::2],
                                                           s.cluster_counts[::2], strict=False))
        bc = s.box_counting_dimension
        axes[1, col].set_title(f"{s.num_distinct} distinct values, box dim "
                               f"{bc if bc is None else round(bc, 2)}\nclusters@resolution {clusters}",
                               fontsize=6.5)
        for ax in axes[:, col]:
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def structure_over_training(per_step: Sequence[StructureAtStep], msp: MspStructure) -> Figure:
    """Cluster counts, label runs and 1-D dimensions of a coordinate at each checkpoint, beside the
    MSP's projections (best direction, first principal axis)."""
    cmap = colormaps["viridis"]
    fig = Figure(figsize=(13.0, 3.4))
    a0, a3, a1 = fig.subplots(1, 3)
    for ax, key, ylabel in ((a0, "cluster_counts", "distinct clusters"),
                            (a3, "label_runs", "runs of the dominant state along the clusters")):
        for i, s in enumerate(per_step):
            if getattr(s, key) is not None:
                ax.loglog(s.resolutions, getattr(s, key), "o-", ms=3, lw=1,
                          color=cmap(i / max(len(per_step) - 1, 1)), label=f"step {s.step}")
        for view, style, label in ((msp.regression, "k--", "MSP, best direction"),
                                   (msp.pca, "k:", "MSP, first principal axis")):
            if getattr(view, key) is not None:
                ax.loglog(view.resolutions, getattr(view, key), style, lw=1.2, label=label)
        ax.invert_xaxis()
        ax.set_xlabel("resolution (fraction of the range)")
        ax.set_ylabel(ylabel, fontsize=8)
    a0.legend(fontsize=6, frameon=False, ncol=2)
    tokens = np.array([max(s.tokens_seen, 1) for s in per_step], dtype=float)
    a1.semilogx(tokens, [_num(s.box_counting_dimension) for s in per_step], "o-",
                label="coordinate, box-counting")
    a1.semilogx(tokens, [_num(s.cluster_dimension) for s in per_step], "s-",
                label="coordinate, cluster-count slope")
    a1.axhline(_num(msp.regression.box_counting_dimension), color="k", ls="--", lw=1,
               label="MSP projection, box-counting")
    a1.axhline(_num(msp.regression.cluster_dimension), color="k", ls=":", lw=1,
               label="MSP projection, cluster slope")
    a1.set_xlabel("training tokens seen (step 0 drawn at 1)")
    a1.set_ylabel("1-D dimension")
    a1.legend(fontsize=6, frameon=False)
    for ax in (a0, a3, a1):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def heatmaps(maps: Sequence[tuple[str, np.ndarray, str, bool]], xs, alphas) -> Figure:
    """Heat maps over a Mess3 ``(x, alpha)`` grid, one per ``(title, grid (len(xs), len(alphas)),
    number format, is_dimension)``; dimension maps share one colour scale; a map without any value
    says so."""
    fig = Figure(figsize=(4.0 * len(maps), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(maps)))
    dims = np.concatenate([g.ravel() for _, g, _, is_dim in maps if is_dim] or [np.zeros(0)])
    dims = dims[np.isfinite(dims)]
    vmin, vmax = (float(dims.min()), float(dims.max())) if dims.size else (0.0, 2.0)
    for ax, (title, grid, spec, is_dim) in zip(axes, maps, strict=True):
        kw = {"vmin": vmin, "vmax": vmax} if is_dim else {}
        im = ax.imshow(grid, origin="lower", cmap="viridis" if is_dim else "magma", aspect="auto",
                       **kw)
        if not np.isfinite(grid).any():
            ax.text(0.5, 0.5, "n/a at every point", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                bright = im.norm(v) > 0.6  # dark text on the bright end of both colour maps
                ax.text(j, i, format(v, spec), ha="center", va="center", fontsize=6.5,
                        color="k" if bright else "w")
        ax.set_xticks(range(len(alphas)))
        ax.set_xticklabels([f"{a:g}" for a in alphas], fontsize=7)
        ax.set_yticks(range(len(xs)))
        ax.set_yticklabels([f"{x:g}" for x in xs], fontsize=7)
        ax.set_xlabel("alpha")
        ax.set_ylabel("x")
        ax.set_title(title, fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def theory_vs_learned(points: Sequence[tuple[float, float, str, bool]], *, xlabel: str,
                      ylabel: str, title: str = "") -> Figure:
    """Scatter of ``(theory, learned, name, is_mess3)`` dimensions with the diagonal; non-Mess3
    points named."""
    fig = Figure(figsize=(4.0, 3.6))
    ax = fig.subplots()
    for t, learned, name, mess3 in points:
        ax.plot(t, learned, "o" if mess3 else "s", ms=4, color="C0" if mess3 else "C3")
        if not mess3:
            ax.annotate(name, (t, learned), fontsize=6)
    lim = ax.get_xlim()
    ax.plot(lim, lim, "k:", lw=0.8)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


__all__ = [
    "bottleneck_metrics",
    "coordinate_1d",
    "heatmaps",
    "loss_gap_per_position",
    "structure_over_training",
    "theory_vs_learned",
]
