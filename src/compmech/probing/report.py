"""The probe's results, typed to the leaves: :class:`ProbeReport` (``probe.json``) with its
:class:`HookReport` s, :class:`~compmech.probing.data.ProbeProtocol`, training curve and decoders;
:func:`load_report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compmech.probing.blind import BlindControls
from compmech.probing.crossval import (
    ProbeResult,
    RcondSweepSummary,
)
from compmech.probing.data import PROBE_FILE, PaperReference, ProbeProtocol
from compmech.probing.geometry import GeometryRecord
from compmech.records import Record

# -------------------------------------------------------------------------------------- results

@dataclass
class HookReport(Record):
    """One probed hook at the last checkpoint: held-out scores, spread, shuffle control and the
    baselines' held-out MSE (and R^2) beside it (see :class:`compmech.probing.crossval.ProbeResult`).
    ``blind``: the prediction-blind controls (:mod:`compmech.probing.blind`; ``applicable`` False
    where the process has no prediction-blind subspace)."""

    mse_test: float
    rmse_test: float
    r2_test: float | None
    mean_distance_test: float
    mse_train: float
    mse_folds: list[float]
    mse_folds_mean: float
    mse_folds_std: float
    shuffle_mse: float | None
    shuffle_r2: float | None
    shuffle_mse_folds: list[float]
    belief_variance: float
    n_train_points: int
    n_test_points: int
    n_features: int
    train_fold: int
    train_folds: int
    n_folds: int
    baselines: dict[str, float] = field(default_factory=dict)
    baselines_r2: dict[str, float | None] = field(default_factory=dict)
    mse_pooled: float | None = None
    r2_pooled: float | None = None
    regularisation: RcondSweepSummary | None = None
    invariant_r2_test: float | None = None
    whitened_mse_test: float | None = None
    invariant_r2_pooled: float | None = None
    shuffle_invariant_r2: float | None = None
    baselines_invariant_r2: dict[str, float | None] = field(default_factory=dict)
    geometry: GeometryRecord | None = None
    blind: BlindControls | None = None

    @classmethod
    def from_result(cls, result: ProbeResult, baselines: dict[str, ProbeResult],
                    regularisation: RcondSweepSummary | None = None,
                    geometry: GeometryRecord | None = None,
                    blind: BlindControls | None = None) -> HookReport:
        return cls(**result.summary(),
                   baselines={k: v.scores.mse for k, v in baselines.items()},
                   baselines_r2={k: v.scores.r2 for k, v in baselines.items()},
                   baselines_invariant_r2={k: v.scores.invariant_r2
                                           for k, v in baselines.items()},
                   regularisation=regularisation, geometry=geometry, blind=blind)


@dataclass
class CurvePoint(Record):
    """The headline hook's held-out probe at one checkpoint; ``num_sequences``: the sequences it
    read (all the probe's at the first and last checkpoints, the curve's fixed subset in between:
    :mod:`compmech.probing.curve`; ``None`` in a ``probe.json`` written before it was recorded)."""

    step: int
    tokens_seen: int
    hook: str
    mse_test: float
    r2_test: float | None
    geometry: GeometryRecord | None = None
    num_sequences: int | None = None


@dataclass
class DecoderReport(Record):
    """A decoder of the beliefs at one hook (last checkpoint), scored on the held-out figure points.

    Attributes:
        decoder: ``"linear"`` (the probe itself, trained on the whole training side),
            ``"linear_subsample"``, ``"knn"`` or ``"mlp"`` (trained on ``train_points`` of it,
            :mod:`compmech.probing.decoders`); ``"untrained_knn"``, ``"untrained_mlp"``: the
            control, the same decoder on the untrained network (step 0).
        hook: the hook (or ``"concat"``).
        mse_test: mean squared error over the held-out figure points and target coordinates.
        train_points: training points used.
        seconds: fit and prediction time.
        geometry: the scale-by-scale comparison of its predictions (``None`` if it failed).
    """

    decoder: str
    hook: str
    mse_test: float
    train_points: int
    seconds: float
    geometry: GeometryRecord | None


@dataclass
class ProbeReport(Record):
    """``probe.json``: the probe of one run.

    Attributes:
        run_dir: the run directory.
        process, process_params: the process trained on.
        model: the model config (``to_dict()``).
        step, tokens_seen: the last checkpoint, and the training tokens it had seen.
        training_wall_time_s: training wall time at the last metrics record.
        protocol: :class:`~compmech.probing.data.ProbeProtocol`.
        headline_hook: the hook of the summary and of the curve.
        hooks: ``{hook: HookReport}`` at the last checkpoint.
        curve: the headline hook at each probed checkpoint.
        timing: seconds per stage.
        paper: the published numbers for this process, when there are some.
        reproduce_wall_time_s: set by :func:`compmech.experiments.reproduce.reproduce`.
        factors: mixtures and products: ``{target: {hook: scores}}`` for the component posterior
            and each component's or factor's belief, at the headline hook and the concatenation
            (:mod:`compmech.probing.targets`).
        factor_angles_deg: products: ``{"f,g": principal angles}`` between the subspaces factor
            ``f`` and factor ``g`` are stored in at the headline hook: the column spaces of the
            probes' encoding patterns ``C W^T`` (90 = orthogonal; decoder rows would mislead,
            :func:`compmech.probing.targets.encoding_angles_deg`).
        geometry: the headline hook's held-out predictions against the true beliefs scale by scale
            at the last checkpoint (:func:`compmech.compare_geometry`: paired resolution, null
            resolution, equivalent history, point-cloud dimensions fitted above the resolution);
            each curve point and each hook has its own.
        geometry_note: why ``geometry`` is ``None``.
        decoders: ``{hook: {decoder: DecoderReport}}`` at the last checkpoint for the headline hook
            and the concatenation: the linear probe beside nonlinear decoders.
        lookups: the exact Markov-k-plus-position lookups (``markov_3``, ``markov_5``,
            ``markov_7``, those with ``k <= n_ctx``) on the decoders' points, scored like them.
        decoder_points_per_position: how the decoders' held-out novel-prefix points spread over
            the positions ``0..n_ctx-1``.
        lookup_errors: ``{"figure": [...], "decoder": [...]}`` the lookups' error for ``k = 0..n_ctx``
            on the figure points and on the decoders' points (the equivalent history's scale).
        error_measure: the measure of ``lookup_errors`` and of every ``equivalent_history``.
    """

    run_dir: str
    process: str
    process_params: dict[str, Any]
    model: dict[str, Any]
    step: int
    tokens_seen: int
    training_wall_time_s: float | None
    protocol: ProbeProtocol
    headline_hook: str
    hooks: dict[str, HookReport]
    curve: list[CurvePoint]
    timing: dict[str, float]
    paper: PaperReference | None = None
    reproduce_wall_time_s: float | None = None
    factors: dict[str, dict[str, dict[str, float | None]]] | None = None
    factor_angles_deg: dict[str, list[float]] | None = None
    geometry: GeometryRecord | None = None
    geometry_note: str | None = None
    decoders: dict[str, dict[str, DecoderReport]] | None = None
    lookups: dict[str, DecoderReport] | None = None
    decoder_points_per_position: list[int] | None = None
    lookup_errors: dict[str, list[float]] | None = None
    error_measure: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProbeReport:
        """:meth:`compmech.records.Record.from_dict`; the ``fractal`` entry of files written before
        the all-scales comparison was removed from the probe (read ``geometry`` instead) is
        dropped."""
        if isinstance(data, Mapping) and "fractal" in data:
            data = {k: v for k, v in data.items() if k != "fractal"}
        return super().from_dict(data)

    @property
    def headline(self) -> HookReport:
        return self.hooks[self.headline_hook]

    @property
    def split_name(self) -> str:
        train = round(100 * self.protocol.train_fraction)
        return f"{train}/{100 - train}"


def load_report(run_dir) -> ProbeReport:
    """Read ``RUN_DIR/probe.json``."""
    path = Path(run_dir) / PROBE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run `compmech probe {run_dir}` first")
    return ProbeReport.read(path)


__all__ = [
    "CurvePoint",
    "DecoderReport",
    "HookReport",
    "ProbeReport",
    "load_report",
]
