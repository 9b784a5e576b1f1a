"""The probe protocol of Riechers, Elliott & Shai (2025, arXiv 2507.07432), exactly, in numpy.

Where it comes from. The group's released analysis code: ``regress_with_kfold_rcond_cv`` in
Astera-org/simplexity ``simplexity/analysis/regression.py`` and ``build_prefix_dataset`` in
``simplexity/utils/analysis_utils.py`` (commit c3674555e901f884859b307fb0174d82e93ff3f9), with the
``rcond`` list of the paper's analysis configuration (adamimos/epsilon-transformers
``scripts/activation_analysis/config.py``, ``RCOND_SWEEP_LIST``). Nothing is copied; the steps are
restated here and :func:`kfold_rcond_regression` is tested against a brute-force loop:

1. **Rows** (:func:`deduplicate_prefixes`): every prefix ``x_1..x_t`` (``t = 1..L``) of the input
   words is one row; a prefix met in several words or positions is kept once (its activations and
   belief are those of its first occurrence: they are the same for a causal network) and its
   weight is the **sum** of the point probabilities of its occurrences; the weights are then
   normalised to sum to 1. With every length-``L`` word given its probability ``P(w)`` at each of
   its positions, a prefix's summed weight is ``P(x_1..x_t)``, so every length carries mass
   ``1 / L``.
2. **Fit** (weighted least squares with a bias column): ``beta = pinv(sqrt(w) [1, X], rcond)
   (sqrt(w) Y)``, where the pseudo-inverse drops singular values ``s <= rcond * s_max`` of the
   weighted design (the weights renormalised on the rows fitted; a constant factor changes
   nothing).
3. **Cross-validation**: 10 folds of the deduplicated rows, shuffled with a seed (scikit-learn's
   ``KFold(n_splits=10, shuffle=True, random_state=42)``, reproduced by :func:`kfold_test_folds`).
   For each ``rcond`` of :data:`PAPER_RCONDS` (``1e-15, 1e-10, 1e-5`` and 50 log-spaced from
   ``1e-8`` to ``1e-3``), the error of a fold is ``sum_test w_i ||yhat_i - y_i||_2`` (the global
   normalised weights); the mean over folds chooses ``rcond`` (the first minimum in list order).
4. **Final fit** on all rows with that ``rcond``; the reported scores are in-sample on all rows:
   per-coordinate weighted MSE, MAE, RMSE; the weighted sum of distances; and R^2.

Caveat on provenance. The paper's analysis configuration sits beside an older pipeline
(adamimos/epsilon-transformers ``scripts/activation_analysis/regression.py``, commit
056342b0a5a2261e0aa6643fee042d783dc650a9, whose ``config.py`` also sets 1,000 random baselines
and Markov orders up to 4) that, in the parts we read, has no cross-validation: it sweeps the
same 53 cut-offs on every (sequence, position) point, standardises the features, cuts the
pseudo-inverse of the normal matrix ``A^T W A`` (so on squared singular values) and picks the cut-off
of smallest in-sample distance. The protocol here is the later, cross-validated one that
``shared/SCIENCE.md`` states; which of the two produced the paper's figures is not said in our
sources.

R^2. The released code's ``r2`` is ``sum_i ||sqrt(w_i) yhat_i - m||^2 / sum_i ||sqrt(w_i) y_i -
m||^2`` with ``m = sum_i sqrt(w_i) y_i / sum_i sqrt(w_i)``; it mixes the weights into the targets
(it is not zero for a constant target, nor 1 - SSE/SST for equal weights) and is kept here only
as ``r2_released_code``. ``r2`` below is the probability-weighted R^2 pooled over the target
coordinates, ``1 - sum_c SSE_c / sum_c SST_c`` (scikit-learn's ``r2_score`` with
``sample_weight`` and ``multioutput="variance_weighted"``), and ``invariant_r2`` the
presentation-invariant score (:func:`compmech.probing.linear.invariant_scores`), the
one comparable across HMMs and GHMMs and across presentations of a GHMM. Held-out scores (each
row predicted by the fit of the folds that left it out, at the chosen ``rcond``) are given beside
the in-sample ones; the paper's protocol reports the in-sample ones.

Speed. Each fold's rows are reduced once by a QR factorisation of ``[sqrt(w) [1, X], sqrt(w) Y]``;
the fit on any union of folds is the pseudo-inverse solution of the stacked triangular factors,
which have the same singular values and right singular vectors as the stacked rows (an
orthogonal change of rows), so ten folds and 53 cut-offs cost one pass over the rows and eleven
small SVDs. No loop over rows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compmech.probing.linear import regression_scores

#: The 53 cut-offs of the paper's sweep, in the released code's order (ties go to the first).
PAPER_RCONDS: tuple[float, ...] = (1e-15, 1e-10, 1e-5, *np.logspace(-8, -3, 50).tolist())
#: Folds of the paper's cross-validation.
PAPER_FOLDS = 10
#: ``random_state`` of the released code's ``KFold``.
PAPER_FOLD_SEED = 42
#: BLAS threads of the fit: the matrices are small, and a multi-threaded BLAS on a busy machine
#: spin-waits (as :data:`compmech.probing.crossval.BLAS_THREADS`).
BLAS_THREADS = 1


# ------------------------------------------------------------------------------------ rows
class PrefixRows(NamedTuple):
    """The deduplicated prefixes of a set of words.

    Attributes:
        word_index: ``(N,)`` the word of each prefix's first occurrence.
        position: ``(N,)`` its 0-based position (the prefix is ``words[word_index, :position+1]``).
        weights: ``(N,)`` summed point probabilities, normalised to sum to 1.
    """

    word_index: np.ndarray
    position: np.ndarray
    weights: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """``(N,)`` prefix lengths ``t = position + 1``."""
        return self.position + 1

    def take(self, per_point: np.ndarray) -> np.ndarray:
        """``(M, L, ...) -> (N, ...)``: a per-point array at each prefix's first occurrence."""
        return np.asarray(per_point)[self.word_index, self.position]


def deduplicate_prefixes(words, point_probs) -> PrefixRows:
    """Every distinct prefix of ``words`` once, with the summed probability of its occurrences.

    Rows are in the order of first occurrence when the points are read word by word, position
    by position (the released code's order, which its seeded folds depend on).

    Args:
        words: ``(M, L)`` integer tokens.
        point_probs: ``(M, L)`` probability of each point (e.g. ``P(word)`` broadcast over the
            positions, which makes a prefix's weight its probability), or ``(M,)`` for the same
            value at every position.

    Returns:
        :class:`PrefixRows` (weights sum to 1).

    Raises:
        ValueError: on bad shapes, negative or non-finite probabilities, or zero total mass.
    """
    words = np.asarray(words)
    if words.ndim != 2 or words.shape[1] < 1 or words.shape[0] < 1:
        raise ValueError(f"words must have shape (M, L) with M, L >= 1; got {words.shape}")
    if not np.issubdtype(words.dtype, np.integer) or words.min() < 0:
        raise ValueError("words must be non-negative integers")
    probs = np.asarray(point_probs, dtype=np.float64)
    if probs.shape == words.shape[:1]:
        probs = np.broadcast_to(probs[:, None], words.shape)
    if probs.shape != words.shape:
        raise ValueError(f"point_probs must have shape {words.shape} or {words.shape[:1]}; got "
                         f"{probs.shape}")
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise ValueError("point_probs must be finite and non-negative")
    M, L = words.shape
    base = int(words.max()) + 1
    codes = np.zeros(M, dtype=np.int64) if base ** L < 2**62 else None
    index, position, mass = [], [], []
    for t in range(L):  # one vectorised pass per prefix length
        if codes is not None:
            codes = codes * base + words[:, t]
            _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        else:
            _, first, inverse = np.unique(words[:, : t + 1], axis=0, return_index=True,
                                          return_inverse=True)
        inverse = inverse.reshape(-1)
        index.append(first)
        position.append(np.full(first.shape[0], t))
        mass.append(np.bincount(inverse, weights=probs[:, t], minlength=first.shape[0]))
    index, position, weights = (np.concatenate(a) for a in (index, position, mass))
    total = weights.sum()
    if not total > 0:
        raise ValueError("the prefixes' total probability is zero")
    order = np.argsort(index * L + position, kind="stable")
    return PrefixRows(index[order], position[order], weights[order] / total)


def kfold_test_folds(num_rows: int, n_folds: int = PAPER_FOLDS,
                     seed: int = PAPER_FOLD_SEED) -> np.ndarray:
    """``(num_rows,)`` the test fold of every row, as scikit-learn's
    ``KFold(n_splits=n_folds, shuffle=True, random_state=seed)`` assigns them.

    The row indices are shuffled by ``np.random.RandomState(seed).shuffle`` (a generator of its
    own, not numpy's global one); fold ``f`` is the ``f``-th consecutive slice, the first
    ``num_rows % n_folds`` slices one row longer.
    """
    if int(n_folds) != n_folds or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2; got {n_folds}")
    if num_rows < n_folds:
        raise ValueError(f"{num_rows} rows cannot be split into {n_folds} folds")
    order = np.arange(num_rows)
    np.random.RandomState(seed).shuffle(order)
    sizes = np.full(n_folds, num_rows // n_folds)
    sizes[: num_rows % n_folds] += 1
    folds = np.empty(num_rows, dtype=np.int64)
    folds[order] = np.repeat(np.arange(n_folds), sizes)
    return folds


# ------------------------------------------------------------------------------------ fit
class RcondRegression(NamedTuple):
    """A probe fitted with the paper's protocol (:func:`kfold_rcond_regression`).

    Attributes:
        rcond: the chosen cut-off.
        cv_error: ``(R,)`` per cut-off, the mean over folds of ``sum_test w ||yhat - y||``.
        rconds: ``(R,)`` the cut-offs tried, in order.
        coef: ``(B, d)`` and ``intercept`` ``(B,)``: ``yhat = X coef^T + intercept``.
        predictions: ``(N, B)`` in-sample predictions of the final fit.
        heldout_predictions: ``(N, B)`` each row predicted by the fit without its fold, at the
            chosen cut-off.
        rank: singular values kept by the final fit.
        scores: in-sample scores (see :func:`protocol_scores`).
        heldout_scores: the same scores of ``heldout_predictions``.
    """

    rcond: float
    cv_error: np.ndarray
    rconds: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    predictions: np.ndarray
    heldout_predictions: np.ndarray
    rank: int
    scores: dict
    heldout_scores: dict


def _as_inputs(X, Y, weights):
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2 or w.ndim != 1:
        raise ValueError(f"X must be (N, d), Y (N, B) and weights (N,); got {X.shape}, {Y.shape}, "
                         f"{w.shape}")
    if not X.shape[0] == Y.shape[0] == w.shape[0]:
        raise ValueError(f"X, Y and weights differ in rows: {X.shape[0]}, {Y.shape[0]}, {w.shape[0]}")
    if not (np.isfinite(X).all() and np.isfinite(Y).all() and np.isfinite(w).all()):
        raise ValueError("X, Y and weights must be finite")
    if (w < 0).any() or not w.sum() > 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return X, Y, w / w.sum()


def _reduce(A: np.ndarray, Yw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Rx, Ry)`` with ``[A, Yw] = Q [Rx, Ry]``, ``Q`` orthonormal columns."""
    r = np.linalg.qr(np.concatenate([A, Yw], axis=1), mode="r")
    return r[:, : A.shape[1]], r[:, A.shape[1]:]


class _Solutions:
    """Pseudo-inverse solutions of one stacked system for every cut-off (nested: the kept singular
    values of cut-off ``rcond`` are the leading ``K(rcond)``)."""

    def __init__(self, Rx: np.ndarray, Ry: np.ndarray, rconds: np.ndarray) -> None:
        u, s, vt = np.linalg.svd(Rx, full_matrices=False)
        smax = s[0] if s.size else 0.0
        self.kept = (s[None, :] > rconds[:, None] * smax).sum(axis=1)  # (R,)
        c = (u.T @ Ry) / np.where(s > 0, s, 1.0)[:, None]  # (r, B)
        self._vt, self._c = vt, c

    def beta(self, k: int) -> np.ndarray:
        """``(d+1, B)`` the solution keeping the ``k`` largest singular values."""
        return self._vt[:k].T @ self._c[:k]


def _released_r2(Y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    """The released code's ``r2`` (see the module docstring), kept for comparison only."""
    s = np.sqrt(w / w.sum())[:, None]
    m = (Y * s).sum(0) / s.sum()
    total = float(((Y * s - m) ** 2).sum())
    return float(((pred * s - m) ** 2).sum() / total) if total > 0 else 0.0


def protocol_scores(pred, Y, weights) -> dict:
    """Scores of predictions ``(N, B)`` against targets ``(N, B)`` with row weights ``(N,)``.

    Returns:
        ``mse``, ``rmse``, ``mean_distance``, ``whitened_mse``, ``invariant_r2`` as
        :func:`compmech.probing.linear.regression_scores` defines them (``mse`` averaged over coordinates,
        ``rmse = sqrt(mse)``); ``r2 = 1 - sum_c SSE_c / sum_c SST_c``, the probability-weighted
        R^2 pooled over coordinates (scikit-learn's ``multioutput="variance_weighted"``; a GHMM
        belief has a coordinate that is constant up to round-off, where the per-coordinate
        average of R^2 is meaningless); the released code's per-coordinate ``mse_per_coordinate``,
        ``mae_per_coordinate``, ``rmse_per_coordinate`` (weighted means), ``dist``
        (``sum_i w_i ||yhat_i - y_i||`` with weights normalised to sum 1) and
        ``r2_released_code``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    err = pred - Y
    mse_c = w @ err**2
    sst = float(w @ ((Y - w @ Y) ** 2).sum(1))
    out = regression_scores(pred, Y, w)._asdict()
    out.update({
        "r2": 1.0 - float(mse_c.sum()) / sst if sst > 0 else float("nan"),
        "mse_per_coordinate": mse_c.tolist(),
        "mae_per_coordinate": (w @ np.abs(err)).tolist(),
        "rmse_per_coordinate": np.sqrt(mse_c).tolist(),
        "dist": float(w @ np.sqrt((err**2).sum(1))),
        "r2_released_code": _released_r2(Y, pred, w),
    })
    return out


def kfold_rcond_regression(X, Y, weights, *, rconds=PAPER_RCONDS, folds=None,
                           n_folds: int = PAPER_FOLDS, seed: int = PAPER_FOLD_SEED
                           ) -> RcondRegression:
    """Probability-weighted least squares with the ``rcond`` chosen by k-fold cross-validation
    (the paper's protocol; the module docstring gives every step).

    Args:
        X: ``(N, d)`` features of the deduplicated rows.
        Y: ``(N, B)`` targets.
        weights: ``(N,)`` row weights (normalised here to sum to 1).
        rconds: cut-offs, tried in order (default :data:`PAPER_RCONDS`).
        folds: ``(N,)`` test fold of each row; default :func:`kfold_test_folds` ``(N, n_folds,
            seed)``.
        n_folds: the number of the default folds.
        seed: the seed of the default folds.

    Returns:
        :class:`RcondRegression`.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        return _kfold_rcond_regression(X, Y, weights, rconds=rconds, folds=folds,
                                       n_folds=n_folds, seed=seed)


def _kfold_rcond_regression(X, Y, weights, *, rconds, folds, n_folds: int, seed: int
                            ) -> RcondRegression:
    X, Y, w = _as_inputs(X, Y, weights)
    rconds = np.asarray(rconds, dtype=np.float64)
    if rconds.ndim != 1 or rconds.size == 0 or (rconds < 0).any():
        raise ValueError("rconds must be a non-empty list of non-negative numbers")
    N = X.shape[0]
    folds = kfold_test_folds(N, n_folds, seed) if folds is None else np.asarray(folds)
    if folds.shape != (N,):
        raise ValueError(f"folds must have shape ({N},); got {folds.shape}")
    fold_ids = np.unique(folds)
    if fold_ids.size < 2:
        raise ValueError("cross-validation needs at least two folds")
    sw = np.sqrt(w)[:, None]
    A = np.concatenate([np.ones((N, 1)), X], axis=1)
    Aw, Yw = A * sw, Y * sw
    blocks = [np.flatnonzero(folds == f) for f in fold_ids]
    reduced = [_reduce(Aw[b], Yw[b]) for b in blocks]
    fold_errors = np.empty((fold_ids.size, rconds.size))
    heldout_beta = []
    for i, test in enumerate(blocks):
        Rx = np.concatenate([r[0] for j, r in enumerate(reduced) if j != i])
        Ry = np.concatenate([r[1] for j, r in enumerate(reduced) if j != i])
        sol = _Solutions(Rx, Ry, rconds)
        P, Yt, wt = A[test] @ sol._vt.T, Y[test], w[test]  # the test rows in the singular basis
        errors = {}
        for k in np.unique(sol.kept):  # distinct solutions only (at most one per cut-off)
            resid = P[:, :k] @ sol._c[:k] - Yt
            errors[int(k)] = float(wt @ np.sqrt((resid**2).sum(1)))
        fold_errors[i] = [errors[int(k)] for k in sol.kept]
        heldout_beta.append(sol)
    cv_error = fold_errors.mean(axis=0)
    best = int(np.argmin(cv_error))  # first minimum, as the released code's strict "<"
    full = _Solutions(np.concatenate([r[0] for r in reduced]),
                      np.concatenate([r[1] for r in reduced]), rconds)
    k_best = int(full.kept[best])
    beta = full.beta(k_best)
    pred = A @ beta
    heldout = np.empty_like(Y)
    for test, sol in zip(blocks, heldout_beta, strict=True):
        heldout[test] = A[test] @ sol.beta(int(sol.kept[best]))
    return RcondRegression(
        rcond=float(rconds[best]), cv_error=cv_error, rconds=rconds, coef=beta[1:].T.copy(),
        intercept=beta[0].copy(), predictions=pred, heldout_predictions=heldout, rank=k_best,
        scores=protocol_scores(pred, Y, w), heldout_scores=protocol_scores(heldout, Y, w))


__all__ = ["PAPER_FOLDS", "PAPER_FOLD_SEED", "PAPER_RCONDS", "PrefixRows", "RcondRegression",
           "deduplicate_prefixes", "kfold_rcond_regression", "kfold_test_folds", "protocol_scores"]
