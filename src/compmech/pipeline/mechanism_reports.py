"""Write a run's mechanism analyses into ``RUN_DIR/mechanisms/``: the attention analysis
(:mod:`compmech.pipeline.mechanisms`) and the belief interventions
(:mod:`compmech.pipeline.interventions`), each as JSON, arrays and a figure.

Files: ``attention.json``, ``attention_patterns.npz`` (``layer_{l}``: ``(n_heads, P, P)`` mean
patterns over the process positions), ``attention_vs_distance.{png,pdf}``; ``interventions.json``,
``interventions.npz`` (per hook: the theory's and the model's next-token probabilities of every
pair and condition), ``intervention_probabilities.{png,pdf}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from compmech.files import atomic_output
from compmech.pipeline import figures
from compmech.pipeline.interventions import (
    DEFAULT_PAIRS,
    InterventionEffects,
    InterventionReport,
    analyze_interventions,
)
from compmech.pipeline.mechanisms import (
    AttentionReport,
    HeadAttention,
    analyze_attention,
    decay_pattern,
    distance_profile,
)
from transformer import load_run

MECHANISMS_DIR = "mechanisms"
ATTENTION_FILE = "attention.json"
INTERVENTIONS_FILE = "interventions.json"
#: Pairs drawn per panel of the intervention figure.
FIGURE_PAIRS = 600


# -------------------------------------------------------------------------------- figures
def _theory_profile(rate: float, positions: int, parity: str = "all") -> np.ndarray:
    return distance_profile(decay_pattern(rate, positions, parity))


def _head_panel(ax, head: HeadAttention, lam: float | None, positions: int) -> None:
    k = np.arange(positions)
    ax.semilogy(k, head.profile, "o", color="black", ms=4, label="model (mean over inputs)")
    fit = head.fit if head.best_parity == "all" else head.parity_fits[head.best_parity]
    ax.semilogy(k, np.maximum(_theory_profile(fit.rate, positions, fit.parity), 1e-12), "-",
                color="tab:blue",
                label=f"fit rho={fit.rate:.3f} ({fit.parity}), explained "
                      + ("n/a" if fit.explained is None else f"{fit.explained:.2f}"))
    if lam is not None and lam != 0:
        ax.semilogy(k, _theory_profile(abs(lam), positions), "--", color="tab:red",
                    label=f"theory |lambda|={abs(lam):.3f}" + (" (lambda < 0)" if lam < 0 else ""))
    ax.set_title(f"layer {head.layer}, head {head.head}", fontsize=9)
    ax.set_xlabel("distance t - s")
    ax.set_ylim(max(1e-4, 0.3 * np.nanmin(np.maximum(head.profile, 1e-4))), 1.5)
    ax.legend(fontsize=6, loc="lower left")


def attention_figure(report: AttentionReport, layers: Sequence[int] | None = None) -> Figure:
    """Mean attention by distance per head (rows: layers, columns: heads) with the fitted and the
    theory's curves (both averaged over rows like the data: :func:`distance_profile`)."""
    heads = [h for h in report.heads if layers is None or h.layer in layers]
    if not heads:
        raise ValueError("no heads to draw")
    rows = sorted({h.layer for h in heads})
    cols = max(h.head for h in heads) + 1
    fig = Figure(figsize=(3.2 * cols, 2.6 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), cols, squeeze=False)
    positions = len(heads[0].profile)
    for h in heads:
        _head_panel(axes[rows.index(h.layer), h.head], h, report.theory_lambda, positions)
    for ax in axes[:, 0]:
        ax.set_ylabel("mean attention")
    fig.suptitle(f"{report.process} {report.process_params}: attention vs distance", fontsize=10)
    return fig


def _subsample(n: int, k: int, seed: int) -> np.ndarray:
    return np.arange(n) if n <= k else np.sort(np.random.default_rng(seed).choice(n, k, replace=False))


def intervention_figure(report: InterventionReport, effects: dict[str, InterventionEffects],
                        seed: int = 0) -> Figure:
    """Per hook: the theory's ``P(x | eta*)`` against the model's next-token probability after the
    intervention (colour) and after the random change of the same norm (grey)."""
    hooks = list(effects)
    fig = Figure(figsize=(2.8 * len(hooks), 3.0), layout="constrained")
    axes = fig.subplots(1, len(hooks), squeeze=False)[0]
    for ax, hook in zip(axes, hooks, strict=True):
        e = effects[hook]
        idx = _subsample(e.predicted.shape[0], FIGURE_PAIRS, seed)
        V = e.predicted.shape[1]
        p = e.predicted[idx].ravel()
        ax.plot([0, 1], [0, 1], color="black", lw=0.8)
        ax.scatter(p, e.probs["random"][idx, :V].ravel(), s=2, color="0.6", alpha=0.5,
                   rasterized=True, label="random, same norm")
        ax.scatter(p, e.probs["intervened"][idx, :V].ravel(), s=2, color="tab:blue", alpha=0.5,
                   rasterized=True, label="intervened")
        m = report.hooks[hook].mean_kl_bits
        ax.set_title(f"{report.hooks[hook].label}\nKL {m['intervened']:.3f} vs random "
                     f"{m['random']:.3f} bits", fontsize=8)
        ax.set_xlabel("theory P(x | eta*)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("model next-token probability")
    axes[0].legend(fontsize=6, loc="upper left", markerscale=4)
    return fig


# -------------------------------------------------------------------------------- writers
def _folder(run_dir, name: str, force: bool) -> Path:
    folder = Path(run_dir) / MECHANISMS_DIR
    if (folder / name).exists() and not force:
        raise FileExistsError(f"{folder / name} already exists; pass --force to overwrite it")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_attention_analysis(run_dir, *, step: int | None = None, seed: int = 0,
                           force: bool = False) -> tuple[AttentionReport, list[Path]]:
    """Analyse a transformer run's attention and write ``mechanisms/attention.json``, the mean
    patterns and the figure (see the module docstring).

    Raises:
        FileExistsError: ``attention.json`` exists and ``force`` is False.
        ValueError: the model has no attention layers.
    """
    run = load_run(run_dir)
    with run.lock("compmech mechanisms"):
        folder = _folder(run_dir, ATTENTION_FILE, force)
        report, means = analyze_attention(run, step=step, seed=seed)
        with atomic_output(folder / "attention_patterns.npz") as fh:
            np.savez_compressed(fh, **{f"layer_{k}": v.astype(np.float32) for k, v in means.items()})
        paths = [folder / "attention_patterns.npz"]
        paths += figures.save(attention_figure(report), folder / "attention_vs_distance")
        paths.append(report.write(folder / ATTENTION_FILE))
    return report, paths


def run_interventions(run_dir, *, hooks: Sequence[str] | None = None,
                      num_pairs: int = DEFAULT_PAIRS, seed: int = 0, step: int | None = None,
                      force: bool = False, progress: Callable[[str], None] | None = None
                      ) -> tuple[InterventionReport, list[Path]]:
    """Belief interventions at each hook of a run; writes ``mechanisms/interventions.json``, the
    probabilities (``interventions.npz``) and the figure.

    Raises:
        FileExistsError: ``interventions.json`` exists and ``force`` is False.
    """
    run = load_run(run_dir)
    with run.lock("compmech intervene"):
        folder = _folder(run_dir, INTERVENTIONS_FILE, force)
        report, effects, pairs = analyze_interventions(run, hooks=hooks, num_pairs=num_pairs,
                                                       seed=seed, step=step, progress=progress)
        arrays = {"sequence": pairs.sequence, "position": pairs.position,
                  "beliefs": pairs.beliefs, "targets": pairs.targets}
        for hook, e in effects.items():
            arrays[f"{hook}/predicted"] = e.predicted.astype(np.float32)
            for c, q in e.probs.items():
                arrays[f"{hook}/probs/{c}"] = q.astype(np.float32)
            for c, kl in e.kl_bits.items():
                arrays[f"{hook}/kl_bits/{c}"] = kl
        with atomic_output(folder / "interventions.npz") as fh:
            np.savez_compressed(fh, **arrays)
        paths = [folder / "interventions.npz"]
        paths += figures.save(intervention_figure(report, effects, seed),
                              folder / "intervention_probabilities")
        paths.append(report.write(folder / INTERVENTIONS_FILE))
    return report, paths


__all__ = [
    "ATTENTION_FILE",
    "INTERVENTIONS_FILE",
    "MECHANISMS_DIR",
    "attention_figure",
    "intervention_figure",
    "run_attention_analysis",
    "run_interventions",
]
