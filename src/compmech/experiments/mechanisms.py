"""Write a run's mechanism analyses into ``RUN_DIR/mechanisms/``: the attention analysis
(:mod:`compmech.pipeline.mechanisms`) and the belief interventions
(:mod:`compmech.pipeline.interventions`, :mod:`compmech.pipeline.intervention_runs`), each as
JSON, arrays and a figure.

Files: ``attention.json``, ``attention_patterns.npz`` (``layer_{l}``: ``(n_heads, P, P)`` mean
patterns over the process positions), ``attention_vs_distance.{png,pdf}``; ``interventions.json``,
``interventions.npz`` (per hook: the theory's and the model's next-token probabilities of every
pair and condition), ``intervention_probabilities.{png,pdf}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from compmech.files import atomic_output
from compmech.pipeline import figures
from compmech.pipeline.intervention_records import (
    InterventionReport,
    InterventionSeedReport,
    seed_summary,
)
from compmech.pipeline.intervention_runs import DEFAULT_PAIRS, analyze_interventions
from compmech.pipeline.interventions import InterventionEffects
from compmech.pipeline.mechanisms import (
    AttentionReport,
    HeadAttention,
    analyze_attention,
)
from transformer import load_run

MECHANISMS_DIR = "mechanisms"
ATTENTION_FILE = "attention.json"
INTERVENTIONS_FILE = "interventions.json"
#: The spread over seeds of several runs' interventions (in an ensemble's directory).
INTERVENTION_SEEDS_FILE = "interventions_seeds.json"
#: Pairs drawn per panel of the intervention figure.
FIGURE_PAIRS = 600


# -------------------------------------------------------------------------------- figures
def anchored_decay(rate: float, profile, distances: np.ndarray) -> np.ndarray:
    """``C rate^k`` at ``distances``, ``C`` chosen so that the curve meets the profile's geometric
    mean over the distances ``k >= 1`` it has: slopes on a log axis compare, offsets do not."""
    prof = np.asarray(profile, dtype=np.float64)
    ks = np.arange(1, prof.size)
    ok = np.isfinite(prof[ks]) & (prof[ks] > 0)
    if not ok.any() or not rate > 0:
        return np.full(distances.shape, np.nan)
    log_c = np.mean(np.log(prof[ks][ok]) - ks[ok] * math.log(rate))
    return np.exp(log_c + distances * math.log(rate))


def _head_panel(ax, head: HeadAttention, lam: float | None, positions: int,
                rho_star: float | None = None) -> None:
    k = np.arange(positions)
    ks = np.arange(1, positions)
    ax.semilogy(k, head.profile, "o", color="black", ms=4, label="model (mean over inputs)")
    fit = head.fit if head.best_parity == "all" else head.parity_fits[head.best_parity]
    if fit.rate is not None and math.isfinite(fit.rate):
        ax.semilogy(ks, anchored_decay(fit.rate, head.profile, ks), "-", color="tab:blue",
                    label=f"fit rho={fit.rate:.3f} ({fit.parity}; log scale, s<t, s>0), R2 "
                          + ("n/a" if fit.explained is None else f"{fit.explained:.2f}"))
    if lam is not None and lam != 0:
        ax.semilogy(ks, anchored_decay(abs(lam), head.profile, ks), "--", color="tab:red",
                    label=f"|lambda|={abs(lam):.3f}" + (" (lambda < 0)" if lam < 0 else "")
                    + " (weak emission)")
    if rho_star is not None:
        ax.semilogy(ks, anchored_decay(rho_star, head.profile, ks), ":", color="tab:green",
                    label=f"rho*={rho_star:.3f} (constrained update)")
    ax.set_title(f"layer {head.layer}, head {head.head}", fontsize=9)
    ax.set_xlabel("distance t - s")
    ax.set_ylim(max(1e-4, 0.3 * np.nanmin(np.maximum(head.profile, 1e-4))), 1.5)
    ax.legend(fontsize=6, loc="lower left")


def attention_figure(report: AttentionReport, layers: Sequence[int] | None = None) -> Figure:
    """Mean attention by distance per head (rows: layers, columns: heads; :func:`distance_profile`)
    with the fitted decay, ``|lambda|^k`` and ``rho*^k`` drawn through the profile's distances
    ``k >= 1`` (:func:`anchored_decay`: on the log axis their slopes compare with the data's)."""
    heads = [h for h in report.heads if layers is None or h.layer in layers]
    if not heads:
        raise ValueError("no heads to draw")
    rows = sorted({h.layer for h in heads})
    cols = max(h.head for h in heads) + 1
    one_row = cols == 1  # one head per layer: the layers side by side
    shape = (1, len(rows)) if one_row else (len(rows), cols)
    fig = Figure(figsize=(3.0 * shape[1], 2.6 * shape[0]), layout="constrained")
    axes = fig.subplots(*shape, squeeze=False)
    positions = len(heads[0].profile)
    for h in heads:
        ax = axes[0, rows.index(h.layer)] if one_row else axes[rows.index(h.layer), h.head]
        _head_panel(ax, h, report.theory_lambda, positions, report.theory_rho_star)
    for ax in axes[:, 0]:
        ax.set_ylabel("mean attention")
    fig.suptitle(f"{report.process} {report.process_params}: attention vs distance", fontsize=10)
    return fig


def _subsample(n: int, k: int, seed: int) -> np.ndarray:
    return np.arange(n) if n <= k else np.sort(np.random.default_rng(seed).choice(n, k, replace=False))


#: The intervention figure's rows: (condition, its random control, label, colour).
FIGURE_ROWS = (("intervened", "random", "minimum-norm change", "tab:blue"),
               ("intervened_cov", "random_cov", "least change in the activations' metric",
                "tab:orange"))


def intervention_figure(report: InterventionReport, arrays: dict[str, dict], seed: int = 0) -> Figure:
    """Per hook (columns) and kind of change (rows: Euclidean minimum norm; activations' metric):
    the theory's ``P(x | eta*)`` against the model's next-token probability after the
    intervention (colour) and after the random change of the same norm (grey).

    Args:
        report: the intervention report.
        arrays: ``{hook: {"predicted": (N, V), "probs": {condition: (N, V')}}}``
            (:func:`intervention_arrays` or :func:`load_intervention_arrays`).
        seed: seed of the drawn pairs.
    """
    hooks = list(arrays)
    rows = [r for r in FIGURE_ROWS if all(r[0] in arrays[h]["probs"] for h in hooks)]
    fig = Figure(figsize=(2.3 * len(hooks), 2.4 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(hooks), squeeze=False)
    for j, hook in enumerate(hooks):
        a, summary = arrays[hook], report.hooks[hook]
        idx = _subsample(a["predicted"].shape[0], FIGURE_PAIRS, seed)
        V = a["predicted"].shape[1]
        p = a["predicted"][idx].ravel()
        for i, (cond, control, label, colour) in enumerate(rows):
            ax = axes[i, j]
            ax.plot([0, 1], [0, 1], color="black", lw=0.8)
            ax.scatter(p, a["probs"][control][idx, :V].ravel(), s=1.5, color="0.65", alpha=0.5,
                       rasterized=True, label="random, same norm")
            ax.scatter(p, a["probs"][cond][idx, :V].ravel(), s=1.5, color=colour, alpha=0.5,
                       rasterized=True, label=label)
            m = summary.mean_kl_bits
            ax.set_title(f"{summary.label}: KL {m[cond]:.3f}\n(random {m[control]:.3f}, none "
                         f"{m['none']:.3f} bits)", fontsize=7)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel("model P(next token)", fontsize=7)
                ax.legend(fontsize=5, loc="upper left", markerscale=4)
            if i == len(rows) - 1:
                ax.set_xlabel("theory P(x | eta*)", fontsize=7)
    return fig


def intervention_arrays(effects: dict[str, InterventionEffects]) -> dict[str, dict]:
    """The figure's arrays of in-memory effects."""
    return {h: {"predicted": e.predicted, "probs": e.probs} for h, e in effects.items()}


def load_intervention_arrays(run_dir) -> dict[str, dict]:
    """The figure's arrays from ``mechanisms/interventions.npz``."""
    out: dict[str, dict] = {}
    with np.load(Path(run_dir) / MECHANISMS_DIR / "interventions.npz") as data:
        for key in data.files:
            if "/" not in key:
                continue
            hook, kind, *rest = key.split("/")
            entry = out.setdefault(hook, {"probs": {}})
            if kind == "predicted":
                entry["predicted"] = data[key]
            elif kind == "probs":
                entry["probs"][rest[0]] = data[key]
    return out


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
        paths += figures.save(intervention_figure(report, intervention_arrays(effects), seed),
                              folder / "intervention_probabilities")
        paths.append(report.write(folder / INTERVENTIONS_FILE))
    return report, paths


def run_intervention_seeds(run_dirs: Sequence, *, summary_path=None, force: bool = False,
                           progress: Callable[[str], None] | None = None, **options
                           ) -> tuple[list[InterventionReport], InterventionSeedReport]:
    """:func:`run_interventions` on each run (seeds of one recipe), then their spread over seeds
    (:func:`~compmech.pipeline.intervention_records.seed_summary`), written to ``summary_path``
    when given.

    Args:
        run_dirs: run directories (at least one).
        summary_path: where to write the :class:`InterventionSeedReport` (``None``: not written).
        force: overwrite each run's ``interventions.json``.
        progress: progress lines.
        **options: ``hooks``, ``num_pairs``, ``seed``, ``step`` for every run.
    """
    if not run_dirs:
        raise ValueError("give at least one run directory")
    reports = []
    for run_dir in run_dirs:
        if progress:
            progress(f"run {run_dir}")
        reports.append(run_interventions(run_dir, force=force, progress=progress, **options)[0])
    summary = seed_summary(reports)
    if summary_path is not None:
        summary.write(summary_path)
    return reports, summary


__all__ = [
    "ATTENTION_FILE",
    "INTERVENTIONS_FILE",
    "INTERVENTION_SEEDS_FILE",
    "MECHANISMS_DIR",
    "anchored_decay",
    "attention_figure",
    "intervention_arrays",
    "intervention_figure",
    "load_intervention_arrays",
    "run_attention_analysis",
    "run_intervention_seeds",
    "run_interventions",
]
