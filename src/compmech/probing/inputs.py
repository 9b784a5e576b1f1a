"""The linear probe's inputs: every word or sampled sequences with their prefix weights
(:func:`probe_inputs`), folds by sequence (:func:`sequence_folds`), and the baselines' features
(one-hot tokens, Markov-k windows and their category means, seeded random features,
concatenations), all numpy float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from compmech.inference import all_words, filter_beliefs, sample
from compmech.probing.linear import (
    DEFAULT_FOLDS,
    MAX_ENUMERATED_POINTS,
    Features,
    Scores,
    regression_scores,
)


# -------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class ProbeInputs:
    """The probe's data set: input sequences and the belief at every position.

    Attributes:
        tokens: ``(N, P)`` int32 input sequences (``P = n_ctx``).
        beliefs: ``(N, P, S)`` float64; ``beliefs[n, t]`` is the belief after ``tokens[n, :t+1]``.
        weights: ``(N, P)`` float64 point weights, or None for the unweighted protocol.
        protocol: ``"enumerated"`` (every word of nonzero probability, unweighted) or
            ``"sampled"`` (distinct prefixes weighted once by their probability).
    """

    tokens: np.ndarray
    beliefs: np.ndarray
    weights: np.ndarray | None
    protocol: str

    @property
    def num_points(self) -> int:
        """``N * P``."""
        return int(self.tokens.size)


def _prefix_probabilities(hmm, tokens: np.ndarray, next_token_probs: np.ndarray) -> np.ndarray:
    """``(N, P)`` probability of each prefix ``x_1..x_t``, from the filter's predictive probabilities."""
    first = (hmm.initial_distribution @ hmm.emission_probabilities)[tokens[:, 0]]
    cond = np.take_along_axis(next_token_probs[:, :-1], tokens[:, 1:, None], axis=2)[..., 0]
    return np.exp(np.cumsum(np.log(np.concatenate([first[:, None], cond], axis=1)), axis=1))


def distinct_prefix_weights(hmm, tokens: np.ndarray, next_token_probs: np.ndarray) -> np.ndarray:
    """Weight each distinct prefix once by its probability.

    The first sequence holding prefix ``x_1..x_t`` carries weight ``P(x_1..x_t)`` at position ``t``;
    later copies of the same prefix carry 0 (not count x probability).

    Returns:
        ``(N, P)`` float64 weights.
    """
    n, P = tokens.shape
    probs = _prefix_probabilities(hmm, tokens, next_token_probs)
    weights = np.zeros((n, P))
    # Prefix identity: an exact integer code per prefix when it fits in int64, else the rows.
    use_codes = hmm.vocab_size**P < 2**62
    code = np.zeros(n, dtype=np.int64)
    for t in range(P):
        if use_codes:
            code = code * hmm.vocab_size + tokens[:, t]
            _, first = np.unique(code, return_index=True)
        else:
            _, first = np.unique(tokens[:, : t + 1], axis=0, return_index=True)
        weights[first, t] = probs[first, t]
    return weights


#: Point weightings of the enumerated protocol (:func:`probe_inputs`).
WEIGHTINGS = ("uniform", "probability")


def probe_inputs(hmm, n_ctx: int, *, max_points: int = MAX_ENUMERATED_POINTS,
                 num_sequences: int = 20_000, seed: int = 0,
                 weighting: str = "uniform") -> ProbeInputs:
    """The probe's inputs for a process: enumerated when small enough, else sampled.

    If ``V**n_ctx * n_ctx <= max_points``, every word of length ``n_ctx`` with nonzero probability,
    each labelled at all positions (the paper's protocol; for Mess3, all 3^10 words), weighted by
    ``weighting``:

    * ``"uniform"``: every point weight 1 (Shai et al. 2024);
    * ``"probability"``: the point ``(n, t)`` of word ``n`` carries ``P(word n)`` (Riechers et al.
      2025's probability-weighted least squares). Words sharing the prefix ``x_1..x_t`` then carry
      ``P(x_1..x_t)`` at position ``t`` in total (the same as weighting each distinct prefix once
      by its probability), and every position carries total weight 1.

    Otherwise ``num_sequences`` sampled words (stationary start, ``seed``) with each distinct prefix
    weighted once by its probability (whatever ``weighting``: the sample already follows the
    process's probabilities).

    Returns:
        :class:`ProbeInputs`.
    """
    if int(n_ctx) != n_ctx or n_ctx < 1:
        raise ValueError(f"n_ctx must be an integer >= 1; got {n_ctx}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}; got {weighting!r}")
    V = hmm.vocab_size
    if V**n_ctx * n_ctx <= max_points:
        words = all_words(V, n_ctx)
        filtered = filter_beliefs(hmm, words, allow_impossible=True)
        possible = filtered.possible[:, -1]
        weights = None
        if weighting == "probability":
            prob = np.exp(filtered.log_probability[possible])
            weights = np.repeat((prob / prob.sum())[:, None], n_ctx, axis=1)
        return ProbeInputs(words[possible], filtered.beliefs[possible], weights, "enumerated")
    samples = sample(hmm, num_sequences, n_ctx, seed=seed)
    filtered = filter_beliefs(hmm, samples.tokens)
    weights = distinct_prefix_weights(hmm, samples.tokens, filtered.next_token_probs)
    return ProbeInputs(samples.tokens, samples.beliefs, weights, "sampled")


def sequence_folds(num_sequences: int, n_folds: int = DEFAULT_FOLDS, seed: int = 0) -> np.ndarray:
    """Assign each sequence to one of ``n_folds`` folds of (near) equal size, at random.

    Splitting by sequence keeps all positions of a sequence on one side.

    Returns:
        ``(num_sequences,)`` int64 fold labels in ``[0, n_folds)``.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2; got {n_folds}")
    if num_sequences < n_folds:
        raise ValueError(f"{num_sequences} sequences cannot be split into {n_folds} folds")
    order = np.random.default_rng(seed).permutation(num_sequences)
    folds = np.empty(num_sequences, dtype=np.int64)
    folds[order] = np.arange(num_sequences) * n_folds // num_sequences
    return folds


# ------------------------------------------------------------------------------------ features
def onehot_features(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """Baseline features: one-hot of (last token, position), ``(N, P) -> (N, P, V * P)`` float32.

    A linear probe on these predicts the mean belief of each (token, position) pair: the best any
    function of the current token and position can do.
    """
    tokens = np.asarray(tokens)
    n, P = tokens.shape
    out = np.zeros((n, P, vocab_size * P), dtype=np.float32)
    index = tokens * P + np.arange(P)[None, :]
    np.put_along_axis(out, index[..., None], 1.0, axis=2)
    return out


def markov_codes(tokens: np.ndarray, vocab_size: int, order: int) -> np.ndarray:
    """The last ``order`` tokens at every position as one integer, ``(N, P) -> (N, P)`` int64.

    ``code[n, t] = sum_j c_j (V + 1)^j`` with ``c_j = x_{t-j}`` for ``j <= t`` and the pad symbol
    ``V`` before the start (so a context shorter than ``order`` is seen whole).
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    if order < 1:
        raise ValueError(f"order must be >= 1; got {order}")
    n, P = tokens.shape
    padded = np.concatenate([np.full((n, order - 1), vocab_size, np.int64), tokens], axis=1)
    code = np.zeros((n, P), np.int64)
    for j in range(order):  # x_{t-j} sits at padded column t + order - 1 - j
        code += padded[:, order - 1 - j:order - 1 - j + P] * (vocab_size + 1) ** j
    return code


def markov_features(tokens: np.ndarray, vocab_size: int, order: int) -> np.ndarray:
    """Markov-order-``order`` features: one-hot of :func:`markov_codes`, ``(N, P, (V+1)^order)``
    float32. A linear probe on them predicts the mean belief given the last ``order`` tokens."""
    code = markov_codes(tokens, vocab_size, order)
    out = np.zeros((*code.shape, (vocab_size + 1) ** order), dtype=np.float32)
    np.put_along_axis(out, code[..., None], 1.0, axis=2)
    return out


def category_mean_scores(codes: np.ndarray, beliefs, folds, train_folds, *, weights=None
                         ) -> Scores:
    """Held-out scores of the best predictor that sees only a category per point (e.g. the last
    ``k`` tokens, :func:`markov_codes`): the weighted mean training belief of its category.

    That is the least-squares probe on the category's one-hot features (computed from per-category
    sums, not a ``(V+1)^k``-wide Gram matrix); a category absent from the training points is
    predicted by the mean of all training points.

    Args:
        codes: ``(N, P)`` integer category of each point.
        beliefs: ``(N, P, C)`` targets.
        folds: ``(N,)`` fold of each sequence.
        train_folds: the folds trained on (fold labels; the others are tested), or a list of such
            lists: one fit each, scored on the pooled test points of all fits (k-fold).
        weights: ``(N, P)`` point weights or None.

    Returns:
        ``mse``, ``rmse``, ``r2``, ``mean_distance``, ``whitened_mse``, ``invariant_r2`` on the
        test points (:func:`~compmech.probing.linear.regression_scores`,
        :data:`~compmech.probing.linear.SCORE_DEFINITIONS`).
    """
    codes = np.asarray(codes)
    beliefs = np.asarray(beliefs, np.float64)
    C = beliefs.shape[-1]
    folds = np.asarray(folds)
    w = np.ones(codes.shape) if weights is None else np.asarray(weights, np.float64)
    _, cat = np.unique(codes.reshape(-1), return_inverse=True)
    cat = cat.reshape(codes.shape)
    K = int(cat.max()) + 1
    train_folds = list(train_folds)
    splits = train_folds if train_folds and not np.isscalar(train_folds[0]) else [train_folds]
    preds, trues, ws = [], [], []
    for split in splits:
        train = np.isin(folds, list(split))
        wt, ct, yt = w[train].reshape(-1), cat[train].reshape(-1), beliefs[train].reshape(-1, C)
        wsum = np.bincount(ct, weights=wt, minlength=K)
        ysum = np.stack([np.bincount(ct, weights=wt * yt[:, c], minlength=K) for c in range(C)], 1)
        overall = (wt @ yt) / wt.sum()
        means = np.where(wsum[:, None] > 0, ysum / np.where(wsum > 0, wsum, 1.0)[:, None], overall)
        test_w = w[~train].reshape(-1)
        keep = test_w > 0
        preds.append(means[cat[~train].reshape(-1)][keep])
        trues.append(beliefs[~train].reshape(-1, C)[keep])
        ws.append(test_w[keep])
    return regression_scores(np.concatenate(preds), np.concatenate(trues), np.concatenate(ws))


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A bijective 64-bit integer hash (SplitMix64's finaliser), vectorised over uint64 arrays
    (in place on one copy of ``x``: two arrays of its size at a time)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        x ^= x >> np.uint64(shift)
        x *= np.uint64(factor)
    x ^= x >> np.uint64(31)
    return x


def random_features(shape: tuple[int, int], width: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Baseline features: i.i.d. noise, ``width`` values per point, for ``shape = (N, P)`` points.

    Uniform on ``[-sqrt 3, sqrt 3]`` (mean 0, variance 1). Returned lazily as a callable
    ``idx -> (len(idx), P, width)`` float32 (with a ``.shape``), so that 590,490 points x 384
    features never sit in memory. Each value is a fixed function of ``(seed, sequence, position,
    feature)`` (a counter-based hash, two 32-bit draws per 64-bit hash), so every chunking of the
    sequences sees the same features.
    """
    N, P = shape
    if width < 1:
        raise ValueError(f"width must be >= 1; got {width}")
    half = (width + 1) // 2
    salt = _splitmix64(np.array([seed], dtype=np.uint64))[0]

    def features(idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.uint64)
        counter = ((idx[:, None, None] * np.uint64(P) + np.arange(P, dtype=np.uint64)[None, :, None])
                   * np.uint64(half) + np.arange(half, dtype=np.uint64)[None, None, :])
        counter ^= salt
        with np.errstate(over="ignore"):
            bits = _splitmix64(counter)
        del counter
        words = bits.view(np.uint32).reshape(*bits.shape[:-1], 2 * half)[..., :width]
        out = words.astype(np.float32)
        del bits, words
        out *= np.float32(2.0 * np.sqrt(3.0) / 2.0**32)
        out -= np.float32(np.sqrt(3.0))
        return out

    features.shape = (N, P, width)  # type: ignore[attr-defined]
    return features


def concatenated(arrays: list[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Features that concatenate several ``(N, P, d_i)`` arrays along the last axis, built lazily
    per chunk of sequences (so 590,490 points x many hooks are never held at once), in the arrays'
    common dtype (float32 activations stay float32: every consumer computes in float64 from them,
    as from a single hook's array, and a chunk of the 384-wide concatenation of the paper model
    takes half the memory, with no per-hook float64 copies)."""
    if not arrays:
        raise ValueError("concatenated() needs at least one array")
    dtype = np.result_type(*(a.dtype for a in arrays))
    widths = np.cumsum([0] + [a.shape[-1] for a in arrays])

    def features(idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        out = np.empty((*idx.shape, arrays[0].shape[1], int(widths[-1])), dtype=dtype)
        for a, lo, hi in zip(arrays, widths[:-1], widths[1:], strict=True):
            out[..., lo:hi] = a[idx]
        return out

    features.shape = (*arrays[0].shape[:2], sum(a.shape[-1] for a in arrays))  # type: ignore[attr-defined]
    return features


def _feature_chunk(features: Features, idx: np.ndarray) -> np.ndarray:
    chunk = features(idx) if callable(features) else features[idx]
    return chunk.reshape(-1, chunk.shape[-1])


def _feature_shape(features: Features) -> tuple[int, ...]:
    shape = getattr(features, "shape", None)
    if shape is None:
        raise ValueError("callable features need a .shape attribute (N, P, d)")
    return tuple(shape)


__all__ = [
    "ProbeInputs",
    "WEIGHTINGS",
    "category_mean_scores",
    "concatenated",
    "distinct_prefix_weights",
    "markov_codes",
    "markov_features",
    "onehot_features",
    "probe_inputs",
    "random_features",
    "sequence_folds",
]
