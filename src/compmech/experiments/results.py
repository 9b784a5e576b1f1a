"""An experiment's typed records: a :class:`Job` (one configuration to train and probe), its
:class:`JobResult` (training, loss, probe and dimension summaries) and the
:class:`ExperimentSummary`, with where they live in an experiment's folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from compmech.files import atomic_output
from compmech.probing.data import ProbeProtocol
from compmech.probing.geometry import GeometryRecord
from compmech.probing.structure1d import MspStructure, StructureAtStep
from compmech.records import Record
from transformer import model_config_from_dict

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
        dimensions: compute the theory's Kaplan-Yorke dimension of the process (``False``:
            skipped, ``JobResult.dimensions`` is ``None``).
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
class ProtocolHookScores(Record):
    """One hook's numbers under one probe protocol (held-out scores, pooled over the folds for
    k-fold; controls; baselines by name, e.g. ``untrained``, ``onehot``, ``markov_3``)."""

    mse_test: float
    r2_test: float | None
    shuffle_mse: float | None
    invariant_r2_test: float | None
    whitened_mse_test: float | None
    shuffle_invariant_r2: float | None
    belief_variance: float
    baselines: dict[str, float]
    baselines_invariant_r2: dict[str, float | None]
    rcond_mse: float | None
    rcond_chosen: list[float] | None


@dataclass
class ProtocolSummary(Record):
    """A job's probe under one protocol (``JobResult.protocols``): the protocol and every hook's
    :class:`ProtocolHookScores`."""

    protocol: ProbeProtocol
    headline_hook: str
    hooks: dict[str, ProtocolHookScores]


@dataclass
class DimensionSummary(Record):
    """The theory's dimension of a job's process: Kaplan-Yorke of the Blackwell measure.

    The learned cloud's dimensions are in ``JobResult.geometry`` (``dimension_predicted`` beside
    ``dimension_true``, fitted above the probe's resolution).

    Attributes:
        kaplan_yorke: Kaplan-Yorke dimension from the Lyapunov spectrum and ``h_mu``
            (:func:`compmech.kaplan_yorke_dimension`), ``None`` when it failed.
        lyapunov_exponents: the spectrum (nats per token), ``None`` when it failed.
        entropy_rate_bits: ``h_mu`` of the same Blackwell sample.
        error: why the Kaplan-Yorke dimension is missing (e.g. a one-state process), or ``None``.
    """

    kaplan_yorke: float | None
    lyapunov_exponents: list[float] | None = None
    entropy_rate_bits: float | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, data):
        """Also reads the summary of version 1 result files (``{"theory": {...}, "learned": ...}``,
        with the all-scales point-cloud dimensions that are no longer computed): the theory part."""
        if isinstance(data, Mapping) and "theory" in data:
            theory = dict(data["theory"])
            theory.pop("point_cloud", None)
            if "kaplan_yorke_error" in theory:
                theory["error"] = theory.pop("kaplan_yorke_error")
            data = theory
        return super().from_dict(data)


@dataclass
class FigureData:
    """The arrays of a job's figures (``results/<name>.npz``), at its held-out figure points.

    Attributes:
        true: ``(N, S)`` true beliefs.
        predicted: ``(N, S)`` the headline probe's predictions.
        coordinate: ``(M,)`` a one-number-wide hook's values (``analyse_1d``), else ``None``.
        msp_projection: ``(M,)`` the MSP's beliefs on their best 1-D direction, else ``None``.
        coordinate_beliefs: ``(M, S)`` the beliefs of those points, else ``None``.
    """

    true: np.ndarray
    predicted: np.ndarray
    coordinate: np.ndarray | None = None
    msp_projection: np.ndarray | None = None
    coordinate_beliefs: np.ndarray | None = None

    def write(self, path) -> None:
        """Write the arrays that are set as one compressed ``.npz``, atomically."""
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        with atomic_output(path) as fh:
            np.savez_compressed(fh, **{k: v for k, v in arrays.items() if v is not None})

    @classmethod
    def read(cls, path) -> FigureData | None:
        """The arrays of ``path`` (``None`` when there is no such file)."""
        path = Path(path)
        if not path.exists():
            return None
        with np.load(path) as data:
            names = {f.name for f in fields(cls)}
            return cls(**{k: data[k] for k in data.files if k in names})


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
    protocols: dict[str, ProtocolSummary] | None = None
    geometry: GeometryRecord | None = None
    decoder_geometry: dict[str, GeometryRecord | None] | None = None

    @property
    def model_config(self):
        """``model`` as its typed config (:func:`transformer.model_config_from_dict`)."""
        return model_config_from_dict(self.model)


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


def read_result(kind: type[Record], path, command: str):
    """``kind.read(path)``: a reproduction's finished-job file, refused with one line that names
    the command and the remedy when its fields are not this version's.

    Raises:
        ValueError: damaged, or written by another version of ``command`` (other fields).
    """
    try:
        return kind.read(path)
    except ValueError as err:
        raise ValueError(f"{err} (written by another version of `{command}`? delete {path} to "
                         "redo that job, or use a new --out folder)") from err


def figure_data_path(out_dir, name: str) -> Path:
    """``out_dir/results/<name>.npz``: a job's :class:`FigureData`."""
    return Path(out_dir) / RESULTS_DIR / f"{name}.npz"


def load_figure_data(out_dir, name: str) -> FigureData | None:
    """The :class:`FigureData` of job ``name`` (``None`` when it has none)."""
    return FigureData.read(figure_data_path(out_dir, name))


__all__ = [
    "DimensionSummary",
    "ExperimentSummary",
    "FigureData",
    "Job",
    "JobResult",
    "JobsOutcome",
    "LossSummary",
    "ProbeSummary",
    "ProtocolHookScores",
    "ProtocolSummary",
    "TrainSummary",
    "figure_data_path",
    "load_figure_data",
    "result_path",
]
