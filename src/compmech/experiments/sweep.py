"""The process sweep: how does the learned geometry track the theory across a family of processes?

:func:`run_sweep` trains one model per Mess3 ``(x, alpha)`` grid point (plus Z1R, RRXOR, even and
golden mean) and reports the theory's and the learned fractal dimensions and the probe MSE, with
heat maps over the grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compmech.experiments.reports import environment, failure_lines, invocation_text
from compmech.experiments.results import ExperimentSummary, Job, JobResult
from compmech.experiments.runner import config_with, recipe, run_experiment
from compmech.experiments.tables import (
    MINUTES_COLUMN,
    PROBE_COLUMNS,
    Column,
    markdown_table,
    of_geometry,
)
from compmech.figures.common import save
from compmech.figures.panels import heatmaps, theory_vs_learned
from compmech.files import atomic_write_text
from compmech.formatting import fmt
from compmech.probing.geometry import GeometryRecord
from compmech.processes import get_process
from compmech.records import Record, optional
from transformer import TrainConfig

#: Mess3 grid of the sweep: ``x`` (rows) and ``alpha`` (columns); includes the paper's (0.05, 0.85).
DEFAULT_X = (0.05, 0.10, 0.15, 0.20, 0.25)
DEFAULT_ALPHA = (0.45, 0.55, 0.65, 0.75, 0.85)
#: Other processes of the sweep's summary table (catalogue defaults).
DEFAULT_EXTRAS = ("z1r", "rrxor", "even", "golden_mean")

def of_decoder(decoder: str, value: Callable[[GeometryRecord], Any]) -> Callable[[JobResult], Any]:
    """A reader of ``value`` of a result's geometry of ``decoder`` on the novel-prefix points
    (``"linear"``, ``"knn"``, ``"markov_5"``, ...): ``None`` where that decoder did not run or had
    no geometry."""

    def geometry(r: JobResult) -> GeometryRecord | None:
        return None if r.decoder_geometry is None else r.decoder_geometry.get(decoder)

    return optional(geometry, value)


#: A result's Kaplan-Yorke dimension of the Blackwell measure (``None`` when not computed).
_kaplan_yorke = optional(lambda r: r.dimensions, lambda d: d.kaplan_yorke)

SWEEP_COLUMNS = (
    Column("point", lambda r: r.name, "s"),
    *PROBE_COLUMNS,
    Column("paired resolution", of_geometry(lambda g: g.resolution), ".3g"),
    Column("null resolution", of_geometry(lambda g: g.null_resolution), ".3g"),
    Column("equivalent history (tokens)", of_geometry(lambda g: g.equivalent_history), ".2f"),
    Column("cloud dim >= res: true", of_geometry(lambda g: g.dimension_true), ".2f"),
    Column("cloud dim >= res: probe", of_geometry(lambda g: g.dimension_predicted), ".2f"),
    Column("Blackwell KY dim", _kaplan_yorke, ".2f"),
    Column("novel prefixes: linear history",
           of_decoder("linear", lambda g: g.equivalent_history), ".2f"),
    Column("kNN history", of_decoder("knn", lambda g: g.equivalent_history), ".2f"),
    Column("kNN resolution", of_decoder("knn", lambda g: g.resolution), ".3g"),
    Column("Markov-5 lookup resolution",
           of_decoder("markov_5", lambda g: g.resolution), ".3g"),
    MINUTES_COLUMN,
)
#: Nonlinear decoders of every sweep point (beside the linear probe, on novel-prefix points).
DEFAULT_DECODERS = ("knn",)
#: ``(name, x, y)`` of the rank correlations across the Mess3 grid in the summary (``x`` and ``y``
#: read a value of a result, ``None`` where it is missing).
#: Each cross-process relation sits beside the same statistic for a network-free baseline (the
#: exact Markov-5 lookup on the same points), which needs no network to reach the same value.
RANK_CORRELATIONS: tuple[tuple[str, Callable[[JobResult], Any], Callable[[JobResult], Any]], ...] = (
    ("theory_vs_learned_dimension", of_geometry(lambda g: g.dimension_true),
     of_geometry(lambda g: g.dimension_predicted)),
    ("theory_vs_markov5_dimension", of_decoder("markov_5", lambda g: g.dimension_true),
     of_decoder("markov_5", lambda g: g.dimension_predicted)),
    ("theory_vs_knn_dimension", of_decoder("knn", lambda g: g.dimension_true),
     of_decoder("knn", lambda g: g.dimension_predicted)),
)


@dataclass(frozen=True, kw_only=True)
class SweepConfig(Record):
    """What the process sweep trains (:func:`sweep_jobs`): Mess3 at every ``(x, alpha)`` of the
    grid and each extra catalogue process, every point the same model shape
    (``base_config.model`` with ``d_vocab`` set to the process's vocabulary).

    Attributes:
        xs: the Mess3 grid's ``x`` values (rows).
        alphas: the Mess3 grid's ``alpha`` values (columns).
        extras: other catalogue processes (default parameters) for the summary table.
        minutes_per_point: training budget per point, in minutes; ``None`` trains exactly
            ``steps``.
        steps: optimiser steps (required when ``minutes_per_point`` is ``None``; with a budget it
            only bounds the warm-up measurement).
        base_config: model/optimiser settings (:class:`transformer.TrainConfig`; a dict is read as
            one; ``None``: ``TrainConfig()``).
        seed: seed of every point.
        device: training device, ``"cpu"``, ``"gpu"`` or ``"auto"`` (``None``: ``base_config``'s).
        decoders: nonlinear decoders fitted beside the linear probe at the headline hook
            (``()``: none).

    Raises:
        ValueError: neither a budget nor steps.
    """

    xs: tuple[float, ...] = DEFAULT_X
    alphas: tuple[float, ...] = DEFAULT_ALPHA
    extras: tuple[str, ...] = DEFAULT_EXTRAS
    minutes_per_point: float | None = 2.0
    steps: int | None = None
    base_config: TrainConfig | None = None
    seed: int = 0
    device: str | None = None
    decoders: tuple[str, ...] = DEFAULT_DECODERS

    def __post_init__(self):
        if self.steps is None and self.minutes_per_point is None:
            raise ValueError("give minutes_per_point or steps")
        set_ = object.__setattr__
        for name in ("xs", "alphas", "extras", "decoders"):
            set_(self, name, tuple(getattr(self, name)))
        if isinstance(self.base_config, Mapping):
            set_(self, "base_config", TrainConfig.from_dict(self.base_config))


def sweep_jobs(config: SweepConfig | None = None) -> list[Job]:
    """The sweep's jobs: Mess3 at every ``(x, alpha)`` and each extra catalogue process
    (:class:`SweepConfig`; ``None``: its defaults); each probe also fits the decoders."""
    c = SweepConfig() if config is None else config
    overrides: dict[str, Any] = {"seed": int(c.seed), "minutes": c.minutes_per_point,
                                 "steps": int(c.steps) if c.steps is not None else 10_000_000}
    if c.device is not None:
        overrides["device"] = c.device
    base = config_with(c.base_config, overrides)
    points = [("mess3", {"x": float(x), "alpha": float(a)}, mess3_point(x, a))
              for x in c.xs for a in c.alphas]
    points += [(name, {}, name) for name in c.extras]
    jobs = []
    for process, params, name in points:
        hmm = get_process(process, **params)  # validates the parameters now
        model = base.model.replace(d_vocab=hmm.vocab_size + (1 if base.bos else 0))
        cfg = base.replace(process=process, process_params=params, model=model, hmm=None)
        jobs.append(Job(name, cfg.to_dict(), {"process": process, **params}, int(c.seed),
                        decoders=list(c.decoders)))
    return jobs


def run_sweep(out_dir, config: SweepConfig | None = None, *, workers: int = 1, force: bool = False,
              progress: bool = False, log: Callable[[str], None] | None = print) -> ExperimentSummary:
    """The process sweep: one trained model per Mess3 ``(x, alpha)`` point and per extra process.

    Prints one table line per point as it finishes (finished points of an earlier, interrupted
    invocation first), then writes heat maps, ``summary.json`` and ``README.md``.

    Args:
        out_dir: the experiment folder.
        config: the grid, processes and training (:class:`SweepConfig`; ``None``: its defaults).
        workers: parallel worker processes.
        force: rewrite a folder that holds an experiment with other settings.
        progress: training progress bars (serial mode).
        log: where table lines go.

    Returns:
        The :class:`~compmech.experiments.results.ExperimentSummary` (also ``summary.json``).
    """
    c = SweepConfig() if config is None else config
    out_dir = Path(out_dir)
    jobs = sweep_jobs(c)
    manifest = {"experiment": "sweep", "xs": list(c.xs), "alphas": list(c.alphas),
                "extras": list(c.extras), "seed": c.seed, "minutes_per_point": c.minutes_per_point,
                "steps": c.steps, "decoders": list(c.decoders),
                "model": config_with(jobs[0].train_config, {}).model.to_dict(),
                "recipe": recipe(jobs[0].train_config)}
    done, outcome, wall = run_experiment(jobs, out_dir, manifest, SWEEP_COLUMNS, workers=workers,
                                         progress=progress, log=log, force=force)
    return write_sweep_report(out_dir, done, xs=list(c.xs), alphas=list(c.alphas),
                              wall_seconds=wall, computed=outcome.computed, failed=outcome.failed,
                              workers=workers)


def mess3_point(x: float, alpha: float) -> str:
    """The job name of the Mess3 grid point ``(x, alpha)``."""
    return f"mess3_x{x:.3f}_a{alpha:.3f}"


@dataclass
class SweepSettings(Record):
    """The sweep's grid and model (``summary.json`` ``settings``)."""

    xs: list[float]
    alphas: list[float]
    model: dict[str, Any]


@dataclass
class RankCorrelation(Record):
    """A Spearman rank correlation of paired values (:func:`rank_correlation`).

    Attributes:
        spearman: ``rho``, ``None`` with fewer than 3 pairs or a constant side.
        p_value: its two-sided p-value, ``None`` likewise.
        num_points: pairs with both values.
    """

    spearman: float | None
    p_value: float | None
    num_points: int


@dataclass
class SweepStatistics(Record):
    """The rank correlations of :data:`RANK_CORRELATIONS` across the Mess3 grid."""

    theory_vs_learned_dimension: RankCorrelation
    theory_vs_markov5_dimension: RankCorrelation
    theory_vs_knn_dimension: RankCorrelation


@dataclass
class SweepSummary(ExperimentSummary):
    """The sweep's ``summary.json``: :class:`ExperimentSummary` with typed settings and
    statistics."""

    settings: SweepSettings
    statistics: SweepStatistics | None = None


# ------------------------------------------------------------------------------------ report
def grid(results: Sequence[JobResult], xs, alphas, value: Callable[[JobResult], Any],
         transform=None) -> np.ndarray:
    """``(len(xs), len(alphas))`` the ``value`` of each Mess3 point's result (NaN where missing),
    through ``transform`` when given."""
    out = np.full((len(xs), len(alphas)), np.nan)
    index = {r.name: r for r in results if r.process == "mess3"}
    for i, x in enumerate(xs):
        for j, a in enumerate(alphas):
            r = index.get(mess3_point(x, a))
            v = None if r is None else value(r)
            if v is not None:
                out[i, j] = transform(v) if transform else v
    return out


def rank_correlation(a, b) -> RankCorrelation:
    """Spearman rank correlation of paired values (pairs with a missing value dropped).

    ``rho = 1 - 6 sum d_i^2 / (n (n^2 - 1))`` without ties (``d_i`` the rank differences); with ties
    the Pearson correlation of average ranks (:func:`scipy.stats.spearmanr`).

    Returns:
        :class:`RankCorrelation` (``rho`` and ``p`` are ``None`` with fewer than 3 pairs or a
        constant side).
    """
    from scipy.stats import spearmanr

    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return RankCorrelation(None, None, n)
    res = spearmanr(x[ok], y[ok])
    return RankCorrelation(float(res.statistic), float(res.pvalue), n)


def sweep_statistics(results: Sequence[JobResult], xs, alphas) -> SweepStatistics:
    """The rank correlations of :data:`RANK_CORRELATIONS` across the Mess3 grid points."""
    return SweepStatistics(**{
        name: rank_correlation(grid(results, xs, alphas, a), grid(results, xs, alphas, b))
        for name, a, b in RANK_CORRELATIONS})


def _log10(v: float) -> float:
    return math.log10(max(v, 1e-300))


def _report_figures(out_dir: Path, results: Sequence[JobResult], xs, alphas,
                    statistics: SweepStatistics) -> list[Path]:
    maps = [
        ("equivalent history (tokens): Markov-k lookup\nof the probe's error, same points",
         grid(results, xs, alphas, of_geometry(lambda g: g.equivalent_history)), ".2f", True),
        ("log10 paired resolution (belief-plane distance)",
         grid(results, xs, alphas, of_geometry(lambda g: g.resolution), _log10), ".2f", False),
        ("log10 null resolution (truth + permuted residuals)",
         grid(results, xs, alphas, of_geometry(lambda g: g.null_resolution), _log10), ".2f", False),
        ("log10 held-out probe MSE", grid(results, xs, alphas, lambda r: r.probe.mse_test, _log10), ".2f",
         False),
    ]
    files = save(heatmaps(maps, xs, alphas), out_dir / "sweep_heatmaps")
    extra = [
        ("probe cloud (these words): correlation dim\nof the true points above the resolution",
         grid(results, xs, alphas, of_geometry(lambda g: g.dimension_true)), ".2f", True),
        ("probe cloud: correlation dim of the\npredictions above the resolution",
         grid(results, xs, alphas, of_geometry(lambda g: g.dimension_predicted)), ".2f", True),
        ("process: Kaplan-Yorke dimension\nof the Blackwell measure",
         grid(results, xs, alphas, _kaplan_yorke), ".2f", True),
    ]
    files += save(heatmaps(extra, xs, alphas), out_dir / "sweep_heatmaps_reference")
    knn = [
        ("novel-prefix points: linear probe's\nequivalent history (tokens)",
         grid(results, xs, alphas, of_decoder("linear", lambda g: g.equivalent_history)), ".2f", True),
        ("kNN decoder: equivalent history (tokens)",
         grid(results, xs, alphas, of_decoder("knn", lambda g: g.equivalent_history)), ".2f", True),
        ("kNN decoder: log10 paired resolution",
         grid(results, xs, alphas, of_decoder("knn", lambda g: g.resolution), _log10), ".2f", False),
        ("Markov-5 lookup, same points:\nlog10 paired resolution",
         grid(results, xs, alphas, of_decoder("markov_5", lambda g: g.resolution), _log10), ".2f", False),
    ]
    if any(np.isfinite(g).any() for _, g, _, _ in knn):
        files += save(heatmaps(knn, xs, alphas), out_dir / "sweep_heatmaps_knn")
    points = []
    for r in results:
        t = None if r.geometry is None else r.geometry.dimension_true
        learned = None if r.geometry is None else r.geometry.dimension_predicted
        if t is not None and learned is not None:
            points.append((t, learned, r.name, r.process == "mess3"))
    rho = statistics.theory_vs_learned_dimension
    fig = theory_vs_learned(
        points, xlabel="true probe cloud: correlation dim (scales above the resolution)",
        ylabel="predicted probe cloud: correlation dim (same scales)",
        title=f"Mess3 grid: Spearman rho = {fmt(rho.spearman, '.2f')} "
              f"({rho.num_points} points)")
    return files + save(fig, out_dir / "sweep_theory_vs_learned")


def write_sweep_report(out_dir, results: Sequence[JobResult], *, xs, alphas, wall_seconds: float,
                       computed=(), failed=None, workers: int = 1) -> SweepSummary:
    """Heat maps, ``summary.json`` and ``README.md`` of the sweep in ``out_dir``."""
    out_dir = Path(out_dir)
    statistics = sweep_statistics(results, xs, alphas)
    files = _report_figures(out_dir, results, xs, alphas, statistics)
    first = results[0]
    summary = SweepSummary(
        experiment="sweep", settings=SweepSettings(list(xs), list(alphas), first.model),
        rows=list(results), total_job_seconds=float(sum(r.seconds for r in results)),
        environment=environment(wall_seconds, computed, workers), failed=dict(failed or {}),
        files=[f.name for f in files] + ["summary.json", "README.md"], statistics=statistics)
    summary.write(out_dir / "summary.json")
    atomic_write_text(out_dir / "README.md",
                      _markdown(summary, results, [f for f in files if f.suffix == ".png"]))
    return summary


def _markdown(summary: SweepSummary, results: Sequence[JobResult], files) -> str:
    first = results[0]
    m = first.model_config
    budget = first.train.minutes_budget
    xs, alphas = summary.settings.xs, summary.settings.alphas
    return "\n".join([
        "# Process sweep",
        "",
        f"Mess3 grid x in {xs} (rows) x alpha in {alphas} (columns), plus "
        f"{[r.name for r in results if r.process != 'mess3']}. One model per point: "
        f"{m.n_layers} layers, d_model {m.d_model}, {m.n_heads} head(s) of {m.d_head}, "
        f"d_mlp {m.d_mlp}, n_ctx {m.n_ctx}; training "
        + (f"{budget} min" if budget else f"{first.train.steps} steps") + " per point.",
        "",
        markdown_table(results, SWEEP_COLUMNS),
        "",
        *failure_lines(summary.failed),
        *_rank_lines(summary.statistics),
        "Paired resolution: the smallest scale (belief-plane distance) down to which at least "
        "half of the pairs of held-out points at that true distance keep it within a factor 1.25 "
        "in the probe's predictions (`compmech.compare_geometry`); null resolution: the same for "
        "the true beliefs plus the probe's residuals permuted across points (what an unstructured "
        "error of that size allows). Equivalent history: the k at which the exact "
        "Markov-k-plus-position lookup (the mean true belief given the position and the last k "
        "tokens, over all probe words) has the probe's error on the same points "
        "(`compmech.equivalent_history`); it summarises error in tokens, it does not say which "
        "tokens the network uses, and it is at most n_ctx. Compare it between networks on one "
        "process: across processes it also measures how fast the lookups' error falls with k (how "
        "quickly the process forgets), so a gradient over the grid is not by itself a statement "
        "about the networks (the probe MSE map beside it is). Cloud dims: correlation dimensions of "
        "the probe's point clouds (these words, equally weighted; not the process's Blackwell "
        "measure) fitted only above the resolution (n/a when less than about a decade of scales "
        "remains). Blackwell KY: the Kaplan-Yorke dimension of the process's Blackwell measure, a "
        "different measure, shown for reference only (0 when the process synchronises). Novel "
        "prefixes: held-out points whose input prefix is not on the training side, where the "
        "linear probe, a k-nearest-neighbour decoder of the same hook (`compmech.probing."
        "decoders`) and the exact Markov-5 lookup are scored side by side. A kNN decoder outputs "
        "averages of true training beliefs, so its cloud lies on the fractal whatever its error: "
        "read its equivalent history and paired resolution, not its dimension.",
        "",
        "## Figures", "", *[f"![{f.stem}]({f.name})" for f in files], "",
        f"Total job time {summary.total_job_seconds / 60:.1f} min; "
        f"{invocation_text(summary.environment)}.", "",
    ])


def _rank_lines(statistics: SweepStatistics) -> list[str]:
    rows = ((statistics.theory_vs_learned_dimension,
             "true vs probe-predicted cloud dimension above the resolution (same scales)"),
            (statistics.theory_vs_markov5_dimension,
             "network-free baseline: true vs Markov-5-lookup cloud dimension above its resolution "
             "(novel-prefix points)"),
            (statistics.theory_vs_knn_dimension,
             "true vs kNN-decoded cloud dimension above the kNN resolution (novel-prefix points)"))
    lines = ["Spearman rank correlations across the Mess3 grid (each beside the same statistic "
             "for a network-free baseline):", ""]
    for r, label in rows:
        lines.append(f"- {label}: rho = {fmt(r.spearman, '.3f')} (p = "
                     f"{fmt(r.p_value, '.2g')}, {r.num_points} grid points with both)")
    return lines + [""]


__all__ = ["DEFAULT_ALPHA", "DEFAULT_DECODERS", "DEFAULT_EXTRAS", "DEFAULT_X", "RANK_CORRELATIONS",
           "SWEEP_COLUMNS", "RankCorrelation", "SweepConfig", "SweepSettings", "SweepStatistics",
           "SweepSummary", "grid", "mess3_point", "of_decoder", "rank_correlation", "run_sweep",
           "sweep_jobs",
           "sweep_statistics", "write_sweep_report"]
