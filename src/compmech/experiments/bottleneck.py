"""The bottleneck experiment: what happens to the belief geometry when the residual stream is too
narrow to hold it?

:func:`run_bottleneck` trains the Mess3 model with ``d_model`` narrowed to each width (heads,
``d_head`` and ``d_mlp`` stay the paper's) and reports, per width, the loss gap to the optimum per
position, the held-out probe MSE beside the shuffle control and the untrained network, and the
probe's paired resolution with the dimensions of the true and predicted clouds above it. For
width 1 it studies the single coordinate itself
(:func:`compmech.probing.structure1d.structure_1d`) at every checkpoint, beside the MSP projected
onto its best 1-D linear direction. Because a pre-LayerNorm network cannot use a width-1 stream
at all (see below), a second variant keeps the paper's model and inserts a linear
bottleneck of width 1 after its last block (the registered model ``linear_bottleneck``, trained by
the same loop, so it resumes like any run); its one coordinate ``z`` is what the 1-D analysis is
really about.

A note on tiny widths (measured, and visible in the results): the model is pre-LayerNorm, and
LayerNorm of a width-1 vector is its bias alone (``x - mean(x) = 0``). At ``d_model = 1`` every block
therefore reads a constant, attention and MLP add constants, and the final LayerNorm makes the logits
constant: the network is a unigram model whose residual coordinate is ``W_E[x_t] + W_pos[t] +
const`` (at most ``V * n_ctx`` distinct values); and as no gradient crosses that LayerNorm, the
embeddings never move (``max_abs_change_from_first`` in the width-1 results). At ``d_model = 2``
LayerNorm outputs only a soft sign of ``x_0 - x_1``; at ``d_model = d`` its output lies on a
``(d - 2)``-sphere (mean and norm removed), so a 3-state process's 2-D belief simplex can first be
read at ``d_model = 4``. The report says so next to the numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compmech.experiments.reports import environment, failure_lines, invocation_text
from compmech.experiments.results import ExperimentSummary, Job, JobResult, load_figure_data
from compmech.experiments.runner import config_with, recipe, run_experiment
from compmech.experiments.tables import (
    MINUTES_COLUMN,
    PROBE_COLUMNS,
    Column,
    markdown_table,
    of_geometry,
)
from compmech.figures.clouds import panel_grid, side_by_side
from compmech.figures.common import save
from compmech.figures.panels import (
    bottleneck_metrics,
    coordinate_1d,
    loss_gap_per_position,
    structure_over_training,
)
from compmech.files import atomic_write_text
from compmech.formatting import fmt
from compmech.processes import get_process
from compmech.records import Record
from transformer import LinearBottleneckConfig, ModelConfig, TrainConfig

#: Residual-stream widths of the bottleneck experiment.
DEFAULT_WIDTHS = (1, 2, 3, 4, 8, 16, 64)

#: The printed/markdown tables' columns.
BOTTLENECK_COLUMNS = (
    Column("variant", lambda r: _labels(r).variant, "s"),
    Column("width", lambda r: _labels(r).width, "d"),
    *PROBE_COLUMNS,
    Column("paired resolution", of_geometry(lambda g: g.resolution), ".3g"),
    Column("cloud dim >= res: true", of_geometry(lambda g: g.dimension_true), ".2f"),
    Column("cloud dim >= res: probe", of_geometry(lambda g: g.dimension_predicted), ".2f"),
    MINUTES_COLUMN,
)


@dataclass
class BottleneckLabels(Record):
    """A bottleneck job's labels: ``"residual"`` (``d_model = width``) or ``"linear"`` (a linear
    bottleneck of ``width`` after the last block)."""

    width: int
    variant: str = "residual"


@dataclass
class BottleneckSettings(Record):
    """The bottleneck experiment's settings (``summary.json`` ``settings``)."""

    process: str
    process_params: dict[str, Any]
    num_states: int
    model_except_width: dict[str, Any]


@dataclass
class BottleneckSummary(ExperimentSummary):
    """The bottleneck experiment's ``summary.json``."""

    settings: BottleneckSettings


def _distinct_widths(what: str, ws: Sequence[int], allow_empty: bool) -> tuple[int, ...]:
    ws = tuple(int(w) for w in ws)
    if (not ws and not allow_empty) or len(set(ws)) != len(ws) or (ws and min(ws) < 1):
        raise ValueError(f"{what} must be distinct positive integers; got {list(ws)}")
    return ws


@dataclass(frozen=True, kw_only=True)
class BottleneckConfig(Record):
    """What the bottleneck experiment trains and analyses (:func:`bottleneck_jobs`).

    * ``"residual"`` variant, one job per width in ``widths``: ``d_model = width``, the rest of the
      model (heads, ``d_head``, ``d_mlp``, layers) and the training as ``base_config``.
    * ``"linear"`` variant, one job per width in ``linear_widths``: the ``base_config`` model
      (d_model 64 by default) with a linear bottleneck of that width after its last block
      (:class:`transformer.LinearBottleneckConfig`).

    Attributes:
        widths: residual-stream widths (distinct positive integers).
        linear_widths: bottleneck widths of the linear variant (``()`` for none).
        minutes_per_width: wall-clock training budget per job, in minutes
            (``TrainConfig.minutes``); ``None`` trains for exactly ``steps``.
        steps: optimiser steps (required when ``minutes_per_width`` is ``None``; with a budget it
            only bounds the warm-up measurement).
        process: the catalogue process (default: the paper's Mess3).
        process_params: its parameters (default: the catalogue's, the paper's Mess3 values).
        base_config: the :class:`transformer.TrainConfig` (a dict is read as one) whose model and
            optimiser settings are used (``None``: ``TrainConfig()``).
        seed: seed of initialisation, data, probe split and subsamples.
        max_checkpoints: checkpoints analysed for a width-1 coordinate over training.
        device: ``"cpu"``, ``"gpu"`` or ``"auto"`` for training (``None``: ``base_config``'s).

    Raises:
        ValueError: widths that are not distinct positive integers, neither a budget nor steps,
            or ``max_checkpoints < 1``.
    """

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    linear_widths: tuple[int, ...] = (1,)
    minutes_per_width: float | None = 2.0
    steps: int | None = None
    process: str = "mess3"
    process_params: dict[str, Any] = field(default_factory=dict)
    base_config: TrainConfig | None = None
    seed: int = 0
    max_checkpoints: int = 8
    device: str | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "widths", _distinct_widths("widths", self.widths, False))
        set_(self, "linear_widths", _distinct_widths("linear_widths", self.linear_widths, True))
        if self.steps is None and self.minutes_per_width is None:
            raise ValueError("give minutes_per_width or steps")
        if int(self.max_checkpoints) < 1:
            raise ValueError(f"max_checkpoints must be >= 1; got {self.max_checkpoints}")
        set_(self, "process_params", dict(self.process_params or {}))
        if isinstance(self.base_config, Mapping):
            set_(self, "base_config", TrainConfig.from_dict(self.base_config))


def bottleneck_jobs(config: BottleneckConfig | None = None) -> list[Job]:
    """The bottleneck experiment's jobs: one per residual width and one per linear-bottleneck
    width (:class:`BottleneckConfig`; ``None``: its defaults)."""
    c = BottleneckConfig() if config is None else config
    hmm = get_process(c.process, **c.process_params)
    overrides: dict[str, Any] = {"process": c.process, "process_params": dict(c.process_params),
                                 "seed": int(c.seed), "minutes": c.minutes_per_width,
                                 "steps": int(c.steps) if c.steps is not None else 10_000_000}
    if c.device is not None:
        overrides["device"] = c.device
    cfg = config_with(c.base_config, overrides)
    model = ModelConfig.from_dict({**cfg.model.to_dict(), "arch": "transformer",
                                   "d_vocab": hmm.vocab_size + (1 if cfg.bos else 0)})
    jobs = [Job(f"width_{w:03d}", cfg.replace(model=model.replace(d_model=w)).to_dict(),
                BottleneckLabels(w, "residual").to_dict(), int(c.seed), analyse_1d=w == 1,
                max_checkpoints=int(c.max_checkpoints)) for w in c.widths]
    for w in c.linear_widths:
        linear = LinearBottleneckConfig(**_model_fields(model, w))
        jobs.append(Job(f"linear_{w:03d}", cfg.replace(model=linear, bos=False).to_dict(),
                        BottleneckLabels(w, "linear").to_dict(), int(c.seed), analyse_1d=w == 1,
                        max_checkpoints=int(c.max_checkpoints)))
    return jobs


def _model_fields(model: ModelConfig, width: int) -> dict[str, Any]:
    return {**model.to_dict(), "arch": "linear_bottleneck", "bottleneck_width": width}


def run_bottleneck(out_dir, config: BottleneckConfig | None = None, *, workers: int = 1,
                   force: bool = False, progress: bool = True,
                   log: Callable[[str], None] | None = print) -> ExperimentSummary:
    """The bottleneck experiment: train at each residual width (and the linear-bottleneck variant at
    each of ``linear_widths``), analyse, write the report folder.

    Resumable: a width whose ``results/width_WWW.json`` exists is not redone, an interrupted training
    run continues from its last state. The report (``summary.json``, ``README.md``, figures) is
    rebuilt from all results at the end.

    Args:
        out_dir: the experiment folder (created).
        config: what to train and analyse (:class:`BottleneckConfig`; ``None``: its defaults).
        workers: parallel worker processes (1 = in this process).
        force: rewrite a folder that holds an experiment with other settings (results of widths
            already finished are still reused; delete them to redo).
        progress: training progress bars (serial mode).
        log: where table lines go (``None`` = silent).

    Returns:
        The :class:`~compmech.experiments.results.ExperimentSummary` (also ``out_dir/summary.json``).

    Example:
        >>> run_bottleneck("reports/bn", BottleneckConfig(widths=(1, 2, 3, 64),
        ...                                                minutes_per_width=1.0))  # doctest: +SKIP
    """
    c = BottleneckConfig() if config is None else config
    out_dir = Path(out_dir)
    jobs = bottleneck_jobs(c)
    model = {k: v for k, v in config_with(jobs[0].train_config, {}).model.to_dict().items()
             if k not in ("d_model", "arch")}
    manifest = {"experiment": "bottleneck", "process": c.process,
                "process_params": dict(c.process_params), "seed": c.seed,
                "minutes_per_width": c.minutes_per_width, "steps": c.steps, "model": model,
                "recipe": recipe(jobs[0].train_config)}
    done, outcome, wall = run_experiment(jobs, out_dir, manifest, BOTTLENECK_COLUMNS,
                                         workers=workers, progress=progress, log=log, force=force)
    return write_bottleneck_report(out_dir, done, wall_seconds=wall, computed=outcome.computed,
                                   failed=outcome.failed, workers=workers)


# ------------------------------------------------------------------------------------ report
def _labels(r: JobResult) -> BottleneckLabels:
    return BottleneckLabels.from_dict(r.labels)


def _variant(r: JobResult) -> str:
    return _labels(r).variant


def _report_figures(out_dir: Path, results: Sequence[JobResult]) -> list[Path]:
    residual = [r for r in results if _variant(r) == "residual"]
    linear = [r for r in results if _variant(r) == "linear"]
    files = save(bottleneck_metrics(residual, linear),
                 out_dir / "bottleneck_metrics")
    labels = [f"{'linear ' if _variant(r) == 'linear' else ''}width {_labels(r).width}"
              for r in results]
    files += save(loss_gap_per_position(
        results, labels, [_variant(r) == "linear" for r in results]),
        out_dir / "bottleneck_loss_per_position")
    data = [(r, load_figure_data(out_dir, r.name)) for r in residual]
    data = [(r, d) for r, d in data if d is not None]
    if data:
        true = data[0][1].true.astype(np.float64)
        panels = [(f"width {_labels(r).width}: MSE {r.probe.mse_test:.2g}",
                   d.predicted.astype(np.float64)) for r, d in data]
        files += save(panel_grid(
            panels, true, theory_beliefs=true, ncols=4,
            title="probe of the last residual stream, coloured by true belief"),
            out_dir / "bottleneck_geometry")
    for r in linear:
        d = load_figure_data(out_dir, r.name)
        if d is not None:
            p = r.probe
            caption = (f"probe of z: held-out MSE {p.mse_test:.2g}; untrained {p.untrained_mse:.2g}; "
                       f"one-hot {p.onehot_mse:.2g}; shuffle {p.shuffle_mse:.2g}; residual before "
                       f"the bottleneck {p.before_bottleneck_mse:.2g}")
            true = d.true.astype(np.float64)
            files += save(side_by_side(
                true, d.predicted.astype(np.float64), true, caption=caption,
                title=f"linear bottleneck of width {_labels(r).width} after the last block"),
                out_dir / f"{r.name}_geometry")
    for r in results:
        if r.structure_1d:
            files += _width1_figures(out_dir, r)
    return files


def _width1_figures(out_dir: Path, r: JobResult) -> list[Path]:
    stem = "width1" if _variant(r) == "residual" else r.name
    d = load_figure_data(out_dir, r.name)
    what = ("the single bottleneck coordinate z" if _variant(r) == "linear"
            else "the single residual coordinate")
    files = save(coordinate_1d(
        d.coordinate.astype(np.float64), d.msp_projection, d.coordinate_beliefs,
        r.structure_1d[-1], r.msp_structure_1d.regression, what=what),
        out_dir / f"{stem}_coordinate")
    return files + save(structure_over_training(r.structure_1d, r.msp_structure_1d),
                        out_dir / f"{stem}_over_training")


def write_bottleneck_report(out_dir, results: Sequence[JobResult], *, wall_seconds: float,
                            computed=(), failed=None, workers: int = 1) -> BottleneckSummary:
    """Figures, ``summary.json`` and ``README.md`` of the bottleneck experiment in ``out_dir``."""
    out_dir = Path(out_dir)
    results = sorted(results, key=lambda r: (_variant(r) != "residual", _labels(r).width))
    files = _report_figures(out_dir, results)
    first = results[0]
    figure = load_figure_data(out_dir, first.name)
    summary = BottleneckSummary(
        experiment="bottleneck",
        settings=BottleneckSettings(
            first.process, first.process_params, 3 if figure is None else figure.true.shape[1],
            {k: v for k, v in first.model.items() if k != "d_model"}),
        rows=list(results),
        total_job_seconds=float(sum(r.seconds for r in results)),
        environment=environment(wall_seconds, computed, workers), failed=dict(failed or {}),
        files=[f.name for f in files] + ["summary.json", "README.md"])
    summary.write(out_dir / "summary.json")
    figures_md = [f for f in files if f.suffix == ".png"]
    atomic_write_text(out_dir / "README.md", _markdown(summary, results, figures_md))
    return summary


def _markdown(summary: BottleneckSummary, results: Sequence[JobResult], files) -> str:
    settings, m = summary.settings, results[0].model_config
    budget = results[0].train.minutes_budget
    lines = [
        f"# Bottleneck experiment: {settings.process} {settings.process_params or '(defaults)'}",
        "",
        "Residual variant: the residual stream narrowed to d_model in "
        f"{[_labels(r).width for r in results if _variant(r) == 'residual']}; other "
        f"model settings: {m.n_layers} layers, {m.n_heads} head(s) of d_head {m.d_head}, "
        f"d_mlp {m.d_mlp}, n_ctx {m.n_ctx}, {m.act_fn}. Training budget per width: "
        + (f"{budget} min" if budget else f"{results[0].train.steps} steps") + ". Probe: OLS on "
        f"`{results[0].probe.hook}`, all inputs x positions, 20% train / 80% test by sequence. "
        "Linear variant: the unchanged model with a linear map to `width` numbers z after its last "
        "block, then `LN(z W_up + b) W_out + b` to the logits; its probe reads z "
        "(`before_bottleneck_mse` in summary.json: the residual just before it).",
        "",
        markdown_table(results, BOTTLENECK_COLUMNS),
        "",
        "Loss gap = mean over positions of (held-out cross-entropy - myopic-entropy optimum). "
        "Paired resolution: the smallest scale (belief-plane distance) down to which pairs of "
        "held-out points keep their distance in the probe's predictions "
        "(`compmech.compare_geometry`); cloud dims: correlation dimensions of the true and the "
        "predicted held-out points (these words, not the process's Blackwell measure) fitted only "
        "above that resolution (n/a when less than about a decade of scales remains). "
        "One-hot: probe on the (last token x position) one-hot, the best any function of the "
        "current token and position can do.",
        "",
        "Reading the residual variant: every block (and the unembedding) reads the stream through "
        "LayerNorm, whose output has its mean and its norm removed, so it lies on a (d - 2)-sphere: "
        "one point at d = 1, two points (a sign) at d = 2, a circle at d = 3, a 2-sphere at d = 4. "
        f"The {settings.num_states - 1}-D belief simplex of this process can first be "
        f"read at d = {settings.num_states + 1}.",
        "",
    ]
    for r in [r for r in results if r.structure_1d]:
        lines += _width1_markdown(r)
    lines += failure_lines(summary.failed)
    lines += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in files] + [""]
    lines += [f"Total job time {summary.total_job_seconds / 60:.1f} min; "
              f"{invocation_text(summary.environment)}.", ""]
    return "\n".join(lines)


def _width1_markdown(r: JobResult) -> list[str]:
    s, msp = r.structure_1d[-1], r.msp_structure_1d
    reg = msp.regression
    linear = _variant(r) == "linear"
    what = ("the bottleneck coordinate z (linear bottleneck after the last block of the "
            f"d_model-{r.model_config.d_model} model)" if linear
            else "the single residual coordinate")
    lines = [
        f"## Width 1, {_variant(r)} variant: {what}",
        "",
        f"At the last checkpoint (step {s.step}) it takes {s.num_distinct} distinct values "
        f"over {s.num_points} points; box-counting dimension "
        f"{fmt(s.box_counting_dimension, '.2f')}, cluster-count slope "
        f"{fmt(s.cluster_dimension, '.2f')}. The MSP on its best 1-D direction (fit to the "
        f"coordinate, R^2 {msp.regression_r2:.3f}): {reg.num_distinct} distinct "
        f"values, box-counting dimension {fmt(reg.box_counting_dimension, '.2f')}, "
        f"cluster slope {fmt(reg.cluster_dimension, '.2f')}.",
        "",
        "| step | tokens | max change since step 0 | distinct | " + " | ".join(
            f"clusters@{x:g}" for x in s.resolutions) + " | box dim |",
        "|---:|---:|---:|---:|" + "---:|" * len(s.resolutions) + "---:|",
    ]
    rows = [(row.step, row.tokens_seen, fmt(row.max_abs_change_from_first, ".3g"), row)
            for row in r.structure_1d] + [("MSP", "", "", reg)]
    for step, tokens, change, row in rows:
        lines.append(f"| {step} | {tokens} | {change} | {row.num_distinct} | "
                     + " | ".join(str(c) for c in row.cluster_counts)
                     + f" | {fmt(row.box_counting_dimension, '.2f')} |")
    if s.label_runs is not None:
        lines += ["", "Interleaving: runs of the dominant state along the clusters, at the same "
                  f"resolutions: network (last step) {s.label_runs}; MSP projection "
                  f"{reg.label_runs} (about 3 = one block per state; many = "
                  "interleaved sub-ranges)."]
    lines.append("")
    if not linear:
        lines += [
            "Why the residual width-1 model is degenerate: LayerNorm of a 1-vector is its bias "
            "(`x - mean(x) = 0`), so every block reads a constant and the final LayerNorm makes the "
            "logits constant; the coordinate is `W_E[x_t] + W_pos[t] + const` (at most V x n_ctx "
            "values) and the network is a unigram model; no gradient crosses that LayerNorm, so the "
            "embeddings never move (column 'max change'). The linear variant avoids this.",
            "",
        ]
    return lines


__all__ = ["BOTTLENECK_COLUMNS", "DEFAULT_WIDTHS", "BottleneckConfig", "BottleneckLabels",
           "BottleneckSettings", "BottleneckSummary", "bottleneck_jobs", "run_bottleneck",
           "write_bottleneck_report"]
