"""The process sweep: how does the learned geometry track the theory across a family of processes?

:func:`run_sweep` trains one model per Mess3 ``(x, alpha)`` grid point (plus Z1R, RRXOR, even and
golden mean) and reports the theory's and the learned fractal dimensions and the probe MSE, with
heat maps over the grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compmech.files import atomic_write_text
from compmech.pipeline import figures
from compmech.pipeline.jobs import (
    PROBE_COLUMNS,
    ExperimentSummary,
    Job,
    JobResult,
    config_with,
    markdown_table,
    recipe,
    run_experiment,
)
from compmech.pipeline.records import get_field
from compmech.pipeline.reports import environment, failure_lines, invocation_text
from compmech.processes import get_process

#: Mess3 grid of the sweep: ``x`` (rows) and ``alpha`` (columns); includes the paper's (0.05, 0.85).
DEFAULT_X = (0.05, 0.10, 0.15, 0.20, 0.25)
DEFAULT_ALPHA = (0.45, 0.55, 0.65, 0.75, 0.85)
#: Other processes of the sweep's summary table (catalogue defaults).
DEFAULT_EXTRAS = ("z1r", "rrxor", "even", "golden_mean")

SWEEP_COLUMNS = (
    ("point", "name", "s"),
    *PROBE_COLUMNS,
    ("resolution", "geometry.resolution", ".3g"),
    ("null resolution", "geometry.null_resolution", ".3g"),
    ("levels resolved", "geometry.levels_resolved", ".2f"),
    ("theory dim >= res", "geometry.dimension_true", ".2f"),
    ("learned dim >= res", "geometry.dimension_predicted", ".2f"),
    ("theory KY dim", "dimensions.theory.kaplan_yorke", ".2f"),
    ("learned box dim, all scales", "dimensions.learned.box_counting.dimension", ".2f"),
    ("kNN resolution", "decoder_geometry.knn.resolution", ".3g"),
    ("kNN levels", "decoder_geometry.knn.levels_resolved", ".2f"),
    ("kNN learned dim >= res", "decoder_geometry.knn.dimension_predicted", ".2f"),
    ("minutes", "seconds", ".1f"),
)
#: Nonlinear decoders of every sweep point (beside the linear probe, on novel-prefix points).
DEFAULT_DECODERS = ("knn",)
#: ``(name, x path, y path)`` of the rank correlations across the Mess3 grid in the summary.
RANK_CORRELATIONS = (
    ("theory_vs_learned_dimension", "geometry.dimension_true", "geometry.dimension_predicted"),
    ("kaplan_yorke_vs_learned_dimension", "dimensions.theory.kaplan_yorke",
     "geometry.dimension_predicted"),
    ("kaplan_yorke_vs_theory_dimension", "dimensions.theory.kaplan_yorke",
     "geometry.dimension_true"),
    ("kaplan_yorke_vs_levels_resolved", "dimensions.theory.kaplan_yorke",
     "geometry.levels_resolved"),
    ("theory_vs_knn_dimension", "decoder_geometry.knn.dimension_true",
     "decoder_geometry.knn.dimension_predicted"),
)


def sweep_jobs(xs: Sequence[float] = DEFAULT_X, alphas: Sequence[float] = DEFAULT_ALPHA,
               extras: Sequence[str] = DEFAULT_EXTRAS, *, minutes_per_point: float | None = 2.0,
               steps: int | None = None, base_config=None, seed: int = 0,
               device: str | None = None, decoders: Sequence[str] = DEFAULT_DECODERS) -> list[Job]:
    """The sweep's jobs: Mess3 at every ``(x, alpha)`` and each extra catalogue process.

    Every point trains the same model shape (``base_config.model`` with ``d_vocab`` set to the
    process's vocabulary) for ``minutes_per_point`` (or exactly ``steps``), on ``device``
    (default: ``base_config``'s); each probe also fits ``decoders`` at the headline hook.
    """
    if steps is None and minutes_per_point is None:
        raise ValueError("give minutes_per_point or steps")
    overrides: dict[str, Any] = {"seed": int(seed), "minutes": minutes_per_point,
                                 "steps": int(steps) if steps is not None else 10_000_000}
    if device is not None:
        overrides["device"] = device
    base = config_with(base_config, overrides)
    points = [("mess3", {"x": float(x), "alpha": float(a)}, f"mess3_x{x:.3f}_a{a:.3f}")
              for x in xs for a in alphas]
    points += [(name, {}, name) for name in extras]
    jobs = []
    for process, params, name in points:
        hmm = get_process(process, **params)  # validates the parameters now
        model = base.model.replace(d_vocab=hmm.vocab_size + (1 if base.bos else 0))
        cfg = base.replace(process=process, process_params=params, model=model, hmm=None)
        jobs.append(Job(name, cfg.to_dict(), {"process": process, **params}, int(seed),
                        decoders=list(decoders)))
    return jobs


def run_sweep(out_dir, *, xs: Sequence[float] = DEFAULT_X, alphas: Sequence[float] = DEFAULT_ALPHA,
              extras: Sequence[str] = DEFAULT_EXTRAS, minutes_per_point: float | None = 2.0,
              steps: int | None = None, base_config=None, seed: int = 0, workers: int = 1,
              device: str | None = None, force: bool = False, progress: bool = False,
              log: Callable[[str], None] | None = print,
              decoders: Sequence[str] = DEFAULT_DECODERS) -> ExperimentSummary:
    """The process sweep: one trained model per Mess3 ``(x, alpha)`` point and per extra process.

    Prints one table line per point as it finishes (finished points of an earlier, interrupted
    invocation first), then writes heat maps, ``summary.json`` and ``README.md``.

    Args:
        out_dir: the experiment folder.
        xs, alphas: the Mess3 grid (rows ``x``, columns ``alpha``).
        extras: other catalogue processes (default parameters) for the summary table.
        minutes_per_point: training budget per point; ``None`` trains exactly ``steps``.
        steps: optimiser steps (see :func:`compmech.pipeline.bottleneck.bottleneck_jobs`).
        base_config: model/optimiser settings (:class:`transformer.TrainConfig`).
        seed: seed of every point.
        workers: parallel worker processes.
        device: training device, ``"cpu"``, ``"gpu"`` or ``"auto"`` (default: ``base_config``'s).
        force: rewrite a folder that holds an experiment with other settings.
        progress: training progress bars (serial mode).
        log: where table lines go.
        decoders: nonlinear decoders beside the linear probe (``()``: none).

    Returns:
        The :class:`~compmech.pipeline.jobs.ExperimentSummary` (also ``summary.json``).
    """
    out_dir = Path(out_dir)
    jobs = sweep_jobs(xs, alphas, extras, minutes_per_point=minutes_per_point, steps=steps,
                      base_config=base_config, seed=seed, device=device, decoders=decoders)
    manifest = {"experiment": "sweep", "xs": list(xs), "alphas": list(alphas), "extras": list(extras),
                "seed": seed, "minutes_per_point": minutes_per_point, "steps": steps,
                "decoders": list(decoders),
                "model": jobs[0].train_config["model"], "recipe": recipe(jobs[0].train_config)}
    done, outcome, wall = run_experiment(jobs, out_dir, manifest, SWEEP_COLUMNS, workers=workers,
                                         progress=progress, log=log, force=force)
    return write_sweep_report(out_dir, done, xs=list(xs), alphas=list(alphas), wall_seconds=wall,
                              computed=outcome.computed, failed=outcome.failed, workers=workers)


# ------------------------------------------------------------------------------------ report
def grid(results: Sequence[JobResult], xs, alphas, path: str, transform=None) -> np.ndarray:
    """``(len(xs), len(alphas))`` the value at ``path`` of each Mess3 point (NaN where missing)."""
    out = np.full((len(xs), len(alphas)), np.nan)
    index = {(round(r.labels.get("x", -1), 9), round(r.labels.get("alpha", -1), 9)): r
             for r in results if r.labels.get("process") == "mess3"}
    for i, x in enumerate(xs):
        for j, a in enumerate(alphas):
            r = index.get((round(float(x), 9), round(float(a), 9)))
            v = None if r is None else get_field(r, path)
            if v is not None:
                out[i, j] = transform(v) if transform else v
    return out


def rank_correlation(a, b) -> dict[str, Any]:
    """Spearman rank correlation of paired values (pairs with a missing value dropped).

    ``rho = 1 - 6 sum d_i^2 / (n (n^2 - 1))`` without ties (``d_i`` the rank differences); with ties
    the Pearson correlation of average ranks (:func:`scipy.stats.spearmanr`).

    Returns:
        ``{"spearman": rho or None, "p_value": two-sided p or None, "num_points": n}``; ``None``
        with fewer than 3 pairs or a constant side.
    """
    from scipy.stats import spearmanr

    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return {"spearman": None, "p_value": None, "num_points": n}
    res = spearmanr(x[ok], y[ok])
    return {"spearman": float(res.statistic), "p_value": float(res.pvalue), "num_points": n}


def sweep_statistics(results: Sequence[JobResult], xs, alphas) -> dict[str, Any]:
    """The rank correlations of :data:`RANK_CORRELATIONS` across the Mess3 grid points."""
    return {name: rank_correlation(grid(results, xs, alphas, a), grid(results, xs, alphas, b))
            for name, a, b in RANK_CORRELATIONS}


def _log10(v: float) -> float:
    return math.log10(max(v, 1e-300))


def _report_figures(out_dir: Path, results: Sequence[JobResult], xs, alphas,
                    statistics: dict[str, Any]) -> list[Path]:
    maps = [
        ("theory: correlation dim of the true cloud\n(scales above the resolution)",
         grid(results, xs, alphas, "geometry.dimension_true"), ".2f", True),
        ("learned: correlation dim above the resolution\n(probe's held-out predictions)",
         grid(results, xs, alphas, "geometry.dimension_predicted"), ".2f", True),
        ("log10 resolution (belief-plane distance)",
         grid(results, xs, alphas, "geometry.resolution", _log10), ".2f", False),
        ("levels resolved = ln(resolution) / lambda_1",
         grid(results, xs, alphas, "geometry.levels_resolved"), ".2f", False),
    ]
    files = figures.save(figures.heatmaps(maps, xs, alphas), out_dir / "sweep_heatmaps")
    extra = [
        ("theory: Kaplan-Yorke dimension",
         grid(results, xs, alphas, "dimensions.theory.kaplan_yorke"), ".2f", True),
        ("learned: box-counting dim, all scales\n(the probe's error dominates fine scales)",
         grid(results, xs, alphas, "dimensions.learned.box_counting.dimension"), ".2f", True),
        ("log10 held-out probe MSE", grid(results, xs, alphas, "probe.mse_test", _log10), ".2f",
         False),
    ]
    files += figures.save(figures.heatmaps(extra, xs, alphas), out_dir / "sweep_heatmaps_reference")
    knn = [
        ("kNN points: theory correlation dim\n(scales above the kNN resolution)",
         grid(results, xs, alphas, "decoder_geometry.knn.dimension_true"), ".2f", True),
        ("kNN decoder: learned correlation dim\nabove its resolution",
         grid(results, xs, alphas, "decoder_geometry.knn.dimension_predicted"), ".2f", True),
        ("kNN decoder: log10 resolution",
         grid(results, xs, alphas, "decoder_geometry.knn.resolution", _log10), ".2f", False),
        ("linear probe, same points: log10 resolution",
         grid(results, xs, alphas, "decoder_geometry.linear.resolution", _log10), ".2f", False),
    ]
    if any(np.isfinite(g).any() for _, g, _, _ in knn):
        files += figures.save(figures.heatmaps(knn, xs, alphas), out_dir / "sweep_heatmaps_knn")
    points = []
    for r in results:
        t = get_field(r, "geometry.dimension_true")
        learned = get_field(r, "geometry.dimension_predicted")
        if t is not None and learned is not None:
            points.append((t, learned, r.name, r.labels.get("process") == "mess3"))
    rho = statistics["theory_vs_learned_dimension"]
    fig = figures.theory_vs_learned(
        points, xlabel="theory: correlation dim of the true cloud (same scales)",
        ylabel="learned: correlation dim above the resolution",
        title=f"Mess3 grid: Spearman rho = {_num(rho['spearman'], '.2f')} "
              f"({rho['num_points']} points)")
    return files + figures.save(fig, out_dir / "sweep_theory_vs_learned")


def _num(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def write_sweep_report(out_dir, results: Sequence[JobResult], *, xs, alphas, wall_seconds: float,
                       computed=(), failed=None, workers: int = 1) -> ExperimentSummary:
    """Heat maps, ``summary.json`` and ``README.md`` of the sweep in ``out_dir``."""
    out_dir = Path(out_dir)
    statistics = sweep_statistics(results, xs, alphas)
    files = _report_figures(out_dir, results, xs, alphas, statistics)
    first = results[0]
    summary = ExperimentSummary(
        experiment="sweep", settings={"xs": list(xs), "alphas": list(alphas), "model": first.model},
        rows=list(results), total_job_seconds=float(sum(r.seconds for r in results)),
        environment=environment(wall_seconds, computed, workers), failed=dict(failed or {}),
        files=[f.name for f in files] + ["summary.json", "README.md"], statistics=statistics)
    summary.write(out_dir / "summary.json")
    atomic_write_text(out_dir / "README.md",
                      _markdown(summary, results, [f for f in files if f.suffix == ".png"]))
    return summary


def _markdown(summary: ExperimentSummary, results: Sequence[JobResult], files) -> str:
    m, first = summary.settings["model"], results[0]
    budget = first.train.minutes_budget
    xs, alphas = summary.settings["xs"], summary.settings["alphas"]
    return "\n".join([
        "# Process sweep",
        "",
        f"Mess3 grid x in {xs} (rows) x alpha in {alphas} (columns), plus "
        f"{[r.name for r in results if r.labels.get('process') != 'mess3']}. One model per point: "
        f"{m['n_layers']} layers, d_model {m['d_model']}, {m['n_heads']} head(s) of {m['d_head']}, "
        f"d_mlp {m['d_mlp']}, n_ctx {m['n_ctx']}; training "
        + (f"{budget} min" if budget else f"{first.train.steps} steps") + " per point.",
        "",
        markdown_table(results, SWEEP_COLUMNS),
        "",
        *failure_lines(summary.failed),
        *_rank_lines(summary.statistics),
        "Resolution: the smallest scale (belief-plane distance) at and above which the probe's "
        "held-out predictions agree with the true beliefs (kernel distance within the tolerance "
        "calibrated on the sampling noise; `compmech.compare_geometry`); null resolution: the same "
        "for the true beliefs plus the probe's residuals permuted across points (what an "
        "unstructured error of that size allows). Levels resolved: ln(resolution) / lambda_1 "
        "(lambda_1 the top Lyapunov exponent), the tokens of history whose structure the "
        "representation resolves. Theory / learned dim >= res: correlation dimensions of the true "
        "and of the predicted cloud fitted only over scales above the resolution (n/a when less "
        "than about a decade of scales remains there). KY: Kaplan-Yorke (Lyapunov) dimension of "
        "the Blackwell measure (for a finite MSP the measure is atomic, dimension 0, but the "
        "formula gives h/|lambda_1| > 0). Learned box dim, all scales: the old estimate on the "
        "probe's predictions, fitted over all scales, so that below the resolution it measures the "
        "probe's error. kNN: a k-nearest-neighbour decoder of the same hook trained on the same "
        "training side and scored on the held-out points whose input prefix is not on the training "
        "side (`compmech.pipeline.decoders`); its resolution against the linear probe's on those "
        "points says whether the network holds finer structure than a linear read-out shows.",
        "",
        "## Figures", "", *[f"![{f.stem}]({f.name})" for f in files], "",
        f"Total job time {summary.total_job_seconds / 60:.1f} min; "
        f"{invocation_text(summary.environment)}.", "",
    ])


def _rank_lines(statistics: dict[str, Any]) -> list[str]:
    names = {"theory_vs_learned_dimension": "theory vs learned dimension above the resolution "
                                            "(same scales)",
             "kaplan_yorke_vs_learned_dimension": "Kaplan-Yorke vs learned dimension above the "
                                                  "resolution",
             "kaplan_yorke_vs_theory_dimension": "Kaplan-Yorke vs theory dimension (same scales)",
             "kaplan_yorke_vs_levels_resolved": "Kaplan-Yorke dimension vs levels resolved",
             "theory_vs_knn_dimension": "theory vs kNN-decoded dimension above the kNN "
                                        "resolution (held-out novel-prefix points)"}
    lines = ["Spearman rank correlations across the Mess3 grid:", ""]
    for key, label in names.items():
        r = statistics.get(key)
        if r is not None:
            lines.append(f"- {label}: rho = {_num(r['spearman'], '.3f')} (p = "
                         f"{_num(r['p_value'], '.2g')}, {r['num_points']} grid points with both)")
    return lines + [""]


__all__ = ["DEFAULT_ALPHA", "DEFAULT_DECODERS", "DEFAULT_EXTRAS", "DEFAULT_X", "RANK_CORRELATIONS",
           "SWEEP_COLUMNS", "grid", "rank_correlation", "run_sweep", "sweep_jobs", "sweep_statistics",
           "write_sweep_report"]
