"""Probe a training run: every hook with its controls and baselines, the headline hook at every
checkpoint; writes ``RUN_DIR/probe.json`` (a :class:`ProbeReport`) and ``RUN_DIR/probe_points.npz``
(the held-out predictions the figures draw).

Protocol (``docs/probing.md``): every word of length ``n_ctx`` with nonzero probability (all 3^10
for Mess3) when ``V**n_ctx * n_ctx <= 10^6`` points, unweighted, each position labelled with the
belief after the tokens up to it; otherwise sampled words whose distinct prefixes are weighted once
by their probability. Sequences are split into 5 folds at random (seeded); the reported probe is
trained on fold 0 (20%) and tested on the other four (80%); the spread is the same with each fold
as training fold. Beside every fit: the shuffle control, the untrained network (the run's step-0
checkpoint), a (last token x position) one-hot and i.i.d. random features of the same width.

Options (Riechers et al. 2025's protocol beside ours, written into ``probe.json``): ``weighting=
"probability"`` weighs point (word, t) of the enumeration by ``P(word)``; ``folds=K`` replaces the
split by K-fold cross-validation with pooled scores; ``rcond_sweep`` adds, per hook, the probe whose
cut-off inner validation chose; the Markov-order-1..3 baselines are always beside the controls.

Geometry (``docs/geometry.md``): at every
probed checkpoint the held-out predictions of the headline hook, and at the last checkpoint those of
every hook, are compared with the true beliefs scale by scale (:func:`compmech.compare_geometry`,
in the orthonormal affine coordinates of the simplex, or of the belief plane for a GHMM), giving
the representation's **paired resolution** (down to which scale pairs of points keep their
distances) beside its null model's, and its **equivalent history** (:mod:`compmech.history`: the
``k`` at which the exact Markov-k-plus-position lookup, built once over all probe points with the
probe's weights, has the same error on the same points). The comparison runs on the figure points
(at most :data:`FIGURE_POINTS` held-out points, a seeded subsample) with ``compare_geometry``'s
default pair subsample (3,000 draws). At the last checkpoint nonlinear decoders
(:mod:`compmech.pipeline.decoders`: k-nearest neighbours, a 2-layer MLP) are fitted on a seeded
subsample of the same training side, for the headline hook and the concatenation of layers, and
scored beside the linear probe and the Markov-3/5/7 lookups (:data:`LOOKUP_ORDERS`) on the
held-out points whose input prefix never occurs on the training side (split by sequence, short
prefixes are shared; there a nonlinear decoder could copy the belief of a training point with
identical activations). A kNN decoder outputs averages of true training beliefs, so it lands on
the fractal whatever its pointwise error: read its paired resolution and error, never the
dimension of its cloud.

Works for every registered architecture: the hooks come from the run's model
(:func:`transformer.probe_hooks`), plus the pseudo-hook :data:`CONCAT`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compmech.comparison import compare_geometry
from compmech.files import atomic_output
from compmech.history import MarkovLookups, default_measure, history_tokens, prediction_error
from compmech.hmm import GHMM
from compmech.pipeline import decoders as dec
from compmech.pipeline.fractal import fractal_comparison
from compmech.pipeline.records import GeometryRecord, Record
from compmech.pipeline.targets import (
    belief_targets,
    encoding_angles_deg,
    factor_targets,
    probe_factors,
    target_description,
)
from compmech.probe import (
    DEFAULT_FOLDS,
    MAX_ENUMERATED_POINTS,
    RCOND_GRID,
    SCORE_DEFINITIONS,
    WEIGHTINGS,
    ProbeResult,
    affine_subspace_projection,
    category_mean_scores,
    concatenated,
    cross_validated_probe,
    markov_codes,
    onehot_features,
    predict_features,
    probe_inputs,
    random_features,
    rcond_sweep,
    sequence_folds,
)
from transformer import Run, collect_activations, load_run

#: Sequences per compiled forward call: small batches stay in cache (measured on 2 shared cores,
#: 59,049 x 10 tokens: 128 -> 2.8 s, 256 -> 3.0 s, 512 -> 3.9 s, 1024 -> 5.7 s, 8192 -> 9-17 s).
FORWARD_BATCH = 256
#: Pseudo-hook: the concatenation of every residual-stream hook (embedding, each layer's output).
CONCAT = "concat"
#: Files written into a run directory.
PROBE_FILE = "probe.json"
POINTS_FILE = "probe_points.npz"
#: Held-out points kept (seeded subsample) for the figures.
FIGURE_POINTS = 30_000
#: ``split="auto"`` keeps the paper's 20% / 80% split when the training side has at least this many
#: points per probe coefficient (widest probed features + 1); else it trains on 80%.
MIN_POINTS_PER_COEFFICIENT = 10
SPLITS = {"20/80": 1, "80/20": DEFAULT_FOLDS - 1}
#: Orders ``k`` of the Markov-order baselines (the best predictor seeing only the last k tokens).
MARKOV_ORDERS = (1, 2, 3)
#: Nonlinear decoders fitted at the last checkpoint by default (see :mod:`.decoders`).
DEFAULT_DECODERS = ("knn", "mlp")
#: Markov-k-plus-position lookups scored beside the decoders on the same points.
LOOKUP_ORDERS = (3, 5, 7)
#: Fewest held-out novel-prefix points for the decoders (else they are not reported).
MIN_DECODER_POINTS = 8
#: The published numbers (Shai et al. 2024): held-out MSE of the last-layer probe over training.
PAPER = {
    "mess3": {"mse": 3.9e-4, "tokens": 629e6, "steps": 1_000_000, "wall": "~56 h",
              "curve": {640_000: 8.41e-3, 3_200_000: 2.48e-3, 629_000_000: 3.9e-4}},
}


# ---------------------------------------------------------------------------------------- hooks
def layer_hooks(run: Run) -> list[str]:
    """The per-layer grid of a run: its model's probe hooks, then the concatenation."""
    return run.probe_hooks() + [CONCAT]


def hook_label(run: Run, name: str) -> str:
    """A short human label for a hook (or :data:`CONCAT`) of this run's model."""
    return "all layers (concatenated)" if name == CONCAT else run.hook_label(name)


def _check_hooks(hooks: Sequence[str], run: Run) -> list[str]:
    valid = run.hook_names() + [CONCAT]
    bad = [h for h in hooks if h not in valid]
    if bad:
        raise ValueError(f"unknown hooks {bad}; valid: {', '.join(valid)}")
    if not hooks:
        raise ValueError("give at least one hook")
    return list(dict.fromkeys(hooks))


def _model_hooks(hooks: Sequence[str], run: Run) -> list[str]:
    """The model hooks needed to build ``hooks`` (the concatenation needs every residual hook)."""
    need: list[str] = []
    for h in hooks:
        need += run.residual_hooks() if h == CONCAT else [h]
    return list(dict.fromkeys(need))


def _features(acts: dict[str, np.ndarray], hook: str, run: Run):
    if hook == CONCAT:
        return concatenated([acts[h] for h in run.residual_hooks()])
    return acts[hook]


# ----------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class ProbeData:
    """The probe's inputs for one run, aligned with the model's input positions.

    Attributes:
        tokens: ``(N, n_ctx)`` model inputs (with the BOS token when the run uses one).
        beliefs: ``(N, n_ctx, k)`` the probe's targets; position ``t`` holds the belief after the
            process tokens seen so far (the initial belief at a BOS position), as
            :func:`compmech.pipeline.targets.belief_targets` reads it (``k = S`` for an HMM, the
            ``S - 1`` belief-plane coordinates for a GHMM).
        weights: ``(N, n_ctx)`` point weights, or None (unweighted).
        folds: ``(N,)`` fold of each sequence.
        protocol: ``"enumerated"`` or ``"sampled"``.
        seed: the seed of the folds (and of the sample when sampled).
        train_folds: folds trained on (1 of 5: the paper's 20/80 split).
        target: what ``beliefs`` holds, in words.
        joint_beliefs: ``(N, n_ctx, S)`` the beliefs themselves (for the factor targets).
        n_folds: number of folds.
        weighting: ``"uniform"`` or ``"probability"`` (see :func:`compmech.probe.probe_inputs`).
        kfold: k-fold cross-validation: every fit trains on all folds but one, each fold is
            tested once, and the reported scores are pooled over all folds.
    """

    tokens: np.ndarray
    beliefs: np.ndarray
    weights: np.ndarray | None
    folds: np.ndarray
    protocol: str
    seed: int
    train_folds: int = 1
    target: str = "belief"
    joint_beliefs: np.ndarray | None = None
    n_folds: int = DEFAULT_FOLDS
    weighting: str = "uniform"
    kfold: bool = False

    @property
    def num_sequences(self) -> int:
        return int(self.tokens.shape[0])

    def _weighting_text(self) -> str:
        if self.weights is None:
            return "unweighted"
        if self.protocol == "sampled":
            return "distinct prefixes weighted once by probability"
        return "probability-weighted: point (word, t) carries P(word), so each prefix carries its " \
               "probability and every position weighs 1"

    def _split_text(self) -> str:
        k = self.n_folds
        if self.kfold:
            return (f"{k}-fold cross-validation by sequence: each fold tested once by the probe "
                    f"trained on the other {k - 1}; scores pooled over all folds")
        return (f"by sequence, {k} folds: train on {self.train_folds} "
                f"({100 * self.train_folds // k}%), test on the rest")

    def describe(self, *, sweep: bool = False) -> ProbeProtocol:
        n, P = self.tokens.shape
        return ProbeProtocol(
            inputs=self.protocol,
            weighting=self._weighting_text(),
            num_sequences=n, positions=P, num_points=n * P,
            split=self._split_text(),
            train_fraction=self.train_folds / self.n_folds,
            estimator="ordinary least squares with intercept",
            error="mean squared error over test points and belief coordinates (weighted)",
            seed=self.seed, target=self.target, weighting_option=self.weighting,
            n_folds=self.n_folds, kfold=self.kfold, definitions=dict(SCORE_DEFINITIONS),
            markov_orders=list(MARKOV_ORDERS),
            regularisation=(f"rcond sweep over {list(RCOND_GRID)} (singular-value cut-off of the "
                            "Jacobi-scaled weighted design), chosen per fit by 3-fold inner "
                            "validation within the training sequences") if sweep else None)


def probe_data(run: Run, *, seed: int = 0, max_points: int = MAX_ENUMERATED_POINTS,
               num_sequences: int = 20_000, weighting: str = "uniform",
               n_folds: int = DEFAULT_FOLDS) -> ProbeData:
    """Build the probe's data set for a run (see the module docstring for the protocol).

    ``weighting`` (``"uniform"`` or ``"probability"``) weighs the enumerated inputs (see
    :func:`compmech.probe.probe_inputs`); with a BOS token its position carries the same weights as
    the first process position. ``n_folds`` folds by sequence.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}; got {weighting!r}")
    hmm, mc = run.hmm, run.model_config
    bos = run.bos_token is not None
    n_words = mc.n_ctx - 1 if bos else mc.n_ctx
    if n_words < 1:
        raise ValueError("a BOS model needs n_ctx >= 2 to be probed")
    inputs = probe_inputs(hmm, n_words, max_points=max_points, num_sequences=num_sequences, seed=seed,
                          weighting=weighting)
    tokens = run.model_inputs(inputs.tokens).astype(np.int32)
    beliefs, weights = inputs.beliefs, inputs.weights
    if bos:
        n = beliefs.shape[0]
        prior = np.broadcast_to(hmm.initial_distribution, (n, 1, hmm.num_states))
        beliefs = np.concatenate([prior, beliefs], axis=1)
        if weights is not None and inputs.protocol == "sampled":
            first = np.zeros((n, 1))
            first[0] = 1.0  # the empty prefix, once
            weights = np.concatenate([first, weights], axis=1)
        elif weights is not None:
            weights = np.concatenate([weights[:, :1], weights], axis=1)
    folds = sequence_folds(tokens.shape[0], n_folds, seed=seed)
    joint = np.ascontiguousarray(beliefs)
    return ProbeData(tokens, np.ascontiguousarray(belief_targets(hmm, joint)), weights, folds,
                     inputs.protocol, seed, target=target_description(hmm), joint_beliefs=joint,
                     n_folds=n_folds, weighting=weighting)


def collect(run: Run, params, data: ProbeData, hooks: Sequence[str]) -> dict[str, np.ndarray]:
    """Activations ``{hook: (N, n_ctx, width) float32}`` of the probe's inputs, one forward pass."""
    return collect_activations(params, run.model_config, data.tokens,
                               hooks=_model_hooks(hooks, run), batch_size=FORWARD_BATCH)


def _train_folds(split: str, num_points: int, width: int) -> int:
    if split == "auto":
        small = num_points / DEFAULT_FOLDS < MIN_POINTS_PER_COEFFICIENT * (width + 1)
        return SPLITS["80/20"] if small else SPLITS["20/80"]
    if split not in SPLITS:
        raise ValueError(f"split must be 'auto', '20/80' or '80/20'; got {split!r}")
    return SPLITS[split]


def _probe(features, data: ProbeData, *, spread: bool = False, shuffle: bool = False,
           seed: int = 0) -> ProbeResult:
    """The probe of ``features``; with k-fold cross-validation its scores are the pooled ones."""
    res = cross_validated_probe(features, data.beliefs, data.folds, weights=data.weights,
                                train_folds=data.train_folds, spread=spread or data.kfold,
                                shuffle=shuffle, shuffle_seed=seed)
    if data.kfold:
        res.scores = res.pooled_scores
    return res


def _train_sets(data: ProbeData) -> list[list[int]]:
    """The training folds of each fit the reported scores pool (one fit unless k-fold)."""
    k = data.n_folds
    firsts = range(k) if data.kfold else [0]
    return [[(r + j) % k for j in range(data.train_folds)] for r in firsts]


@dataclass
class BaselineScores:
    """A baseline's held-out scores (``mse``, ``rmse``, ``r2``, ``mean_distance``)."""

    scores: dict[str, float]


def markov_baselines(data: ProbeData, vocab_size: int,
                     orders: Sequence[int] = MARKOV_ORDERS) -> dict[str, BaselineScores]:
    """``{"markov_k": scores}``: the best predictor seeing only the last ``k`` model inputs
    (:func:`compmech.probe.markov_codes`; the mean training belief of each window), on the probe's
    split. With a BOS token, the BOS counts as one of the ``k``."""
    return {f"markov_{k}": BaselineScores(category_mean_scores(
        markov_codes(data.tokens, vocab_size, k), data.beliefs, data.folds, _train_sets(data),
        weights=data.weights)) for k in orders}


# -------------------------------------------------------------------------------------- results
@dataclass
class ProbeProtocol(Record):
    """How the probe's points were chosen, split and scored (``probe.json``'s ``protocol``)."""

    inputs: str
    weighting: str
    num_sequences: int
    positions: int
    num_points: int
    split: str
    train_fraction: float
    estimator: str
    error: str
    seed: int
    target: str = "belief"
    weighting_option: str = "uniform"
    n_folds: int = DEFAULT_FOLDS
    kfold: bool = False
    definitions: dict[str, str] = field(default_factory=dict)
    markov_orders: list[int] = field(default_factory=list)
    regularisation: str | None = None


@dataclass
class HookReport(Record):
    """One probed hook at the last checkpoint: held-out scores, spread, shuffle control and the
    baselines' held-out MSE (and R^2) beside it (see :class:`compmech.probe.ProbeResult`)."""

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
    regularisation: dict[str, Any] | None = None
    invariant_r2_test: float | None = None
    whitened_mse_test: float | None = None
    invariant_r2_pooled: float | None = None
    shuffle_invariant_r2: float | None = None
    baselines_invariant_r2: dict[str, float | None] = field(default_factory=dict)
    geometry: GeometryRecord | None = None

    @classmethod
    def from_result(cls, result: ProbeResult, baselines: dict[str, ProbeResult],
                    regularisation: dict[str, Any] | None = None,
                    geometry: GeometryRecord | None = None) -> HookReport:
        return cls(**result.summary(),
                   baselines={k: v.scores["mse"] for k, v in baselines.items()},
                   baselines_r2={k: v.scores["r2"] for k, v in baselines.items()},
                   baselines_invariant_r2={k: v.scores.get("invariant_r2")
                                           for k, v in baselines.items()},
                   regularisation=regularisation, geometry=geometry)


@dataclass
class CurvePoint(Record):
    """The headline hook's held-out probe at one checkpoint."""

    step: int
    tokens_seen: int
    hook: str
    mse_test: float
    r2_test: float | None
    geometry: GeometryRecord | None = None


@dataclass
class DecoderReport(Record):
    """A decoder of the beliefs at one hook (last checkpoint), scored on the held-out figure points.

    Attributes:
        decoder: ``"linear"`` (the probe itself, trained on the whole training side),
            ``"linear_subsample"``, ``"knn"`` or ``"mlp"`` (trained on ``train_points`` of it,
            :mod:`compmech.pipeline.decoders`); ``"untrained_knn"``, ``"untrained_mlp"``: the
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
        protocol: :class:`ProbeProtocol`.
        headline_hook: the hook of the summary and of the curve.
        hooks: ``{hook: HookReport}`` at the last checkpoint.
        curve: the headline hook at each probed checkpoint.
        fractal: the fractal comparison of the headline hook (see
            :func:`compmech.pipeline.fractal.fractal_comparison`), or ``None``.
        timing: seconds per stage.
        paper: the published numbers for this process, when there are some.
        reproduce_wall_time_s: set by :func:`compmech.pipeline.reproduce.reproduce`.
        factors: mixtures and products: ``{target: {hook: scores}}`` for the component posterior
            and each component's or factor's belief, at the headline hook and the concatenation
            (:mod:`compmech.pipeline.targets`).
        factor_angles_deg: products: ``{"f,g": principal angles}`` between the subspaces factor
            ``f`` and factor ``g`` are stored in at the headline hook: the column spaces of the
            probes' encoding patterns ``C W^T`` (90 = orthogonal; decoder rows would mislead,
            :func:`compmech.pipeline.targets.encoding_angles_deg`).
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
    fractal: dict[str, Any] | None
    timing: dict[str, float]
    paper: dict[str, float] | None = None
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


# ------------------------------------------------------------------------------------- probing
def baseline_results(run: Run, data: ProbeData, hooks: Sequence[str], *, seed: int = 0,
                     untrained_acts: dict[str, np.ndarray] | None = None) -> dict[str, dict]:
    """Held-out scores of the baselines beside each hook.

    ``untrained``: the same hook of the run's initialisation (step 0); ``onehot``: the (last token x
    position) one-hot; ``random``: i.i.d. normal features of the hook's width; ``markov_k``
    (k in :data:`MARKOV_ORDERS`): the best predictor seeing only the last k tokens
    (:func:`markov_baselines`).

    Returns:
        ``{hook: {"untrained": ProbeResult, "onehot": ..., "random": ..., "markov_1": ...}}``.
    """
    if untrained_acts is None:
        if 0 not in run.checkpoint_steps:
            raise ValueError(f"{run.run_dir} has no step-0 checkpoint: the untrained baseline needs it")
        untrained_acts = collect(run, run.load_params(0), data, hooks)
    onehot = _probe(onehot_features(data.tokens, run.model_config.d_vocab), data)
    markov = markov_baselines(data, run.model_config.d_vocab)
    by_width: dict[int, ProbeResult] = {}
    out = {}
    for hook in hooks:
        untrained = _features(untrained_acts, hook, run)
        width = untrained.shape[-1]
        if width not in by_width:
            by_width[width] = _probe(random_features(data.tokens.shape, width, seed=seed), data)
        out[hook] = {"untrained": _probe(untrained, data), "onehot": onehot,
                     "random": by_width[width], **markov}
    return out


def _figure_points(data: ProbeData, seed: int) -> np.ndarray:
    """Flat indices (into ``N * P``) of held-out points kept for the figures."""
    P = data.tokens.shape[1]
    train = np.isin(data.folds, np.arange(data.train_folds))
    test = np.flatnonzero(np.repeat(~train, P))
    if data.weights is not None:
        test = test[data.weights.reshape(-1)[test] > 0]
    if test.size > FIGURE_POINTS:
        test = np.sort(np.random.default_rng(seed).choice(test, FIGURE_POINTS, replace=False))
    return test


def geometry_points(hmm, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The probe's targets as points on a plane ``b . r = 1`` for :func:`compmech.compare_geometry`.

    An HMM's targets are its beliefs (on the simplex, ``r = 1``). A GHMM's are already the
    orthonormal belief-plane coordinates (:func:`compmech.pipeline.targets.belief_targets`), an
    isometry of its plane; a constant last coordinate 1 with ``r = e_last`` puts them on a plane
    whose in-plane coordinates are exactly these, so that scales are belief-plane distances in
    both cases.

    Returns:
        ``(points (N, S'), normal (S',) or None)``.
    """
    t = np.asarray(targets, dtype=np.float64)
    if isinstance(hmm, GHMM):
        normal = np.zeros(t.shape[1] + 1)
        normal[-1] = 1.0
        return np.concatenate([t, np.ones((t.shape[0], 1))], axis=1), normal
    return t, None


def geometry_record(hmm, true_targets: np.ndarray, predicted_targets: np.ndarray, *,
                    weights=None, seed: int = 0, hook: str = "", step: int = 0,
                    tokens_seen: int = 0, decoder: str = "linear",
                    lookup_errors: np.ndarray | None = None,
                    measure: str | None = None) -> tuple[GeometryRecord | None, str | None]:
    """:func:`compmech.compare_geometry` of predicted against true probe targets of ``hmm``
    (:func:`geometry_points` coordinates), as a :class:`GeometryRecord` with the predictions'
    error (in ``measure``, default :func:`compmech.history.default_measure`) and, given the
    lookups' errors on the same points, their equivalent history; ``(None, reason)`` when the
    comparison is impossible (e.g. every true belief the same)."""
    true, normal = geometry_points(hmm, true_targets)
    pred, _ = geometry_points(hmm, predicted_targets)
    measure = default_measure(hmm) if measure is None else measure
    try:
        c = compare_geometry(true, pred, weights=weights, seed=seed, normal=normal)
        error = prediction_error(true_targets, predicted_targets, weights=weights, measure=measure)
    except ValueError as err:
        return None, f"no geometry comparison: {err}"
    history = None if lookup_errors is None else history_tokens(lookup_errors, error)
    return GeometryRecord.from_comparison(c, hook=hook, step=step, tokens_seen=tokens_seen,
                                          decoder=decoder, error=error, error_measure=measure,
                                          equivalent_history=history), None


def _predict_points(probe, features, flat_idx: np.ndarray, P: int) -> np.ndarray:
    seq, pos = np.divmod(flat_idx, P)
    uniq, inverse = np.unique(seq, return_inverse=True)
    pred = predict_features(probe, features, uniq)  # (n_unique, P, S)
    return pred[inverse, pos].astype(np.float32)


def _select_steps(steps: list[int], checkpoints) -> list[int]:
    if checkpoints == "all":
        return steps
    if checkpoints == "last":
        return sorted({steps[0], steps[-1]})
    n = int(checkpoints)
    if n < 2:
        raise ValueError("--checkpoints N needs N >= 2 (the initialisation and the last step)")
    if n >= len(steps):
        return steps
    pos = np.unique(np.round(np.geomspace(1, len(steps), n)).astype(int) - 1)
    return sorted({steps[0], steps[-1], *(steps[i] for i in pos)})


def _log(progress, message: str) -> None:
    if progress:
        (progress if callable(progress) else print)(message)


class _Timer:
    """Seconds per named stage (``with timer("stage"): ...``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.start = time.perf_counter()

    def __call__(self, name: str):
        return _Stage(self, name)


class _Stage:
    def __init__(self, timer: _Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.timer.seconds[self.name] = time.perf_counter() - self.t0


@dataclass
class _ProbeJob:
    """What one :func:`analyze_run` call probes (resolved from its arguments)."""

    run: Run
    data: ProbeData
    hooks: list[str]
    headline: str
    curve_steps: list[int]
    last: int
    points: np.ndarray
    seed: int
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    sweep: bool = False
    geometry: bool = True
    decoder_hooks: tuple[str, ...] = ()
    lookups: MarkovLookups | None = None
    lookup_errors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def positions(self) -> int:
        return int(self.data.tokens.shape[1])

    @property
    def flat_targets(self) -> np.ndarray:
        """``(N * P, k)`` the probe's targets, flat."""
        return self.data.beliefs.reshape(-1, self.data.beliefs.shape[-1])

    @property
    def measure(self) -> str:
        """The error measure of the equivalent history (:func:`compmech.history.default_measure`)."""
        return default_measure(self.run.hmm)

    def point_weights(self, points: np.ndarray) -> np.ndarray | None:
        return None if self.data.weights is None else self.data.weights.reshape(-1)[points]

    def lookup_errors_at(self, points: np.ndarray) -> np.ndarray:
        """``(n_ctx + 1,)`` the Markov-k lookups' errors at ``points`` (built once, cached per
        point set)."""
        key = hashlib.sha1(np.ascontiguousarray(points).tobytes()).hexdigest()
        if key not in self.lookup_errors:
            if self.lookups is None:
                self.lookups = MarkovLookups(self.data.tokens, self.data.beliefs,
                                             weights=self.data.weights)
            self.lookup_errors[key] = self.lookups.errors(points, self.point_weights(points),
                                                          measure=self.measure)
        return self.lookup_errors[key]

    def compare(self, predicted: np.ndarray, *, hook: str, step: int, decoder: str = "linear",
                points: np.ndarray | None = None) -> GeometryRecord | None:
        """:func:`geometry_record` of predictions at ``points`` (default: the figure points), with
        their equivalent history; ``None`` when geometry is off or the comparison is impossible
        (e.g. every belief alike)."""
        if not self.geometry:
            return None
        points = self.points if points is None else points
        record, _ = geometry_record(self.run.hmm, self.flat_targets[points], predicted,
                                    weights=self.point_weights(points), seed=self.seed, hook=hook,
                                    step=step, tokens_seen=self.run.tokens_seen(step),
                                    decoder=decoder, lookup_errors=self.lookup_errors_at(points),
                                    measure=self.measure)
        return record


def _resolve(run: Run, *, checkpoints, hooks, headline, seed, split, max_points,
             num_sequences, weighting="uniform", folds=None, sweep=False) -> _ProbeJob:
    headline = headline or run.last_hook()
    hooks = _check_hooks(list(hooks) if hooks else layer_hooks(run), run)
    if headline not in hooks:
        hooks = [headline] + hooks
    _check_hooks([headline], run)
    steps = run.checkpoint_steps
    if not steps or steps[0] != 0:
        raise ValueError(f"{run.run_dir} needs checkpoints including step 0 (the untrained "
                         f"baseline); found {steps[:3]}")
    if folds is not None and split != "auto":
        raise ValueError("give either a split or a number of folds for k-fold cross-validation")
    if folds is not None and (int(folds) != folds or folds < 2):
        raise ValueError(f"folds must be an integer >= 2; got {folds!r}")
    data = probe_data(run, seed=seed, max_points=max_points, num_sequences=num_sequences,
                      weighting=weighting, n_folds=DEFAULT_FOLDS if folds is None else int(folds))
    widths = run.hook_widths()
    width = max(sum(widths[h] for h in _model_hooks([hook], run)) for hook in hooks)
    if folds is None:
        data = dataclasses.replace(data, train_folds=_train_folds(split, data.tokens.size, width))
    else:
        data = dataclasses.replace(data, train_folds=int(folds) - 1, kfold=True)
    points = _figure_points(data, seed)
    job = _ProbeJob(run, data, hooks, headline, _select_steps(steps, checkpoints), steps[-1],
                    points, seed, sweep=sweep)
    job.arrays["true"] = data.beliefs.reshape(-1, data.beliefs.shape[-1])[points].astype(np.float32)
    job.arrays["point_index"] = points
    return job


def _probe_trained(job: _ProbeJob, timer: _Timer, fractal: bool, decoders: Sequence[str]):
    """Every hook at the last checkpoint with the shuffle control (the headline also with the
    spread over folds); predictions of the figure points and their geometry, hook by hook; the
    all-scales fractal comparison; the nonlinear decoders."""
    run, data, P = job.run, job.data, job.positions
    with timer("forward_trained_s"):
        acts = collect(run, run.load_params(job.last), data, job.hooks)
    results: dict[str, ProbeResult] = {}
    with timer("probe_trained_s"):
        for hook in job.hooks:
            feats = _features(acts, hook, run)
            results[hook] = res = _probe(feats, data, spread=hook == job.headline, shuffle=True,
                                         seed=job.seed)
            job.arrays[f"pred/{hook}"] = _predict_points(res.probe, feats, job.points, P)
            job.arrays[f"shuffle/{hook}"] = _predict_points(res.shuffle_probe, feats, job.points, P)
    geometries: dict[str, GeometryRecord | None] = {}
    with timer("geometry_s"):
        for hook in job.hooks:
            geometries[hook] = job.compare(job.arrays[f"pred/{hook}"].astype(np.float64),
                                           hook=hook, step=job.last)
    if job.sweep:
        with timer("rcond_sweep_s"):
            for hook in job.hooks:
                results[hook].extra["regularisation"] = rcond_sweep(
                    _features(acts, hook, run), data.beliefs, data.folds,
                    train_folds=data.train_folds, spread=data.kfold, weights=data.weights,
                    seed=job.seed).summary()
    comparison = None
    if fractal:
        with timer("fractal_s"):
            feats = _features(acts, job.headline, run)
            seq, pos = np.divmod(job.points, P)
            flat = (feats(seq) if callable(feats) else feats[seq])[np.arange(seq.size), pos]
            projected = affine_subspace_projection(results[job.headline].probe, flat)
            job.arrays["projection"] = projected.astype(np.float32)
            comparison = fractal_comparison(job.arrays["true"].astype(np.float64),
                                            job.arrays[f"pred/{job.headline}"].astype(np.float64),
                                            projected, seed=job.seed)
    reports = None
    if decoders:
        with timer("decoders_s"):
            reports = _probe_decoders(job, acts, results, decoders)
    return results, comparison, reports, geometries


def _train_points(data: ProbeData) -> np.ndarray:
    """Flat indices of the training side of the split (positive weight)."""
    P = data.tokens.shape[1]
    train = np.flatnonzero(np.repeat(np.isin(data.folds, np.arange(data.train_folds)), P))
    if data.weights is not None:
        train = train[data.weights.reshape(-1)[train] > 0]
    return train


def _prefix_hashes(tokens: np.ndarray) -> np.ndarray:
    """``(N, P)`` uint64 hash of each prefix ``tokens[n, :t+1]`` (polynomial, wrapping)."""
    h = np.zeros(tokens.shape[0], dtype=np.uint64)
    out = np.empty(tokens.shape, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for t in range(tokens.shape[1]):  # positions only (n_ctx steps), vectorised over sequences
            h = h * np.uint64(0x100000001B3) + tokens[:, t].astype(np.uint64) + np.uint64(1)
            out[:, t] = h
    return out


def novel_prefix_points(data: ProbeData, *, seed: int, max_points: int = FIGURE_POINTS) -> np.ndarray:
    """Held-out flat points whose input prefix (the tokens the model has seen there) occurs nowhere
    on the training side: a decoder cannot score there by looking up a training point with the
    same activations. At most ``max_points`` (seeded subsample), positive weight only."""
    P = data.tokens.shape[1]
    hashes = _prefix_hashes(data.tokens).reshape(-1)
    train = _train_points(data)
    test = np.flatnonzero(~np.repeat(np.isin(data.folds, np.arange(data.train_folds)), P))
    if data.weights is not None:
        test = test[data.weights.reshape(-1)[test] > 0]
    test = test[~np.isin(hashes[test], hashes[train])]
    if test.size > max_points:
        test = np.sort(np.random.default_rng(seed).choice(test, max_points, replace=False))
    return test


def _probe_decoders(job: _ProbeJob, acts: dict[str, np.ndarray], results: dict[str, ProbeResult],
                    decoders: Sequence[str]) -> dict[str, dict[str, DecoderReport]]:
    """The linear probe beside nonlinear decoders for the headline hook and the concatenation:
    each decoder trained on one seeded subsample of the training side; all scored on the held-out
    points with novel prefixes (:func:`novel_prefix_points`). Control: the nonlinear decoders on
    the untrained network's headline hook (``untrained_knn``, ``untrained_mlp``): what any
    deterministic function of the recent tokens gives such a decoder."""
    run, P = job.run, job.positions
    missing = [h for h in _model_hooks(list(job.decoder_hooks), run) if h not in acts]
    if missing:
        acts = {**acts, **collect(run, run.load_params(job.last), job.data, missing)}
    targets = job.flat_targets
    train_side = _train_points(job.data)
    train = dec.training_subsample(train_side, job.data.weights, seed=job.seed)
    test = novel_prefix_points(job.data, seed=job.seed)
    if test.size < MIN_DECODER_POINTS:
        return {}
    job.arrays["decoder_points"] = test
    w = job.point_weights(test)
    out: dict[str, dict[str, DecoderReport]] = {}
    for hook in job.decoder_hooks:
        feats = _features(acts, hook, run)
        rows: dict[str, DecoderReport] = {}
        if hook in results:
            t0 = time.perf_counter()
            pred = _predict_points(results[hook].probe, feats, test, P).astype(np.float64)
            mse = float(np.average(((pred - targets[test]) ** 2).mean(axis=1), weights=w))
            rows["linear"] = DecoderReport(
                "linear", hook, mse, int(train_side.size), time.perf_counter() - t0,
                job.compare(pred, hook=hook, step=job.last, points=test))
        for kind in ("linear_subsample", *decoders):
            rows[kind] = _decoder_report(job, "linear" if kind == "linear_subsample" else kind,
                                         feats, hook, train, test, w, name=kind, step=job.last)
        out[hook] = rows
    # the control: the same decoders on the untrained network (step 0) at the headline hook
    feats = _features(collect(run, run.load_params(0), job.data, [job.headline]), job.headline, run)
    for kind in decoders:
        out[job.headline][f"untrained_{kind}"] = _decoder_report(
            job, kind, feats, job.headline, train, test, w, name=f"untrained_{kind}", step=0)
    return out


def lookup_reports(job: _ProbeJob, points: np.ndarray) -> dict[str, DecoderReport]:
    """The exact Markov-k-plus-position lookups (:data:`LOOKUP_ORDERS`, ``k <= n_ctx``) at
    ``points``, scored and compared like a decoder (they need no training: each is the mean true
    belief over all probe points with the same position and last ``k`` tokens)."""
    job.lookup_errors_at(points)  # builds the lookups once
    out = {}
    for k in (k for k in LOOKUP_ORDERS if k <= job.positions):
        t0 = time.perf_counter()
        pred = job.lookups.predict(k, points)
        mse = float(np.average(((pred - job.flat_targets[points]) ** 2).mean(axis=1),
                               weights=job.point_weights(points)))
        out[f"markov_{k}"] = DecoderReport(
            f"markov_{k}", "tokens", mse, job.lookups.num_points, time.perf_counter() - t0,
            job.compare(pred, hook="tokens", step=job.last, decoder=f"markov_{k}", points=points))
    return out


def _decoder_report(job: _ProbeJob, kind: str, feats, hook: str, train: np.ndarray,
                    test: np.ndarray, weights, *, name: str, step: int) -> DecoderReport:
    """Fit one decoder, keep its held-out predictions for the figures, compare them with the truth."""
    t0 = time.perf_counter()
    fit = dec.decode(kind, feats, job.flat_targets, train, test, job.positions, seed=job.seed,
                     test_weights=weights)
    seconds = time.perf_counter() - t0
    job.arrays[f"decoder/{name}/{hook}"] = fit.predicted.astype(np.float32)
    return DecoderReport(name, hook, fit.mse, fit.train_points, seconds,
                         job.compare(fit.predicted, hook=hook, step=step, decoder=name,
                                     points=test))


def _probe_curve(job: _ProbeJob, results: dict[str, ProbeResult], baselines: dict[str, dict],
                 progress, last_geometry: GeometryRecord | None = None) -> list[CurvePoint]:
    """The headline hook at each selected checkpoint (no spread, no shuffle); the last checkpoint's
    geometry is ``last_geometry`` (already computed)."""
    run, data, head = job.run, job.data, job.headline
    curve = []
    for step in job.curve_steps:
        if step == job.last:
            res = results[head]
        elif step == 0:
            res = baselines[head]["untrained"]
        else:
            feats = _features(collect(run, run.load_params(step), data, [head]), head, run)
            res = _probe(feats, data)
            job.arrays[f"checkpoint/{step}"] = _predict_points(res.probe, feats, job.points,
                                                               job.positions)
        pred = job.arrays.get(f"pred/{head}" if step == job.last else f"checkpoint/{step}")
        if step == job.last:
            geometry = last_geometry
        else:
            geometry = None if pred is None else job.compare(pred.astype(np.float64), hook=head,
                                                             step=step)
        curve.append(CurvePoint(step, run.tokens_seen(step), head, res.scores["mse"],
                                res.scores["r2"], geometry))
        resolution = "" if geometry is None else (
            f"  resolution {geometry.resolution:.3g}  history "
            f"{_num(geometry.equivalent_history, '.2f')} tokens")
        _log(progress, f"  step {step:>8}  tokens {run.tokens_seen(step):>12,}  "
                       f"MSE {res.scores['mse']:.3g}{resolution}")
    return curve


def _probe_factor_targets(job: _ProbeJob):
    """Mixtures and products: the extra targets at the headline hook and the concatenation, and
    for a product the principal angles between the factors' probe subspaces."""
    run, data = job.run, job.data
    targets = factor_targets(run.hmm, data.joint_beliefs, data.weights)
    hooks = list(dict.fromkeys([job.headline, CONCAT]))
    acts = collect(run, run.load_params(job.last), data, hooks)
    scores: dict[str, dict[str, dict]] = {name: {} for name in targets}
    headline_probes = {}
    for hook in hooks:
        fits = probe_factors(_features(acts, hook, run), targets, data.folds, data.train_folds,
                             seed=job.seed)
        for name, fit in fits.items():
            scores[name][hook] = fit.scores
        if hook == job.headline:
            headline_probes = {n: f.probe for n, f in fits.items() if n.startswith("factor_")}
    names = sorted(headline_probes)
    headline = _features(acts, job.headline, run) if names else None
    angles = {f"{a.rsplit('_', 1)[1]},{b.rsplit('_', 1)[1]}":
              encoding_angles_deg(headline_probes[a], headline_probes[b], headline, data.weights)
              for i, a in enumerate(names) for b in names[i + 1:]}
    return scores, (angles or None)


def analyze_run(run_dir, *, checkpoints: str | int = "all", hooks: Sequence[str] | None = None,
                headline: str | None = None, seed: int = 0, force: bool = False,
                split: str = "auto", max_points: int = MAX_ENUMERATED_POINTS,
                num_sequences: int = 20_000, fractal: bool = True, geometry: bool = True,
                decoders: Sequence[str] = DEFAULT_DECODERS, decoder_concat: bool = True,
                progress: bool | Callable = True, weighting: str = "uniform",
                folds: int | None = None, rcond_sweep: bool = False) -> ProbeReport:
    """Probe a run: every hook with controls and baselines at the last checkpoint, the headline hook
    at every checkpoint; writes ``probe.json`` and ``probe_points.npz`` into the run directory.

    Args:
        run_dir: a run written by :func:`transformer.train`.
        checkpoints: ``"all"``, ``"last"`` (the initialisation and the last step) or an integer ``N``
            (``N`` log-spaced checkpoints) for the curve over training.
        hooks: hooks probed at the last checkpoint (names of :func:`transformer.hook_names` or
            ``"concat"``); default :func:`layer_hooks`.
        headline: the hook of the summary and the curve; default the model's
            :func:`transformer.last_hook` (for the transformer: the paper's).
        seed: seed of the folds, the shuffle control, the random features and the subsamples.
        split: ``"20/80"`` (the paper's: train on 20% of sequences), ``"80/20"``, or ``"auto"``:
            20/80 unless the training side would have fewer than
            :data:`MIN_POINTS_PER_COEFFICIENT` points per coefficient of the widest probe (tiny
            enumerations such as RRXOR's 436 or Z1R's words), then 80/20. Recorded in the report.
        force: overwrite an existing ``probe.json``.
        max_points: enumerate all words up to this many points (see :func:`probe_inputs`).
        num_sequences: sampled sequences otherwise.
        fractal: run the old fractal comparison for the headline hook (dimensions fitted over
            all scales, :func:`compmech.pipeline.fractal.fractal_comparison`).
        geometry: compare the headline hook's held-out predictions with the true beliefs scale by
            scale at every probed checkpoint, and every hook at the last one
            (:func:`compmech.compare_geometry`: paired resolution; equivalent history).
        decoders: nonlinear decoders (``"knn"``, ``"mlp"``, :mod:`compmech.pipeline.decoders`)
            fitted beside the linear probe at the last checkpoint for the headline hook and the
            concatenation; ``()`` for none.
        decoder_concat: also fit the decoders to the concatenation of layers (else the headline
            hook only).
        progress: print progress lines (or a callable taking them).
        weighting: ``"uniform"`` (every enumerated point weighs 1, Shai et al. 2024) or
            ``"probability"`` (point ``(word, t)`` weighs ``P(word)``, Riechers et al. 2025); see
            :func:`compmech.probe.probe_inputs`.
        folds: ``K`` for K-fold cross-validation by sequence (each fold tested once by the probe
            trained on the other K - 1; the reported scores pooled over folds) instead of
            ``split``.
        rcond_sweep: also fit every hook with its cut-off chosen by inner validation
            (:func:`compmech.probe.rcond_sweep`), reported as each hook's ``regularisation``.

    Returns:
        The :class:`ProbeReport` written to ``probe.json``.

    Raises:
        FileExistsError: ``probe.json`` exists and ``force`` is False.
        compmech.files.LockBusy: another process is writing the run directory.
    """
    run = load_run(run_dir)
    with run.lock("compmech probe"):
        return _analyze(run, Path(run_dir), checkpoints=checkpoints, hooks=hooks,
                        headline=headline, seed=seed, force=force, split=split,
                        max_points=max_points, num_sequences=num_sequences, fractal=fractal,
                        geometry=geometry, decoders=_check_decoders(decoders),
                        decoder_concat=decoder_concat, progress=progress, weighting=weighting,
                        folds=folds, sweep=rcond_sweep)


def _check_decoders(decoders: Sequence[str]) -> tuple[str, ...]:
    bad = [d for d in decoders if d not in ("knn", "mlp")]
    if bad:
        raise ValueError(f"unknown decoders {bad}; choose from knn, mlp")
    return tuple(dict.fromkeys(decoders))


def _analyze(run: Run, run_dir: Path, *, checkpoints, hooks, headline, seed, force, split,
             max_points, num_sequences, fractal, geometry, decoders, decoder_concat,
             progress, weighting="uniform", folds=None, sweep=False) -> ProbeReport:
    """:func:`analyze_run` once the run directory is locked."""
    timer = _Timer()
    out_path = run_dir / PROBE_FILE
    if out_path.exists() and not force:
        raise FileExistsError(f"{out_path} already exists; pass --force to overwrite it")
    with timer("data_s"):
        job = _resolve(run, checkpoints=checkpoints, hooks=hooks, headline=headline, seed=seed,
                       split=split, max_points=max_points, num_sequences=num_sequences,
                       weighting=weighting, folds=folds, sweep=sweep)
    _log(progress, f"probe: {job.data.num_sequences} sequences x {job.positions} positions "
                   f"({job.data.protocol}), checkpoint {job.last}, hooks {', '.join(job.hooks)}")
    job.geometry = geometry
    job.decoder_hooks = tuple(dict.fromkeys([job.headline] + ([CONCAT] if decoder_concat else [])))
    results, comparison, decoder_reports, geometries = _probe_trained(job, timer, fractal, decoders)
    lookups = None
    if decoder_reports and geometry:
        with timer("lookups_s"):
            lookups = lookup_reports(job, job.arrays["decoder_points"])
    _log(progress, f"  trained network probed ({timer.seconds['forward_trained_s']:.1f} s forward, "
                   f"{timer.seconds['probe_trained_s']:.1f} s probes)")
    with timer("forward_untrained_s"):
        untrained = collect(run, run.load_params(0), job.data, job.hooks)
    with timer("baselines_s"):
        baselines = baseline_results(run, job.data, job.hooks, seed=seed, untrained_acts=untrained)
    job.arrays["checkpoint/0"] = _predict_points(baselines[job.headline]["untrained"].probe,
                                                 _features(untrained, job.headline, run),
                                                 job.points, job.positions)
    del untrained
    _log(progress, f"  baselines ({timer.seconds['forward_untrained_s']:.1f} s forward, "
                   f"{timer.seconds['baselines_s']:.1f} s probes)")
    with timer("curve_s"):
        curve = _probe_curve(job, results, baselines, progress, geometries.get(job.headline))
    last = geometries.get(job.headline)
    geometry_note = None
    if geometry and last is None:
        geometry_note = geometry_record(run.hmm, job.flat_targets[job.points],
                                        job.arrays[f"pred/{job.headline}"], seed=seed)[1]
    factors, angles = None, None
    if run.hmm.structure is not None:
        with timer("factors_s"):
            factors, angles = _probe_factor_targets(job)
    timer.seconds["total_s"] = time.perf_counter() - timer.start
    paper = PAPER.get(run.hmm.name)
    report = ProbeReport(
        run_dir=str(run_dir), process=run.hmm.name, process_params=dict(run.hmm.params),
        model=run.model_config.to_dict(), step=job.last, tokens_seen=run.tokens_seen(job.last),
        training_wall_time_s=run.training_wall_time, protocol=job.data.describe(sweep=job.sweep),
        headline_hook=job.headline,
        hooks={h: HookReport.from_result(results[h], baselines[h],
                                         results[h].extra.get("regularisation"), geometries.get(h))
               for h in job.hooks},
        curve=curve, fractal=comparison, timing=timer.seconds,
        paper=None if paper is None else {"mse": paper["mse"], "tokens": paper["tokens"]},
        factors=factors, factor_angles_deg=angles, geometry=last, geometry_note=geometry_note,
        decoders=decoder_reports, lookups=lookups,
        decoder_points_per_position=None if "decoder_points" not in job.arrays else np.bincount(
            job.arrays["decoder_points"] % job.positions, minlength=job.positions).tolist(),
        lookup_errors=None if not geometry else _lookup_error_lists(job),
        error_measure=job.measure if geometry else None)
    with atomic_output(Path(run_dir) / POINTS_FILE) as fh:
        np.savez_compressed(fh, **job.arrays)
    report.write(out_path)
    return report


def _lookup_error_lists(job: _ProbeJob) -> dict[str, list[float]]:
    sets = {"figure": job.points}
    if "decoder_points" in job.arrays:
        sets["decoder"] = job.arrays["decoder_points"]
    return {name: job.lookup_errors_at(points).tolist() for name, points in sets.items()}


def summary_lines(report: ProbeReport) -> list[str]:
    """The headline result with its controls, as printed lines."""
    r, b = report.headline, report.headline.baselines
    wall = report.training_wall_time_s
    lines = [
        f"process            {report.process} {report.process_params}",
        f"training           {report.step:,} steps, {report.tokens_seen:,} tokens"
        + (f", {wall:.0f} s" if wall is not None else ""),
        f"probe site         {report.headline_hook} ({report.protocol.num_points:,} points, "
        f"{report.protocol.inputs}, {report.protocol.weighting_option} weights, "
        + (f"{report.protocol.n_folds}-fold cross-validation)" if report.protocol.kfold
           else f"{report.split_name} split by sequence)"),
        f"held-out MSE       {r.mse_test:.3g}  (folds {r.mse_folds_mean:.3g} "
        f"+- {r.mse_folds_std:.2g}; R^2 {_num(r.r2_test, '.4f')})",
        f"shuffle control    {_num(r.shuffle_mse, '.3g')}  (belief variance {r.belief_variance:.3g})",
        f"untrained network  {b['untrained']:.3g}",
        f"one-hot tok x pos  {b['onehot']:.3g}",
        f"random features    {b['random']:.3g}",
    ]
    markov = [k for k in b if k.startswith("markov_")]
    if markov:
        lines.append("Markov order k     " + ", ".join(
            f"k={k.split('_')[1]} {b[k]:.3g}" for k in markov) + "  (best predictor seeing the "
            "last k tokens)")
    if r.regularisation:
        reg = r.regularisation
        mse = reg["mse_pooled"] if report.protocol.kfold else reg["mse_test"]
        lines.append(f"rcond sweep        MSE {mse:.3g} with rcond "
                     f"{', '.join(f'{c:g}' for c in sorted(set(reg['chosen_rcond'])))} chosen by "
                     "inner validation")
    fr = report.fractal
    if fr and "dimensions_true" not in fr:
        lines.append(f"distances          pairwise-distance r = "
                     f"{_num(fr['pairwise_distance_correlation'], '.3f')} "
                     f"({fr['num_distinct_points']} distinct beliefs: no fractal dimensions)")
    elif fr:
        t, p = fr["dimensions_true"], fr["dimensions_predicted"]
        lines.append(
            f"dims, all scales   box {_num(t['box_counting']['dimension'], '.2f')} true vs "
            f"{_num(p['box_counting']['dimension'], '.2f')} learned, correlation "
            f"{_num(t['correlation']['dimension'], '.2f')} vs "
            f"{_num(p['correlation']['dimension'], '.2f')} (fitted over all scales); "
            f"pairwise-distance r = {_num(fr['pairwise_distance_correlation'], '.3f')}")
    lines += geometry_lines(report)
    for name, by_hook in (report.factors or {}).items():
        cells = ", ".join(f"{hook_short(h)} {_num(v['mse_test'], '.3g')} (shuffle "
                          f"{_num(v['shuffle_mse'], '.3g')})" for h, v in by_hook.items())
        lines.append(f"{name:<18} {cells}")
    for pair, angles in (report.factor_angles_deg or {}).items():
        lines.append(f"factors {pair} angles  {', '.join(f'{a:.0f}' for a in angles)} degrees "
                     "between their probe subspaces")
    if report.paper:
        lines.append(f"paper (Shai 2024)  {report.paper['mse']:.2g} after "
                     f"{report.paper['tokens']:.3g} tokens")
    return lines


def resolution_text(g: GeometryRecord | None) -> str:
    """``"paired resolution 0.031 (null 0.029, noise RMS 0.014); equivalent history 5.3 tokens"``,
    or why there is none."""
    if g is None:
        return "no geometry comparison"
    if not g.resolved:
        text = f"paired resolution: none below the extent {g.extent:.3g}"
    else:
        text = f"paired resolution {g.resolution:.3g}" + (" (grid floor)" if g.resolution_at_floor
                                                          else "")
    text += f" (null model {g.null_resolution:.3g}, noise RMS {g.noise_rms:.3g})"
    if g.equivalent_history is not None:
        text += f"; equivalent history {g.equivalent_history:.2f} tokens"
    return text


def dimension_text(g: GeometryRecord | None) -> str:
    """The correlation dimensions fitted above the resolution, with their fit range."""
    if g is None or g.dimension_true is None:
        return "not fitted" if g is None else (g.dimension_note or "not fitted")
    lo, hi = g.dimension_fit_range
    return (f"correlation {g.dimension_true:.2f} +- {g.dimension_stderr_true:.2f} true vs "
            f"{g.dimension_predicted:.2f} +- {g.dimension_stderr_predicted:.2f} learned "
            f"(eps {lo:.2g}..{hi:.2g})")


def geometry_lines(report: ProbeReport) -> list[str]:
    """Paired resolution, equivalent history and the dimensions above the resolution; decoders."""
    if report.geometry is None and report.geometry_note is None:
        return []
    lines = [f"geometry           {resolution_text(report.geometry)}"]
    if report.geometry is not None:
        lines.append(f"cloud dims > res.  {dimension_text(report.geometry)} (point clouds of the "
                     "probe's words)")
    if report.geometry_note:
        lines.append(f"                   ({report.geometry_note})")
    layers = [(h, r.geometry) for h, r in report.hooks.items() if r.geometry is not None]
    if len(layers) > 1:
        lines.append("per layer          " + ", ".join(
            f"{hook_short(h)} res {g.resolution:.2g} hist {_num(g.equivalent_history, '.1f')}"
            for h, g in layers) + f" (paired resolution; equivalent history in tokens, "
            f"{report.error_measure})")
    for hook, rows in [*(report.decoders or {}).items(), ("lookups", report.lookups or {})]:
        cells = ", ".join(f"{kind} {_decoder_cell(r)}" for kind, r in rows.items())
        if cells:
            lines.append(f"decoders @{hook_short(hook):<8} {cells}")
    if report.decoder_points_per_position:
        lines.append(f"decoder points     per position {report.decoder_points_per_position}")
    return lines


def _decoder_cell(r: DecoderReport) -> str:
    g = r.geometry
    if g is None:
        return f"MSE {r.mse_test:.2g}"
    return (f"MSE {r.mse_test:.2g} res {g.resolution:.2g} (null {g.null_resolution:.2g}) "
            f"hist {_num(g.equivalent_history, '.1f')}")


def hook_short(name: str) -> str:
    """``"blocks.3.hook_resid_post" -> "resid_post@3"``; other names unchanged."""
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "blocks":
        return f"{parts[2].removeprefix('hook_')}@{parts[1]}"
    return name


def _num(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


__all__ = [
    "CONCAT",
    "MARKOV_ORDERS",
    "BaselineScores",
    "CurvePoint",
    "DecoderReport",
    "HookReport",
    "PAPER",
    "POINTS_FILE",
    "PROBE_FILE",
    "ProbeData",
    "ProbeProtocol",
    "ProbeReport",
    "analyze_run",
    "baseline_results",
    "collect",
    "dimension_text",
    "geometry_lines",
    "geometry_points",
    "geometry_record",
    "hook_label",
    "layer_hooks",
    "load_report",
    "markov_baselines",
    "probe_data",
    "resolution_text",
    "lookup_reports",
    "summary_lines",
]
