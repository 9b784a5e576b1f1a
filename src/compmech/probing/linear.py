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
* :func:`~compmech.probing.inputs.probe_inputs` builds the probe's data set for a process: all words when
  there are few enough points, else sampled sequences whose distinct prefixes are weighted once by
  probability.
* :func:`~compmech.probing.inputs.sequence_folds` assigns sequences to ``k`` folds; fold ``f`` trained alone
  is the paper's 20% / 80% split when ``k = 5``.
* :func:`~compmech.probing.crossval.cross_validated_probe` fits the probe on one fold, scores it on the
  others, repeats the fit on every other fold (the spread), and runs the shuffle control, all from one pass
  of sufficient statistics (``X^T W X`` per fold; the shuffle control reuses it since only ``y`` is
  permuted) and one pass of predictions.
* :func:`~compmech.probing.inputs.onehot_features` and :func:`~compmech.probing.inputs.random_features` are
  the baselines' features; :func:`~compmech.probing.inputs.markov_codes` /
  :func:`~compmech.probing.inputs.category_mean_scores` the Markov-order-k baselines (the best predictor
  seeing the last k tokens), :func:`~compmech.probing.inputs.markov_features` their one-hot features.
* :func:`~compmech.probing.crossval.rcond_sweep` chooses the eigenvalue cut-off by inner validation (from
  moments alone).
* :data:`SCORE_DEFINITIONS` defines every score once (R^2 included; :func:`r2_from_sums`), with
  the presentation-invariant ``invariant_r2`` / ``whitened_mse`` (:func:`invariant_scores`): a
  GHMM's MSE and R^2 change under a change of basis ``T -> S^-1 T S``, these do not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

#: Default number of folds: training on one fold of five is the paper's 20% train / 80% test split.
DEFAULT_FOLDS = 5
#: Eigenvalues of the (Jacobi-scaled) normal matrix below ``RCOND * largest`` are treated as zero,
#: so exactly collinear features (a LayerNorm output sums to zero) give the minimum-norm solution.
RCOND = 1e-12
#: The whole-word enumeration is used when ``V**n_ctx * n_ctx`` is at most this many points.
MAX_ENUMERATED_POINTS = 1_000_000
#: Sequences per chunk when streaming features (``chunk * P * d`` float64 values in memory).
CHUNK_SEQUENCES = 4096
#: BLAS threads used by :func:`~compmech.probing.crossval.cross_validated_probe`. One: the matrices are
#: small (d <= a few hundred), and a multi-threaded OpenBLAS on a busy machine spin-waits (measured 12x
#: slower on 2 shared cores); one thread does the 3^10 Mess3 Gram matrices in ~0.25 s.
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
#: Cut-offs of the regularisation sweep (:func:`~compmech.probing.crossval.rcond_sweep`): singular values of
#: the Jacobi-scaled, weighted, augmented design matrix below ``rcond`` times the largest are dropped.
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

    @classmethod
    def from_coefficients(cls, coef, intercept) -> BeliefProbe:
        """A fitted probe with the given map (a planted or reduced probe, fitted elsewhere).

        Args:
            coef: ``(S, d)`` the linear map ``coef_``.
            intercept: ``(S,)`` ``intercept_``.

        Raises:
            ValueError: ``coef`` is not 2-D or ``intercept`` is not ``(S,)``.
        """
        coef = np.asarray(coef, dtype=np.float64)
        intercept = np.asarray(intercept, dtype=np.float64)
        if coef.ndim != 2:
            raise ValueError(f"coef must be (S, d); got shape {coef.shape}")
        if intercept.shape != (coef.shape[0],):
            raise ValueError(f"intercept must have shape ({coef.shape[0]},); got {intercept.shape}")
        probe = cls()
        probe.coef_, probe.intercept_, probe.n_features_in_ = coef, intercept, coef.shape[1]
        return probe

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
        return regression_scores(self.predict(X), y, sample_weight).r2

    def get_params(self, deep: bool = True) -> dict[str, Any]:  # noqa: ARG002 - sklearn protocol
        """Hyperparameters, as scikit-learn's ``get_params``."""
        return {"fit_intercept": self.fit_intercept, "rcond": self.rcond}

    def __repr__(self) -> str:
        return f"BeliefProbe(fit_intercept={self.fit_intercept}, rcond={self.rcond:g})"


class Scores(NamedTuple):
    """Scores of predicted against true beliefs, as :data:`SCORE_DEFINITIONS` defines them.

    Attributes:
        mse, rmse, r2: mean squared error (over points and coordinates), its root, and R^2.
        mean_distance: mean Euclidean distance between predicted and true beliefs (``None`` where
            only moments were kept, :func:`~compmech.probing.crossval.rcond_sweep`).
        whitened_mse, invariant_r2: the presentation-invariant scores (:func:`invariant_scores`),
            or ``None`` where they were not computed.
    """

    mse: float
    rmse: float
    r2: float
    mean_distance: float | None = None
    whitened_mse: float | None = None
    invariant_r2: float | None = None

    @classmethod
    def missing(cls) -> Scores:
        """Every score NaN (a control that was not run)."""
        return cls(*[math.nan] * len(cls._fields))


def regression_scores(y_pred, y_true, sample_weight=None) -> Scores:
    """Scores of predicted beliefs ``(N, S)`` against true ones.

    Returns:
        :class:`Scores`: ``mse``, ``rmse``, ``r2``, ``mean_distance`` and the
        presentation-invariant ``whitened_mse`` / ``invariant_r2`` (:func:`invariant_scores`).
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
    return Scores(mse=mse, rmse=float(np.sqrt(mse)), r2=r2_from_sums(sse, sst),
                  mean_distance=float(w @ np.sqrt(sq.sum(1)) / wsum),
                  **invariant_scores((err * w[:, None]).T @ err / wsum,
                                     (centred * w[:, None]).T @ centred / wsum))


__all__ = [
    "BeliefProbe",
    "RCOND_GRID",
    "SCORE_DEFINITIONS",
    "SPAN_RTOL",
    "invariant_scores",
    "r2_from_sums",
    "Scores",
    "regression_scores",
]
