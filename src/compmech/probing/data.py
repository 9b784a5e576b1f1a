"""The probe stage's data: the hooks of a run, the probe's points (:class:`ProbeData`,
:func:`probe_data`), the activations collected at them (:func:`collect`), the split policy
(:data:`SPLITS`), and the Markov-k baselines, with the stage's constants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from compmech.probing.crossval import (
    ProbeResult,
    cross_validated_probe,
)
from compmech.probing.inputs import (
    WEIGHTINGS,
    category_mean_scores,
    concatenated,
    markov_codes,
    probe_inputs,
    sequence_folds,
)
from compmech.probing.linear import (
    DEFAULT_FOLDS,
    MAX_ENUMERATED_POINTS,
    RCOND_GRID,
    SCORE_DEFINITIONS,
    Scores,
)
from compmech.probing.targets import (
    belief_targets,
    target_description,
)
from compmech.records import Record
from transformer import Run, collect_activations
from transformer.registry import CONCAT

#: Sequences per compiled forward call: small batches stay in cache (measured on 2 shared cores,
#: 59,049 x 10 tokens: 128 -> 2.8 s, 256 -> 3.0 s, 512 -> 3.9 s, 1024 -> 5.7 s, 8192 -> 9-17 s).
FORWARD_BATCH = 256
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
@dataclass(frozen=True)
class PaperReference(Record):
    """A published probe result: held-out MSE after ``tokens`` training tokens."""

    mse: float
    tokens: float


#: The published probe of Shai et al. (2024) per process (Mess3: 1,000,000 steps, about 56 h).
PAPER = {"mess3": PaperReference(mse=3.9e-4, tokens=629e6)}
#: Their probe MSE over training, ``{tokens: MSE}`` per process (the learning-curve figure).
PAPER_CURVES = {"mess3": {640_000: 8.41e-3, 3_200_000: 2.48e-3, 629_000_000: 3.9e-4}}


# ---------------------------------------------------------------------------------------- hooks
def layer_hooks(run: Run) -> list[str]:
    """The per-layer grid of a run: its model's probe hooks, then the concatenation."""
    return run.probe_hooks() + [CONCAT]


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
            :func:`compmech.probing.targets.belief_targets` reads it (``k = S`` for an HMM, the
            ``S - 1`` belief-plane coordinates for a GHMM).
        weights: ``(N, n_ctx)`` point weights, or None (unweighted).
        folds: ``(N,)`` fold of each sequence.
        protocol: ``"enumerated"`` or ``"sampled"``.
        seed: the seed of the folds (and of the sample when sampled).
        train_folds: folds trained on (1 of 5: the paper's 20/80 split).
        target: what ``beliefs`` holds, in words.
        joint_beliefs: ``(N, n_ctx, S)`` the beliefs themselves (for the factor targets).
        n_folds: number of folds.
        weighting: ``"uniform"`` or ``"probability"`` (see :func:`compmech.probing.inputs.probe_inputs`).
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
    :func:`compmech.probing.inputs.probe_inputs`); with a BOS token its position carries the same weights as
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


def train_folds(split: str, num_points: int, width: int) -> int:
    """The split policy (the one every stage uses): how many of the :data:`DEFAULT_FOLDS` sequence
    folds the probe trains on.

    Args:
        split: ``"20/80"`` (the paper's: one fold of five), ``"80/20"`` (four folds), or ``"auto"``:
            ``"20/80"`` unless one fold holds fewer than :data:`MIN_POINTS_PER_COEFFICIENT` points
            per coefficient of a probe of ``width`` features plus intercept, then ``"80/20"``.
        num_points: the probe's points ``N * P``.
        width: the probe's feature width ``d``.

    Raises:
        ValueError: an unknown ``split``.
    """
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

    scores: Scores


def markov_baselines(data: ProbeData, vocab_size: int,
                     orders: Sequence[int] = MARKOV_ORDERS) -> dict[str, BaselineScores]:
    """``{"markov_k": scores}``: the best predictor seeing only the last ``k`` model inputs
    (:func:`compmech.probing.inputs.markov_codes`; the mean training belief of each window), on the probe's
    split. With a BOS token, the BOS counts as one of the ``k``."""
    return {f"markov_{k}": BaselineScores(category_mean_scores(
        markov_codes(data.tokens, vocab_size, k), data.beliefs, data.folds, _train_sets(data),
        weights=data.weights)) for k in orders}

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
    curve: str | None = None


__all__ = [
    "train_folds",
    "BaselineScores",
    "CONCAT",
    "MARKOV_ORDERS",
    "PAPER",
    "PAPER_CURVES",
    "POINTS_FILE",
    "PaperReference",
    "PROBE_FILE",
    "ProbeData",
    "ProbeProtocol",
    "collect",
    "layer_hooks",
    "markov_baselines",
    "probe_data",
]
