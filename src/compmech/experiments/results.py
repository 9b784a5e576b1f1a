"""An experiment's typed records: a :class:`Job` (one configuration to train and probe), its
:class:`JobResult` (training, loss, probe and dimension summaries) and the
:class:`ExperimentSummary`, with where they live in an experiment's folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from compmech.probing.geometry import GeometryRecord
from compmech.probing.structure1d import MspStructure, StructureAtStep
from compmech.records import Record

RESULTS_DIR = "results"
RUNS_DIR = "runs"
MANIFEST = "experiment.json"
#: TrainConfig fields shared by every job of an experiment that change its results.
RECIPE_FIELDS = ("batch_size", "lr", "optimizer", "warmup_steps", "final_lr_fraction", "weight_decay",
                 "b1", "b2", "momentum", "grad_clip", "bos")


# ------------------------------------------------------------------------------------ records
@dataclass
class Job(Record):
    """One unit of an experiment: train ``train_config`` into ``runs/<name>`` and analyse it.

    Attributes:
        name: unique within the experiment (the file names).
        train_config: ``TrainConfig.to_dict()``.
        labels: copied into the result (e.g. ``{"variant": "residual", "width": 4}``).
        seed: seed of the probe split and subsamples.
        analyse_1d: study the headline coordinate over training when it is one number wide.
        max_checkpoints: checkpoints analysed for that coordinate.
        protocols: probe protocols, ``[{"name": ..., **probe_run options}]`` (options
            ``weighting``, ``folds``, ``split``, ``rcond_sweep``); empty: the paper's protocol
            alone. The first gives ``probe`` and the figure data; each is summarised in
            ``JobResult.protocols``.
        layers: probe every layer of the model (its probe hooks), not only the headline hook.
        dimensions: compare the learned and true belief clouds' dimensions (``False``: skipped,
            ``JobResult.dimensions`` is ``None``).
        decoders: nonlinear decoders fitted at the headline hook beside the linear probe
            (:mod:`compmech.probing.decoders`; e.g. ``["knn"]``), with the untrained control.
    """

    name: str
    train_config: dict[str, Any]
    labels: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    analyse_1d: bool = False
    max_checkpoints: int = 8
    protocols: list[dict[str, Any]] = field(default_factory=list)
    layers: bool = False
    dimensions: bool = True
    decoders: list[str] = field(default_factory=list)


@dataclass
class TrainSummary(Record):
    """How a job's model was trained."""

    steps: int
    tokens_seen: int
    batch_size: int
    minutes_budget: float | None
    wall_seconds: float | None


@dataclass
class LossSummary(Record):
    """The last exact evaluation: loss per position, the optimum, and the gap (nats)."""

    eval_loss: list[float]
    optimal_loss: list[float]
    initial_eval_loss: list[float]
    loss_gap_per_position: list[float]
    loss_gap: float
    relative_loss: float | None
    eval_step: int


@dataclass
class ProbeSummary(Record):
    """The headline probe of a job with its controls (held-out MSE each).

    ``before_bottleneck_mse``: for the linear-bottleneck model, the probe of the residual stream
    just before the bottleneck (``None`` for other models).
    """

    hook: str
    protocol: str
    mse_test: float
    rmse_test: float
    r2_test: float | None
    mse_folds_std: float
    shuffle_mse: float | None
    belief_variance: float
    untrained_mse: float
    onehot_mse: float
    random_mse: float
    before_bottleneck_mse: float | None = None


@dataclass
class DimensionSummary(Record):
    """Theory vs learned geometry of a job.

    Attributes:
        theory: ``{"point_cloud": dimensions of the true beliefs, "lyapunov_exponents",
            "kaplan_yorke", "entropy_rate_bits"}`` (``kaplan_yorke_error`` when it failed).
        learned: dimensions of the probe's predictions (``None`` when not estimated).
        pairwise_distance_correlation: true vs predicted pairwise distances.
        num_distinct_points: distinct true beliefs entering the estimates.
        error: why the dimensions are missing, or ``None``.
    """

    theory: dict[str, Any]
    learned: dict[str, Any] | None
    pairwise_distance_correlation: float | None
    num_distinct_points: int | None
    error: str | None


@dataclass
class JobResult(Record):
    """``results/<name>.json``: what one job measured.

    ``geometry``: the headline probe's held-out predictions against the true beliefs scale by
    scale at the last checkpoint (:func:`compmech.compare_geometry`: paired resolution, equivalent
    history, point-cloud dimensions above the resolution); ``None`` when the comparison was
    impossible. ``decoder_geometry``: with ``Job.decoders``, ``{decoder: GeometryRecord}`` of the
    headline hook on the held-out novel-prefix points (``linear``, each decoder,
    ``untrained_<decoder>``, and the exact lookups ``markov_3``, ``markov_5``, ``markov_7``).
    """

    name: str
    labels: dict[str, Any]
    process: str
    process_params: dict[str, Any]
    model: dict[str, Any]
    train: TrainSummary
    loss: LossSummary | None
    probe: ProbeSummary
    dimensions: DimensionSummary | None
    structure_1d: list[StructureAtStep] | None = None
    msp_structure_1d: MspStructure | None = None
    analysis_seconds: float = 0.0
    seconds: float = 0.0
    num_params: int | None = None
    protocols: dict[str, dict[str, Any]] | None = None
    geometry: GeometryRecord | None = None
    decoder_geometry: dict[str, GeometryRecord | None] | None = None


@dataclass
class ExperimentSummary(Record):
    """``summary.json`` of an experiment folder.

    Attributes:
        experiment: ``"bottleneck"`` or ``"sweep"``.
        settings: the experiment's own settings (grid, process, model).
        rows: every finished job's result, in job order.
        total_job_seconds: summed job times.
        environment: workers, devices, machine and date of the last invocation.
        failed: ``{name: message}`` of jobs that failed in the last invocation.
        files: the report's files.
        statistics: experiment-level numbers (the sweep: rank correlations across the grid).
    """

    experiment: str
    settings: dict[str, Any]
    rows: list[JobResult]
    total_job_seconds: float
    environment: dict[str, Any]
    failed: dict[str, str]
    files: list[str]
    statistics: dict[str, Any] = field(default_factory=dict)


class JobsOutcome(NamedTuple):
    """What :func:`~compmech.experiments.runner.run_jobs` did: finished results by name (in job order), the
    names computed now, those reused, and the failures."""

    results: dict[str, JobResult]
    computed: list[str]
    skipped: list[str]
    failed: dict[str, str]


def result_path(out_dir, name: str) -> Path:
    """``out_dir/results/<name>.json``: a job is finished exactly when this file exists."""
    return Path(out_dir) / RESULTS_DIR / f"{name}.json"


def load_figure_data(out_dir, name: str) -> dict[str, np.ndarray]:
    """The arrays of ``results/<name>.npz`` (``{}`` when there is none)."""
    path = Path(out_dir) / RESULTS_DIR / f"{name}.npz"
    if not path.exists():
        return {}
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


__all__ = [
    "DimensionSummary",
    "ExperimentSummary",
    "Job",
    "JobResult",
    "JobsOutcome",
    "LossSummary",
    "ProbeSummary",
    "TrainSummary",
    "load_figure_data",
    "result_path",
]
