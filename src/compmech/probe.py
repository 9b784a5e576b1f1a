"""Linear probes from activations to beliefs, with the controls that make their numbers honest.

The published protocol (Shai et al. 2024; ``docs/probing.md``): every length-``n_ctx`` input is
labelled at every position ``t`` with the belief **after** ``x_1 .. x_t``; the sequences are split
20% train / 80% test (by sequence, never by point); an ordinary-least-squares map with intercept
``y_hat = x W + b`` is fitted on the training points and scored on the test points by the mean squared
error over points and belief coordinates.

Everything here is numpy float64 (activations may arrive as float32; they are converted chunk by
chunk so that 590,490 points x 64 dimensions never need a float64 copy of the whole array).

* :class:`BeliefProbe` is the estimator (scikit-learn style: ``fit(X, y, sample_weight)`` returns
  ``self``; ``coef_`` ``(S, d)``, ``intercept_`` ``(S,)``; ``predict``; ``score`` is R^2). It solves
  the normal equations of ``LinearRegression(fit_intercept=True)`` and agrees with it to rounding.
* :func:`probe_inputs` builds the probe's data set for a process: all words when there are few
  enough points, else sampled sequences whose distinct prefixes are weighted once by probability.
* :func:`sequence_folds` assigns sequences to ``k`` folds; fold ``f`` trained alone is the paper's
  20% / 80% split when ``k = 5``.
* :func:`cross_validated_probe` fits the probe on one fold, scores it on the others, repeats the fit
  on every other fold (the spread), and runs the shuffle control, all from one pass of sufficient
  statistics (``X^T W X`` per fold; the shuffle control reuses it since only ``y`` is permuted) and
  one pass of predictions.
* :func:`onehot_features` and :func:`random_features` are the baselines' features;
  :func:`markov_codes` / :func:`category_mean_scores` the Markov-order-k baselines (the best
  predictor seeing the last k tokens), :func:`markov_features` their one-hot features.
* :func:`rcond_sweep` chooses the eigenvalue cut-off by inner validation (from moments alone).
* :data:`SCORE_DEFINITIONS` defines every score once (R^2 included; :func:`r2_from_sums`), with
  the presentation-invariant ``invariant_r2`` / ``whitened_mse`` (:func:`invariant_scores`): a
  GHMM's MSE and R^2 change under a change of basis ``T -> S^-1 T S``, these do not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from compmech.inference import all_words, filter_beliefs, sample

#: Default number of folds: training on one fold of five is the paper's 20% train / 80% test split.
DEFAULT_FOLDS = 5
#: Eigenvalues of the (Jacobi-scaled) normal matrix below ``RCOND * largest`` are treated as zero,
#: so exactly collinear features (a LayerNorm output sums to zero) give the minimum-norm solution.
RCOND = 1e-12
#: The whole-word enumeration is used when ``V**n_ctx * n_ctx`` is at most this many points.
MAX_ENUMERATED_POINTS = 1_000_000
#: Sequences per chunk when streaming features (``chunk * P * d`` float64 values in memory).
CHUNK_SEQUENCES = 4096
#: BLAS threads used by :func:`cross_validated_probe`. One: the matrices are small (d <= a few
#: hundred), and a multi-threaded OpenBLAS on a busy machine spin-waits (measured 12x slower on 2
#: shared cores); one thread does the 3^10 Mess3 Gram matrices in ~0.25 s.
BLAS_THREADS = 1

Features = np.ndarray | Callable[[np.ndarray], np.ndarray]


#: The probe's scores, defined once (written into ``probe.json``). ``w_i`` are the point weights
#: (1 for every point when unweighted); every score is normalised by the total weight, so that it
#: does not scale with the number of points (duplicating every point, or multiplying every weight by
#: a constant, changes nothing).
SCORE_DEFINITIONS = {
    "mse": "sum_i w_i sum_c (yhat_ic - y_ic)^2 / (C sum_i w_i): weighted mean over test points i "
           "and belief coordinates c (C of them)",
    "rmse": "sqrt(mse)",
    "r2": "mean over coordinates c of 1 - SSE_c / SST_c, SSE_c = sum_i w_i (yhat_ic - y_ic)^2, "
          "SST_c = sum_i w_i (y_ic - ybar_c)^2 with ybar_c the weighted mean of the test points "
          "(sklearn's r2_score with sample_weight, multioutput='uniform_average'); undefined (NaN) "
          "when a coordinate is constant on the test points",
    "mean_distance": "sum_i w_i ||yhat_i - y_i||_2 / sum_i w_i",
    "belief_variance": "mean over c of SST_c / sum_i w_i (the mse of predicting the test mean)",
    "whitened_mse": "tr(Sigma_t^+ Sigma_res) / rank(Sigma_t): the weighted mean squared Mahalanobis "
                    "error per dimension, in the metric of the test targets' covariance "
                    "Sigma_t = sum_i w_i (y_i - ybar)(y_i - ybar)^T / sum_i w_i, with "
                    "Sigma_res = sum_i w_i (yhat_i - y_i)(yhat_i - y_i)^T / sum_i w_i and "
                    "Sigma_t^+ the pseudo-inverse on the span of Sigma_t (eigenvalues above "
                    "SPAN_RTOL x the largest; error outside the span, e.g. off the simplex "
                    "plane, is not counted). Unchanged under any affine change of target "
                    "coordinates that is injective on the span, e.g. a GHMM's T -> S^-1 T S; one "
                    "definition for HMMs (S simplex coordinates) and GHMMs (S - 1 plane "
                    "coordinates); 0 for a perfect prediction, 1 for predicting the test mean",
    "invariant_r2": "1 - whitened_mse: R^2 in the metric of the targets' covariance, "
                    "presentation-invariant (1 perfect, 0 the test mean, like r2)",
}
#: Eigenvalues of the targets' covariance at or below this fraction of the largest lie outside its
#: span (the sum-to-one direction of simplex beliefs, whose variance is round-off) for
#: ``whitened_mse`` / ``invariant_r2``.
SPAN_RTOL = 1e-9
#: Cut-offs of the regularisation sweep (:func:`rcond_sweep`): singular values of the
#: Jacobi-scaled, weighted, augmented design matrix below ``rcond`` times the largest are dropped.
RCOND_GRID = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
#: Inner folds of the sweep's validation (within the training sequences).
INNER_FOLDS = 3


def r2_from_sums(sse_c: np.ndarray, sst_c: np.ndarray) -> float:
    """R^2 as :data:`SCORE_DEFINITIONS` states it: ``mean_c (1 - SSE_c / SST_c)`` (NaN when some
    ``SST_c`` is zero)."""
    sse_c, sst_c = np.asarray(sse_c, np.float64), np.asarray(sst_c, np.float64)
    return float(np.mean(1.0 - sse_c / np.where(sst_c > 0, sst_c, np.nan)))


def invariant_scores(residual_moment: np.ndarray, target_covariance: np.ndarray) -> dict[str, float]:
    """``whitened_mse`` and ``invariant_r2`` as :data:`SCORE_DEFINITIONS` states them.

    ``whitened_mse = tr(Sigma_t^+ Sigma_res) / r`` with ``r = rank(Sigma_t)``; with the
    eigendecomposition ``Sigma_t = sum_k lambda_k u_k u_k^T`` on its span (``lambda_k >
    SPAN_RTOL * lambda_max``) it is ``sum_k (u_k^T Sigma_res u_k / lambda_k) / r``.

    Why it does not depend on the presentation. A change of basis ``T -> A^-1 T A`` maps every
    belief as ``eta -> eta A`` (the filter commutes with it), so the targets of the same histories
    (simplex coordinates, or plane coordinates ``(eta - eta_0) B``) change by an affine map
    ``y -> y M + c`` that is injective on their span. (i) The least-squares probe refitted on the
    new targets is equivariant: ordinary least squares with an intercept is linear in the targets
    and fits a constant exactly, so ``yhat -> yhat M + c``; so are the category-mean baselines
    (weighted means of targets). (ii) Residuals then map as ``e -> e M``, so
    ``Sigma_res -> M^T Sigma_res M`` and ``Sigma_t -> M^T Sigma_t M``. (iii) With
    ``Sigma_t = U L U^T`` (``U`` its span) and ``V = M^T U`` of full column rank,
    ``(V L V^T)^+ = V (V^T V)^-1 L^-1 (V^T V)^-1 V^T``; for ``Sigma_res = U R U^T`` (residuals in
    the span, as for any prediction that is an affine combination of training targets lying in
    the test targets' affine hull) ``tr((V L V^T)^+ V R V^T) = tr(L^-1 R) = tr(Sigma_t^+
    Sigma_res)``, and the rank is unchanged. Plain ``mse`` (``tr(Sigma_res) / C``) and ``r2``
    change under the same map.

    Args:
        residual_moment: ``(C, C)`` ``Sigma_res``, the weighted mean of ``(yhat - y)^T (yhat - y)``.
        target_covariance: ``(C, C)`` ``Sigma_t``, the weighted covariance of the targets.

    Returns:
        ``{"whitened_mse": ..., "invariant_r2": ...}`` (NaN when the targets are constant).
    """
    sigma_t = np.asarray(target_covariance, np.float64)
    sigma_t = 0.5 * (sigma_t + sigma_t.T)
    evals, evecs = np.linalg.eigh(sigma_t)
    keep = evals > SPAN_RTOL * max(float(evals[-1]), 0.0)
    if not keep.any():
        return {"whitened_mse": float("nan"), "invariant_r2": float("nan")}
    u = evecs[:, keep]
    along = np.einsum("ck,cd,dk->k", u, np.asarray(residual_moment, np.float64), u)
    whitened = float((along / evals[keep]).sum() / keep.sum())
    return {"whitened_mse": whitened, "invariant_r2": 1.0 - whitened}


# --------------------------------------------------------------------------- sufficient statistics
class _Moments(NamedTuple):
    """Weighted moments of augmented features ``a = [x - shift, 1]`` and targets ``y``.

    ``xx = sum_i w_i a_i a_i^T`` ``(d+1, d+1)``, ``xy = sum_i w_i a_i y_i^T`` ``(d+1, m)``,
    ``yy = sum_i w_i y_i**2`` ``(m,)``. ``xx[-1, -1]`` is the total weight and ``xy[-1]`` the weighted
    sum of ``y``.
    """

    xx: np.ndarray
    xy: np.ndarray
    yy: np.ndarray


def _augment(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``(n, d) -> (n, d+1)`` float64 ``[x - shift, 1]``."""
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.float64)
    np.subtract(x, shift, out=out[:, :-1], casting="unsafe")
    out[:, -1] = 1.0
    return out


def _moments(a: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> _Moments:
    aw = a if w is None else a * w[:, None]
    yw = y if w is None else y * w[:, None]
    return _Moments(aw.T @ a, aw.T @ y, (yw * y).sum(0))


def _solve(xx: np.ndarray, xy: np.ndarray, rcond: float = RCOND) -> np.ndarray:
    """Least-squares coefficients ``beta (d+1, m)`` from the normal equations ``xx beta = xy``.

    Jacobi-scales ``xx`` (so features of different magnitudes are treated alike), then inverts it on
    the eigenvectors whose eigenvalues exceed ``rcond`` times the largest: the minimum-norm solution
    when features are collinear.
    """
    scale = np.sqrt(np.clip(np.diag(xx), 0.0, None))
    scale[scale == 0] = 1.0
    g = xx / np.outer(scale, scale)
    evals, evecs = np.linalg.eigh(g)
    keep = evals > rcond * max(evals[-1], 0.0)
    if not keep.any():
        return np.zeros_like(xy)
    v = evecs[:, keep]
    beta = v @ ((v.T @ (xy / scale[:, None])) / evals[keep, None])
    return beta / scale[:, None]


def _split_beta(beta: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``beta`` on ``[x - shift, 1]`` -> ``(coef (m, d), intercept (m,))`` on raw ``x``."""
    coef = beta[:-1].T
    intercept = beta[-1] - shift @ beta[:-1]
    return coef, intercept


# ---------------------------------------------------------------------------------- estimator
def _as_2d(name: str, value, width: int | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 1 and name == "y":
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (points, {'features' if name == 'X' else 'outputs'}); "
                         f"got shape {arr.shape}")
    if width is not None and arr.shape[1] != width:
        raise ValueError(f"{name} has {arr.shape[1]} columns; the probe was fitted on {width}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    return arr


def _as_weights(sample_weight, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},); got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("sample_weight must be finite, non-negative and not all zero")
    return w


class BeliefProbe:
    """Ordinary least squares from activations to beliefs, ``y_hat = X coef_^T + intercept_``.

    Equivalent to ``sklearn.linear_model.LinearRegression(fit_intercept=True)`` (the tests check it),
    solved from the normal equations in float64 so that the fit streams over float32 activations
    and the shuffle control can reuse ``X^T W X``.

    Args:
        fit_intercept: fit ``intercept_`` (the paper's probe does); if False it is zero.
        rcond: relative eigenvalue cut-off for collinear features (see :data:`RCOND`).

    Attributes:
        coef_: ``(S, d)`` the linear map.
        intercept_: ``(S,)``.
        n_features_in_: ``d``.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 4))
        >>> y = X @ np.ones((4, 3)) + 0.5
        >>> probe = BeliefProbe().fit(X, y)
        >>> bool(np.allclose(probe.predict(X), y))
        True
    """

    def __init__(self, fit_intercept: bool = True, rcond: float = RCOND):
        self.fit_intercept = fit_intercept
        self.rcond = rcond

    def fit(self, X, y, sample_weight=None) -> BeliefProbe:
        """Fit on ``X (N, d)`` and ``y (N, S)`` with optional ``sample_weight (N,)``; returns self."""
        X = _as_2d("X", X)
        y = _as_2d("y", y).astype(np.float64)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
        if X.shape[0] == 0:
            raise ValueError("cannot fit a probe on zero points")
        w = _as_weights(sample_weight, X.shape[0])
        wsum = X.shape[0] if w is None else w.sum()
        shift = (X.sum(0, dtype=np.float64) if w is None else w @ X) / wsum
        if not self.fit_intercept:
            shift = np.zeros(X.shape[1])
        a = _augment(X, shift)
        m = _moments(a, y, w)
        if self.fit_intercept:
            beta = _solve(m.xx, m.xy, self.rcond)
        else:
            beta = np.zeros((X.shape[1] + 1, y.shape[1]))
            beta[:-1] = _solve(m.xx[:-1, :-1], m.xy[:-1], self.rcond)
        self._set(beta, shift)
        return self

    def _set(self, beta: np.ndarray, shift: np.ndarray) -> BeliefProbe:
        self.coef_, self.intercept_ = _split_beta(beta, shift)
        self.n_features_in_ = self.coef_.shape[1]
        return self

    @classmethod
    def _from_beta(cls, beta: np.ndarray, shift: np.ndarray, **params) -> BeliefProbe:
        return cls(**params)._set(beta, shift)

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ValueError("this BeliefProbe is not fitted yet; call fit(X, y) first")

    def predict(self, X) -> np.ndarray:
        """``(N, d) -> (N, S)`` float64 predicted beliefs."""
        self._check_fitted()
        X = _as_2d("X", X, self.n_features_in_)
        return np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_

    def score(self, X, y, sample_weight=None) -> float:
        """R^2 averaged uniformly over belief coordinates (as ``sklearn.metrics.r2_score``)."""
        y = _as_2d("y", y).astype(np.float64)
        return regression_scores(self.predict(X), y, sample_weight)["r2"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:  # noqa: ARG002 - sklearn protocol
        """Hyperparameters, as scikit-learn's ``get_params``."""
        return {"fit_intercept": self.fit_intercept, "rcond": self.rcond}

    def __repr__(self) -> str:
        return f"BeliefProbe(fit_intercept={self.fit_intercept}, rcond={self.rcond:g})"


def regression_scores(y_pred, y_true, sample_weight=None) -> dict[str, float]:
    """Scores of predicted beliefs ``(N, S)`` against true ones.

    Returns:
        dict with ``mse``, ``rmse``, ``r2``, ``mean_distance`` and the presentation-invariant
        ``whitened_mse`` / ``invariant_r2`` (:func:`invariant_scores`) as
        :data:`SCORE_DEFINITIONS` defines them.
    """
    y_pred = _as_2d("y_pred", y_pred).astype(np.float64)
    y_true = _as_2d("y", y_true).astype(np.float64)
    if y_pred.shape != y_true.shape:
        raise ValueError(f"predictions {y_pred.shape} and targets {y_true.shape} differ in shape")
    w = _as_weights(sample_weight, y_true.shape[0])
    w = np.ones(y_true.shape[0]) if w is None else w
    wsum = w.sum()
    sq = (y_pred - y_true) ** 2
    sse = w @ sq
    mean = w @ y_true / wsum
    sst = w @ (y_true - mean) ** 2
    mse = float(sse.sum() / (wsum * y_true.shape[1]))
    err, centred = y_pred - y_true, y_true - mean
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "r2": r2_from_sums(sse, sst),
        "mean_distance": float(w @ np.sqrt(sq.sum(1)) / wsum),
        **invariant_scores((err * w[:, None]).T @ err / wsum,
                           (centred * w[:, None]).T @ centred / wsum),
    }


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
                         ) -> dict[str, float]:
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
        test points (:func:`regression_scores`, :data:`SCORE_DEFINITIONS`).
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
    """A bijective 64-bit integer hash (SplitMix64's finaliser), vectorised over uint64 arrays."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


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
        with np.errstate(over="ignore"):
            bits = _splitmix64(counter ^ salt)
        words = bits.view(np.uint32).reshape(*bits.shape[:-1], 2 * half)[..., :width]
        scale = np.float32(2.0 * np.sqrt(3.0) / 2.0**32)
        return words.astype(np.float32) * scale - np.float32(np.sqrt(3.0))

    features.shape = (N, P, width)  # type: ignore[attr-defined]
    return features


def concatenated(arrays: list[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Features that concatenate several ``(N, P, d_i)`` arrays along the last axis, built lazily
    per chunk of sequences (so 590,490 points x many hooks are never held in float64 at once)."""
    if not arrays:
        raise ValueError("concatenated() needs at least one array")

    def features(idx: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(a[idx], dtype=np.float64) for a in arrays], axis=-1)

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


# ----------------------------------------------------------------------------- cross-validation
@dataclass
class ProbeResult:
    """A probe fitted on one fold and scored on the rest, with its spread and shuffle control.

    Attributes:
        scores: held-out ``mse``, ``rmse``, ``r2``, ``mean_distance`` and the
            presentation-invariant ``whitened_mse`` / ``invariant_r2`` (:func:`invariant_scores`)
            of the probe trained on ``train_fold`` (20% of sequences for 5 folds) and tested on
            the other folds (80%).
        train_mse: in-sample MSE of the same probe.
        fold_mse: ``(k,)`` held-out MSE when each fold in turn is the training fold (the spread).
        shuffle_scores: the shuffle control: the belief rows permuted across all points, the probe
            refitted on the training fold, scored against the **true** test beliefs.
        shuffle_fold_mse: ``(k,)`` the same for every training fold.
        pooled_scores: with the spread, the scores over every fit's test points pooled (k-fold
            cross-validation when each fit trains on all folds but one: every point is tested
            once); SST about the weighted mean of all the pooled points.
        belief_variance: variance of the test beliefs, averaged over coordinates (what predicting
            the test centroid would score; the shuffle control should come close).
        probe: the fitted :class:`BeliefProbe` (trained on ``train_fold``).
        shuffle_probe: the probe fitted to the shuffled beliefs.
        n_train, n_test: number of points (sequences x positions) on each side.
        n_features: ``d``.
        train_fold, n_folds: the split.
    """

    scores: dict[str, float]
    train_mse: float
    fold_mse: np.ndarray
    shuffle_scores: dict[str, float]
    shuffle_fold_mse: np.ndarray
    belief_variance: float
    probe: BeliefProbe
    shuffle_probe: BeliefProbe
    n_train: int
    n_test: int
    n_features: int
    train_fold: int
    n_folds: int
    train_folds: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    pooled_scores: dict[str, float] | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers (the probe's coefficients are left out)."""
        pooled = self.pooled_scores or {}
        return {
            "mse_pooled": pooled.get("mse"),
            "r2_pooled": pooled.get("r2"),
            "mse_test": self.scores["mse"],
            "rmse_test": self.scores["rmse"],
            "r2_test": self.scores["r2"],
            "invariant_r2_test": self.scores.get("invariant_r2"),
            "whitened_mse_test": self.scores.get("whitened_mse"),
            "invariant_r2_pooled": pooled.get("invariant_r2"),
            "mean_distance_test": self.scores["mean_distance"],
            "mse_train": self.train_mse,
            "mse_folds": self.fold_mse.tolist(),
            "mse_folds_mean": float(self.fold_mse.mean()),
            "mse_folds_std": float(self.fold_mse.std(ddof=1)) if self.fold_mse.size > 1 else 0.0,
            "shuffle_mse": self.shuffle_scores["mse"],
            "shuffle_r2": self.shuffle_scores["r2"],
            "shuffle_invariant_r2": self.shuffle_scores.get("invariant_r2"),
            "shuffle_mse_folds": self.shuffle_fold_mse.tolist(),
            "belief_variance": self.belief_variance,
            "n_train_points": self.n_train,
            "n_test_points": self.n_test,
            "n_features": self.n_features,
            "train_fold": self.train_fold,
            "train_folds": self.train_folds,
            "n_folds": self.n_folds,
        }


def _checked_inputs(features, beliefs, folds, weights):
    """``(feature shape, beliefs, folds, weights)`` as float64/int arrays, checked together."""
    shape = _feature_shape(features)
    beliefs = np.asarray(beliefs, dtype=np.float64)
    folds = np.asarray(folds)
    weights = None if weights is None else np.asarray(weights, dtype=np.float64)
    _check_inputs(shape, beliefs, folds, weights)
    return shape, beliefs, folds, weights


def _check_inputs(shape, beliefs, folds, weights):
    N, P = shape[:2]
    if beliefs.shape[:2] != (N, P):
        raise ValueError(f"features are {shape[:2]} (sequences, positions) but beliefs {beliefs.shape[:2]}")
    if folds.shape != (N,):
        raise ValueError(f"folds must have shape ({N},); got {folds.shape}")
    if weights is not None and weights.shape != (N, P):
        raise ValueError(f"weights must have shape ({N}, {P}); got {weights.shape}")


def cross_validated_probe(features: Features, beliefs, folds, *, weights=None, train_fold: int = 0,
                          train_folds: int = 1, spread: bool = True, shuffle: bool = True,
                          shuffle_seed: int = 0, chunk_sequences: int = CHUNK_SEQUENCES
                          ) -> ProbeResult:
    """Fit the probe on fold ``train_fold``, score on the others; spread over folds; shuffle control.

    See :func:`_cross_validated_probe` (run with :data:`BLAS_THREADS` BLAS threads).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        return _cross_validated_probe(features, beliefs, folds, weights=weights,
                                      train_fold=train_fold, train_folds=train_folds,
                                      spread=spread, shuffle=shuffle,
                                      shuffle_seed=shuffle_seed, chunk_sequences=chunk_sequences)


def _cross_validated_probe(features: Features, beliefs, folds, *, weights, train_fold: int,
                           train_folds: int, spread: bool, shuffle: bool, shuffle_seed: int,
                           chunk_sequences: int) -> ProbeResult:
    """Fit the probe on fold ``train_fold``, score on the others; spread over folds; shuffle control.

    One streaming pass accumulates, per fold, ``X^T W X``, ``X^T W [Y, Y_shuffled]`` and
    ``sum W Y^2`` over augmented features ``[x - shift, 1]``; the probes (true and shuffled beliefs,
    one per training fold) are solved from them; a second pass predicts every point with every probe
    at once and accumulates squared errors and distances per fold. Every score is against the true
    beliefs.

    Args:
        features: ``(N, P, d)`` array (float32 is fine) or a callable ``idx -> (len(idx), P, d)``
            with a ``.shape`` attribute (see :func:`concatenated`).
        beliefs: ``(N, P, S)`` true beliefs.
        folds: ``(N,)`` fold of each sequence (:func:`sequence_folds`).
        weights: optional ``(N, P)`` point weights (the sampled protocol); None = unweighted.
        train_fold: the first fold of the reported probe's training set.
        train_folds: how many consecutive folds (mod k) form a training set: 1 of 5 is the paper's
            20% train / 80% test; 4 of 5 is the usual 80% / 20% for small data sets.
        spread: also fit with every other fold as first training fold (the k-fold spread).
        shuffle: run the shuffle control.
        shuffle_seed: seed of the permutation of belief rows across all ``N * P`` points.
        chunk_sequences: sequences per chunk.

    Returns:
        :class:`ProbeResult`.
    """
    shape, beliefs, folds, weights = _checked_inputs(features, beliefs, folds, weights)
    N, P, d = shape
    S = beliefs.shape[-1]
    layout = _FoldLayout.build(folds, train_fold, train_folds, spread, chunk_sequences)
    targets = beliefs
    if shuffle:
        flat = beliefs.reshape(N * P, S)
        permuted = flat[np.random.default_rng(shuffle_seed).permutation(N * P)]
        targets = np.concatenate([flat, permuted], axis=1).reshape(N, P, 2 * S)
    shift = _feature_chunk(features, layout.order[:min(chunk_sequences, N)]).mean(0, dtype=np.float64)
    xx, xy, yy = _fold_moments(features, targets, weights, layout, shift)
    betas = []
    for train in layout.train_sets:
        if xx[train, -1, -1].sum() <= 0:
            raise ValueError(f"folds {np.flatnonzero(train).tolist()} have no weight to train on")
        betas.append(_solve(xx[train].sum(0), xy[train].sum(0), RCOND))  # true, shuffled columns
    w_all = None if weights is None else weights.reshape(-1)
    y_shift = np.average(beliefs.reshape(-1, S), axis=0, weights=w_all)
    sse, dist, res, ycov = _fold_errors(features, beliefs, weights, layout, shift, betas, y_shift)
    scores = _HeldOut(layout, sse, dist, wsum=xx[:, -1, -1], ysum=xy[:, -1, :S], ysq=yy[:, :S],
                      res=res, ycov=ycov, y_shift=y_shift)
    train, test = layout.train_sets[0], ~layout.train_sets[0]
    n_fits = len(layout.train_sets)
    nan_scores = {"mse": float("nan"), "rmse": float("nan"), "r2": float("nan"),
                  "mean_distance": float("nan"), "whitened_mse": float("nan"),
                  "invariant_r2": float("nan")}
    point_counts = np.bincount(folds, minlength=layout.k) * P
    pooled = scores.pooled(0) if spread else None
    return ProbeResult(
        scores=scores(0, 0),
        train_mse=float(sse[0, 0, train].sum() / (scores.wsum[train].sum() * S)),
        fold_mse=np.array([scores(i, 0)["mse"] for i in range(n_fits)]),
        shuffle_scores=scores(0, 1) if shuffle else nan_scores,
        shuffle_fold_mse=np.array([scores(i, 1)["mse"] for i in range(n_fits)]) if shuffle
        else np.array([]),
        belief_variance=scores.variance(test),
        probe=BeliefProbe._from_beta(betas[0][:, :S], shift),
        shuffle_probe=BeliefProbe._from_beta(betas[0][:, S:], shift) if shuffle else None,
        n_train=int(point_counts[train].sum()),
        n_test=int(point_counts[test].sum()),
        n_features=d,
        train_fold=train_fold,
        n_folds=layout.k,
        train_folds=train_folds,
        pooled_scores=pooled,
    )


class _FoldLayout(NamedTuple):
    """Which folds each fit trains on, and the sequences of each fold in chunks.

    Attributes:
        k: number of folds.
        train_sets: one ``(k,)`` bool mask per fit (the reported fit first, then the spread).
        gram_folds: ``(k,)`` folds some fit trains on (they need ``X^T W X``).
        order: sequence indices sorted by fold.
        bounds: ``(k + 1,)`` fold ``f`` is ``order[bounds[f]:bounds[f + 1]]``.
        chunk: sequences per chunk.
    """

    k: int
    train_sets: list
    gram_folds: np.ndarray
    order: np.ndarray
    bounds: np.ndarray
    chunk: int

    @classmethod
    def build(cls, folds: np.ndarray, train_fold: int, train_folds: int, spread: bool,
              chunk: int) -> _FoldLayout:
        k = int(folds.max()) + 1
        if not 0 <= train_fold < k:
            raise ValueError(f"train_fold must be in [0, {k}); got {train_fold}")
        if not 1 <= train_folds < k:
            raise ValueError(f"train_folds must be in [1, {k}); got {train_folds}")
        firsts = [train_fold] + ([f for f in range(k) if f != train_fold] if spread else [])
        train_sets = [np.isin(np.arange(k), [(r + j) % k for j in range(train_folds)])
                      for r in firsts]
        order = np.argsort(folds, kind="stable")
        bounds = np.searchsorted(folds[order], np.arange(k + 1))
        return cls(k, train_sets, np.any(train_sets, axis=0), order, bounds, int(chunk))

    def chunks(self, f: int):
        """Index arrays of fold ``f``'s sequences, ``chunk`` at a time."""
        for start in range(self.bounds[f], self.bounds[f + 1], self.chunk):
            yield self.order[start:min(start + self.chunk, self.bounds[f + 1])]


def _fold_moments(features: Features, targets: np.ndarray, weights, layout: _FoldLayout,
                  shift: np.ndarray):
    """Pass 1: per-fold ``X^T W X`` ``(k, d+1, d+1)``, ``X^T W Y`` ``(k, d+1, m)`` and
    ``sum W Y^2`` ``(k, m)`` on ``[x - shift, 1]`` (folds never trained on: only the sums a test
    set's variance needs)."""
    d, m, k = shift.shape[0], targets.shape[-1], layout.k
    xx, xy, yy = np.zeros((k, d + 1, d + 1)), np.zeros((k, d + 1, m)), np.zeros((k, m))
    for f in range(k):
        for idx in layout.chunks(f):
            w = None if weights is None else weights[idx].reshape(-1)
            y = targets[idx].reshape(-1, m)
            if layout.gram_folds[f]:
                mom = _moments(_augment(_feature_chunk(features, idx), shift), y, w)
                xx[f] += mom.xx
                xy[f] += mom.xy
                yy[f] += mom.yy
            else:
                ones = np.ones(y.shape[0]) if w is None else w
                xy[f, -1] += ones @ y
                xx[f, -1, -1] += ones.sum()
                yy[f] += ones @ (y * y)
    return xx, xy, yy


def _fold_errors(features: Features, beliefs: np.ndarray, weights, layout: _FoldLayout,
                 shift: np.ndarray, betas: list[np.ndarray], y_shift: np.ndarray):
    """Pass 2: predict every point with every fit at once; per fold, against the true beliefs
    (block 0: the probe of the true beliefs, block 1: of the shuffled ones): squared errors
    ``(fits, blocks, k, S)``, Euclidean distances ``(fits, blocks, k)``, residual outer products
    ``sum_i w_i e_i^T e_i`` ``(fits, blocks, k, S, S)``, and the targets' second moments about
    ``y_shift``, ``sum_i w_i (y_i - y_shift)^T (y_i - y_shift)`` ``(k, S, S)``."""
    S = beliefs.shape[-1]
    stacked = np.concatenate(betas, axis=1)  # (d+1, n_fits * m)
    n_fits, n_blocks = len(betas), betas[0].shape[1] // S
    sse = np.zeros((n_fits, n_blocks, layout.k, S))
    dist = np.zeros((n_fits, n_blocks, layout.k))
    res = np.zeros((n_fits, n_blocks, layout.k, S, S))
    ycov = np.zeros((layout.k, S, S))
    for f in range(layout.k):
        for idx in layout.chunks(f):
            a = _augment(_feature_chunk(features, idx), shift)
            y = beliefs[idx].reshape(-1, S)
            err = (a @ stacked).reshape(-1, n_fits, n_blocks, S) - y[:, None, None, :]
            sq = err**2
            w = None if weights is None else weights[idx].reshape(-1)
            err_w = np.moveaxis(err if w is None else err * w[:, None, None, None], 0, -1)
            res[:, :, f] += err_w @ np.moveaxis(err, 0, -2)  # (fits, blocks, S, n) @ (.., n, S)
            centred = y - y_shift
            ycov[f] += (centred if w is None else centred * w[:, None]).T @ centred
            if w is None:
                sse[:, :, f] += sq.sum(0)
                dist[:, :, f] += np.sqrt(sq.sum(-1)).sum(0)
            else:
                sse[:, :, f] += np.einsum("n,nbjs->bjs", w, sq)
                dist[:, :, f] += np.einsum("n,nbj->bj", w, np.sqrt(sq.sum(-1)))
    return sse, dist, res, ycov


class _HeldOut(NamedTuple):
    """Held-out scores from the per-fold sums: ``self(fit, block)`` scores that fit on its test
    folds."""

    layout: _FoldLayout
    sse: np.ndarray
    dist: np.ndarray
    wsum: np.ndarray
    ysum: np.ndarray
    ysq: np.ndarray
    res: np.ndarray
    ycov: np.ndarray
    y_shift: np.ndarray

    def _invariant(self, residual_sum: np.ndarray, counts: np.ndarray) -> dict[str, float]:
        """:func:`invariant_scores` of a test set that counts fold ``f`` ``counts[f]`` times."""
        w = counts @ self.wsum
        mean = (counts @ self.ysum) / w - self.y_shift
        target_cov = np.tensordot(counts, self.ycov, axes=1) / w - np.outer(mean, mean)
        return invariant_scores(residual_sum / w, target_cov)

    def _sst(self, test: np.ndarray) -> np.ndarray:
        w_test = self.wsum[test].sum()
        return self.ysq[test].sum(0) - self.ysum[test].sum(0) ** 2 / w_test

    def variance(self, test: np.ndarray) -> float:
        """The test beliefs' variance, averaged over coordinates."""
        return float((self._sst(test) / self.wsum[test].sum()).mean())

    def pooled(self, block: int) -> dict[str, float]:
        """Scores over every fit's test points together (each fit scored on its own test folds)."""
        sse_c = sum(self.sse[i, block, ~t].sum(0) for i, t in enumerate(self.layout.train_sets))
        dist = sum(self.dist[i, block, ~t].sum() for i, t in enumerate(self.layout.train_sets))
        counts = sum((~t).astype(np.float64) for t in self.layout.train_sets)  # tests per fold
        w = counts @ self.wsum
        ybar = (counts @ self.ysum) / w
        sst_c = counts @ self.ysq - w * ybar**2
        mse = float(sse_c.sum() / (w * sse_c.shape[0]))
        res = sum(self.res[i, block, ~t].sum(0) for i, t in enumerate(self.layout.train_sets))
        return {"mse": mse, "rmse": float(np.sqrt(mse)), "r2": r2_from_sums(sse_c, sst_c),
                "mean_distance": float(dist / w), **self._invariant(res, counts)}

    def __call__(self, fit: int, block: int) -> dict[str, float]:
        test = ~self.layout.train_sets[fit]
        w_test = self.wsum[test].sum()
        sse_c = self.sse[fit, block, test].sum(0)
        sst_c = self._sst(test)
        mse = float(sse_c.sum() / (w_test * sse_c.shape[0]))
        return {
            "mse": mse,
            "rmse": float(np.sqrt(mse)),
            "r2": r2_from_sums(sse_c, sst_c),
            "mean_distance": float(self.dist[fit, block, test].sum() / w_test),
            **self._invariant(self.res[fit, block, test].sum(0), test.astype(np.float64)),
        }


# ----------------------------------------------------------------------------- regularisation
@dataclass
class SweepResult:
    """The regularisation sweep of :func:`rcond_sweep` for each outer fit.

    Attributes:
        rconds: the candidate cut-offs (:data:`RCOND_GRID`).
        chosen: ``(fits,)`` the cut-off inner validation chose for each outer training set.
        inner_mse: ``(fits, len(rconds))`` inner-validation MSE of each candidate.
        test_mse: ``(fits, len(rconds))`` outer held-out MSE of each candidate (refitted on the
            whole training set; reported, never used to choose).
        scores: held-out scores of the chosen probe of fit 0; ``pooled``: over every fit's test
            points (k-fold cross-validation when the fits leave one fold out each).
    """

    rconds: list[float]
    chosen: list[float]
    inner_mse: np.ndarray
    test_mse: np.ndarray
    scores: dict[str, float]
    pooled: dict[str, float]

    def summary(self) -> dict[str, Any]:
        return {"rconds": list(self.rconds), "chosen_rcond": self.chosen,
                "inner_mse": self.inner_mse.tolist(), "test_mse_per_rcond": self.test_mse.tolist(),
                "mse_test": self.scores["mse"], "r2_test": self.scores["r2"],
                "mse_pooled": self.pooled["mse"], "r2_pooled": self.pooled["r2"]}


def _sse_from_moments(beta: np.ndarray, xx: np.ndarray, xy: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Per-coordinate ``sum_i w_i (a_i beta - y_i)^2`` from the moments of the points."""
    return yy - 2.0 * np.einsum("jc,jc->c", xy, beta) + np.einsum("jc,jk,kc->c", beta, xx, beta)


def _scores_from_moments(betas, cells_xx, cells_xy, cells_yy, test_masks) -> dict[str, float]:
    """Scores (no mean distance: it needs the points) of fits ``betas[i]`` on cells
    ``test_masks[i]``, pooled."""
    sse = sum(_sse_from_moments(b, cells_xx[t].sum(0), cells_xy[t].sum(0), cells_yy[t].sum(0))
              for b, t in zip(betas, test_masks, strict=True))
    counts = sum(t.astype(np.float64) for t in test_masks)
    w = counts @ cells_xx[:, -1, -1]
    ybar = (counts @ cells_xy[:, -1]) / w
    sst = counts @ cells_yy - w * ybar**2
    mse = float(sse.sum() / (w * sse.shape[0]))
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "r2": r2_from_sums(sse, sst)}


def rcond_sweep(features: Features, beliefs, folds, *, train_folds: int = 1, spread: bool = False,
                weights=None, rconds=RCOND_GRID, inner_folds: int = INNER_FOLDS, seed: int = 0,
                chunk_sequences: int = CHUNK_SEQUENCES) -> SweepResult:
    """The probe with its cut-off ``rcond`` chosen by inner validation, scored on held-out folds.

    Each outer training set (folds ``0 .. train_folds - 1``, and with ``spread`` every rotation, as
    :func:`cross_validated_probe`) is split by sequence into ``inner_folds`` inner folds; each
    candidate is fitted on all inner folds but one and validated on that one, the candidate with the
    least total validation error is refitted on the whole training set and scored on the outer
    test folds. The cut-off drops singular values of the Jacobi-scaled, weighted, augmented design
    matrix below ``rcond`` times the largest (eigenvalues of its normal matrix below ``rcond^2``).
    Everything comes from one streaming pass of moments per (fold, inner fold) cell.

    Returns:
        :class:`SweepResult`.
    """
    from threadpoolctl import threadpool_limits

    shape, beliefs, folds, weights = _checked_inputs(features, beliefs, folds, weights)
    N = shape[0]
    outer = _FoldLayout.build(folds, 0, train_folds, spread, chunk_sequences)
    J = int(inner_folds)
    inner = sequence_folds(N, J, seed=seed + 7919)
    cells = folds * J + inner
    order = np.argsort(cells, kind="stable")
    n_cells = outer.k * J
    layout = _FoldLayout(n_cells, [], np.ones(n_cells, bool), order,
                         np.searchsorted(cells[order], np.arange(n_cells + 1)), int(chunk_sequences))
    shift = _feature_chunk(features, order[:min(chunk_sequences, N)]).mean(0, dtype=np.float64)
    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        xx, xy, yy = _fold_moments(features, beliefs, weights, layout, shift)
    cell_fold, cell_inner = np.divmod(np.arange(n_cells), J)
    rconds = [float(r) for r in rconds]
    inner_mse = np.zeros((len(outer.train_sets), len(rconds)))
    test_mse = np.zeros_like(inner_mse)
    chosen, betas, tests = [], [], []
    for i, train_set in enumerate(outer.train_sets):
        in_train = train_set[cell_fold]
        for r, rcond in enumerate(rconds):
            fits, vals = [], []
            for j in range(J):
                fit_cells, val_cells = in_train & (cell_inner != j), in_train & (cell_inner == j)
                if xx[val_cells, -1, -1].sum() <= 0 or xx[fit_cells, -1, -1].sum() <= 0:
                    continue
                fits.append(_solve(xx[fit_cells].sum(0), xy[fit_cells].sum(0), rcond**2))
                vals.append(val_cells)
            inner_mse[i, r] = _scores_from_moments(fits, xx, xy, yy, vals)["mse"]
            beta = _solve(xx[in_train].sum(0), xy[in_train].sum(0), rcond**2)
            test_mse[i, r] = _scores_from_moments([beta], xx, xy, yy, [~in_train])["mse"]
        best = int(np.argmin(inner_mse[i]))
        chosen.append(rconds[best])
        betas.append(_solve(xx[in_train].sum(0), xy[in_train].sum(0), rconds[best] ** 2))
        tests.append(~in_train)
    return SweepResult(rconds, chosen, inner_mse, test_mse,
                       scores=_scores_from_moments(betas[:1], xx, xy, yy, tests[:1]),
                       pooled=_scores_from_moments(betas, xx, xy, yy, tests))


def predict_features(probe: BeliefProbe, features: Features, idx: np.ndarray | None = None,
                     chunk_sequences: int = CHUNK_SEQUENCES) -> np.ndarray:
    """Predicted beliefs ``(n, P, S)`` for the sequences ``idx`` (default: all), chunk by chunk."""
    shape = _feature_shape(features)
    idx = np.arange(shape[0]) if idx is None else np.asarray(idx)
    out = np.empty((idx.size, shape[1], probe.coef_.shape[0]))
    for start in range(0, idx.size, chunk_sequences):
        part = idx[start:start + chunk_sequences]
        x = _feature_chunk(features, part)
        out[start:start + part.size] = probe.predict(x).reshape(part.size, shape[1], -1)
    return out


def affine_subspace_projection(probe: BeliefProbe, X) -> np.ndarray:
    """Project activations onto the probe's affine subspace of the residual stream.

    The probe reads ``X`` only through ``coef_ (S, d)``; beliefs sum to one, so (up to rounding) the
    rows of ``coef_`` span ``S - 1`` dimensions. Returns ``(N, S - 1)`` coordinates of ``X`` (centred
    on its mean) in an orthonormal basis of that span, ordered by singular value: the residual stream
    itself, not the probe's output, seen in the plane where the beliefs live.
    """
    probe._check_fitted()
    X = _as_2d("X", X, probe.n_features_in_).astype(np.float64)
    _, _, vt = np.linalg.svd(probe.coef_, full_matrices=False)
    basis = vt[: max(probe.coef_.shape[0] - 1, 1)]
    return (X - X.mean(0)) @ basis.T


__all__ = [
    "RCOND_GRID",
    "SCORE_DEFINITIONS",
    "SPAN_RTOL",
    "WEIGHTINGS",
    "BeliefProbe",
    "ProbeInputs",
    "ProbeResult",
    "SweepResult",
    "category_mean_scores",
    "markov_codes",
    "markov_features",
    "invariant_scores",
    "r2_from_sums",
    "rcond_sweep",
    "affine_subspace_projection",
    "concatenated",
    "cross_validated_probe",
    "distinct_prefix_weights",
    "onehot_features",
    "predict_features",
    "probe_inputs",
    "random_features",
    "regression_scores",
    "sequence_folds",
]
