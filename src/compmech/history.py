"""History measured in tokens: the equivalent history of a belief prediction.

The exact **Markov-k-plus-position lookup** predicts, at every point (word ``n``, position ``t``),
the weighted mean true belief over the points with the same position and the same last ``k``
tokens (the current one included): the best any representation of exactly the last ``k`` tokens
and the position can do, in mean squared error (and in any quadratic error) with those weights.
Its error falls from ``k = 0`` (the mean belief at each position) to 0 at ``k = L`` (the whole
context: the exact belief). A prediction's **equivalent history** is the ``k`` at which the
lookup's error equals the prediction's, interpolated between integers (geometrically, as the
lookup errors fall roughly geometrically with ``k``). It summarises error in tokens; it is not
evidence of which tokens a network uses (``docs/geometry.md``, "Equivalent history").

Error measures (one number per point set, weighted mean over points):

* ``"mse"``: the mean over coordinates of the squared error (the probe's per-coordinate simplex
  MSE for an HMM);
* ``"whitened_mse"``: the squared Mahalanobis error per dimension, ``e Sigma^+ e^T / rank(Sigma)``
  with ``Sigma`` the weighted covariance of the true targets: unchanged by any invertible affine
  map applied to both truth and prediction, hence by a GHMM's change of basis ``T -> S^-1 T S``
  (beliefs map linearly, ``eta -> eta S``). It is the default for generalized HMMs.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from compmech.geometry import belief_plane_coordinates
from compmech.hmm import GHMM, Process
from compmech.inference import filter_beliefs

MEASURES = ("mse", "whitened_mse")
#: Lookup errors below this fraction of the position-only error are round-off (exactly 0).
ROUND_OFF = 1e-12


class EquivalentHistory(NamedTuple):
    """The equivalent history of a prediction (see the module docstring).

    Attributes:
        tokens: the ``k`` (a float in ``[0, L]``) at which the Markov-k lookup's error equals the
            prediction's; ``L`` when the prediction is at least as good as the exact belief's
            lookup, 0 when it is no better than the position-only mean.
        error: the prediction's error.
        lookup_errors: ``(L + 1,)`` the Markov-k-plus-position lookup's error for ``k = 0..L``.
        measure: the error measure (``"mse"`` or ``"whitened_mse"``).
        context_length: ``L``.
    """

    tokens: float
    error: float
    lookup_errors: np.ndarray
    measure: str
    context_length: int


def _check(words, targets, weights, lookup_weights):
    x = np.asarray(words)
    y = np.asarray(targets, dtype=np.float64)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"words must be an (N, L) integer array; got {x.dtype} {x.shape}")
    if x.size and x.min() < 0:
        raise ValueError("words must be non-negative token ids")
    if y.ndim != 3 or y.shape[:2] != x.shape:
        raise ValueError(f"targets must have shape (N, L, d) = {x.shape} + (d,); got {y.shape}")
    w = _weights(weights, x.shape, "weights")
    lw = w if lookup_weights is None else _weights(lookup_weights, x.shape, "lookup_weights")
    return x, y, w, lw


def _weights(weights, shape, name: str) -> np.ndarray:
    N, L = shape
    if weights is None:
        return np.ones((N, L))
    w = np.asarray(weights, dtype=np.float64)
    if w.shape == (N,):
        w = np.repeat(w[:, None], L, axis=1)
    if w.shape != (N, L) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"{name} must be (N,) or (N, L) = {(N, L)} non-negative with a positive "
                         f"sum; got shape {w.shape}")
    return w


def context_codes(words) -> list[np.ndarray]:
    """Dense group labels of (position, last ``k`` tokens) for ``k = 0..L``.

    Args:
        words: ``(N, L)`` integer tokens.

    Returns:
        ``L + 1`` arrays of shape ``(N * L,)`` (flat index ``n * L + t``): ``codes[k]`` labels each
        point by its position and its last ``min(k, t + 1)`` tokens, ``x[t - k + 1 .. t]``; points
        with equal labels have the same lookup prediction.
    """
    x = np.asarray(words, dtype=np.int64)
    N, L = x.shape
    V = int(x.max()) + 2 if x.size else 2  # + 1 for "before the start"
    code = np.broadcast_to(np.arange(L), (N, L)).reshape(-1).copy()
    codes = [code]
    for k in range(1, L + 1):
        shifted = np.full((N, L), V - 1, dtype=np.int64)
        shifted[:, k - 1:] = x[:, : L - k + 1]  # token x[t - k + 1] at position t
        code = _dense(code * V + shifted.reshape(-1), (int(code.max()) + 1) * V)
        codes.append(code)
    return codes


def _dense(key: np.ndarray, bound: int) -> np.ndarray:
    """Relabel non-negative ``key < bound`` as ``0..G-1`` (order kept): a table when it fits."""
    if bound > 8 * key.shape[0] + 1024:
        return np.unique(key, return_inverse=True)[1].reshape(-1)
    present = np.zeros(bound, dtype=bool)
    present[key] = True
    return (np.cumsum(present) - 1)[key]


class MarkovLookups:
    """Every Markov-k-plus-position lookup of one set of targets (``k = 0..L``), built once.

    Args:
        words: ``(N, L)`` integer tokens (position ``t`` holds the token just seen).
        targets: ``(N, L, d)`` the true beliefs (or belief-plane coordinates) after each token.
        weights: ``(N,)`` or ``(N, L)`` weights of the lookup's means (None: all equal).

    Points are flat indices ``n * L + t``. Building costs ``L + 1`` vectorised passes over the
    ``N L`` points; predictions and errors at a subset of points then cost only that subset.
    """

    def __init__(self, words, targets, *, weights=None) -> None:
        x, y, w, _ = _check(words, targets, weights, None)
        N, L, d = y.shape
        self.context_length, self.num_points = L, N * L
        yf, wf = y.reshape(-1, d), w.reshape(-1)
        self.targets = yf
        self.codes = context_codes(x)
        self.means = []
        for code in self.codes:
            G = int(code.max()) + 1
            mass = np.bincount(code, weights=wf, minlength=G)
            sums = np.stack([np.bincount(code, weights=wf * yf[:, j], minlength=G)
                             for j in range(d)], axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                self.means.append(sums / mass[:, None])

    def predict(self, k: int, points=None) -> np.ndarray:
        """``(P, d)`` the Markov-k lookup at flat ``points`` (default all, ``(N L, d)``); NaN
        where the context has zero lookup weight."""
        if not 0 <= int(k) <= self.context_length:
            raise ValueError(f"k must be in [0, {self.context_length}]; got {k}")
        code = self.codes[int(k)] if points is None else self.codes[int(k)][points]
        return self.means[int(k)][code]

    def errors(self, points=None, weights=None, *, measure: str = "mse") -> np.ndarray:
        """``(L + 1,)`` the lookups' errors at flat ``points`` (default all) with point
        ``weights`` (default equal), in ``measure``."""
        idx = np.arange(self.num_points) if points is None else np.asarray(points)
        w = np.ones(idx.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
        y = self.targets[idx]
        whiten = _error_metric(y, w, measure)
        out = np.empty(self.context_length + 1)
        for k in range(self.context_length + 1):
            pred = self.predict(k, idx)
            if not np.isfinite(pred[w > 0]).all():
                raise ValueError("a weighted point's context has zero lookup weight: give lookup "
                                 "weights covering every point with positive weight")
            out[k] = _errors(pred - y, w, whiten)
        return out


def markov_lookup(words, targets, k: int, *, weights=None) -> np.ndarray:
    """The exact Markov-k-plus-position lookup of ``targets``.

    Args:
        words: ``(N, L)`` integer tokens (position ``t`` holds the token just seen).
        targets: ``(N, L, d)`` the true beliefs (or belief-plane coordinates) after each token.
        k: tokens of history, ``0 <= k <= L`` (``k = L``: the whole context).
        weights: ``(N,)`` or ``(N, L)`` weights of the means (None: all equal).

    Returns:
        ``(N, L, d)``: at each point the weighted mean target over the points with the same
        position and the same last ``k`` tokens (NaN in groups of zero weight).
    """
    y = np.asarray(targets)
    return MarkovLookups(words, y, weights=weights).predict(k).reshape(y.shape)


def _error_metric(y: np.ndarray, w: np.ndarray, measure: str) -> np.ndarray | None:
    """``None`` for ``"mse"``; for ``"whitened_mse"`` the ``(d, r)`` whitening map of the targets'
    weighted covariance (on its span, rank ``r``)."""
    if measure == "mse":
        return None
    if measure != "whitened_mse":
        raise ValueError(f"measure must be one of {MEASURES}; got {measure!r}")
    wn = w / w.sum()
    mean = wn @ y
    cov = (y - mean).T @ ((y - mean) * wn[:, None])
    vals, vecs = np.linalg.eigh(cov)
    keep = vals > 1e-12 * max(vals.max(), 1e-300)
    if not keep.any():
        raise ValueError("the true targets do not vary: no whitened error")
    return vecs[:, keep] / np.sqrt(vals[keep])


def _errors(residuals: np.ndarray, w: np.ndarray, whiten: np.ndarray | None) -> float:
    """Weighted mean error over points of ``residuals (P, d)`` with ``w (P,)``."""
    if whiten is None:
        per_point = (residuals**2).mean(axis=-1)
    else:
        per_point = ((residuals @ whiten) ** 2).sum(axis=-1) / whiten.shape[1]
    on = w > 0
    return float(per_point[on] @ w[on] / w[on].sum())


def prediction_error(true, predicted, *, weights=None, measure: str = "mse") -> float:
    """The error of ``predicted (P, d)`` against ``true (P, d)`` in ``measure`` (see the module
    docstring), weighted by ``weights (P,)`` (default equal); the whitening uses the covariance of
    ``true`` under the same weights, as :meth:`MarkovLookups.errors` does."""
    t = np.asarray(true, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if p.shape != t.shape or t.ndim != 2:
        raise ValueError(f"predicted must have the shape of true (P, d) {t.shape}; got {p.shape}")
    w = np.ones(t.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    return _errors(p - t, w, _error_metric(t, w, measure))


def lookup_errors(words, targets, *, weights=None, lookup_weights=None,
                  measure: str = "mse") -> np.ndarray:
    """The error of the Markov-k-plus-position lookup for ``k = 0..L``.

    Args:
        words: ``(N, L)`` integer tokens.
        targets: ``(N, L, d)`` true targets after each token.
        weights: ``(N,)`` or ``(N, L)`` weights of the error (zero excludes a point); None: equal.
        lookup_weights: weights of the lookup's means (default: ``weights``), e.g. every word of
            the enumeration while the error is taken on held-out points only.
        measure: ``"mse"`` or ``"whitened_mse"`` (see the module docstring).

    Returns:
        ``(L + 1,)`` errors, non-increasing in ``k`` when ``lookup_weights`` is ``weights``.
    """
    x, y, w, lw = _check(words, targets, weights, lookup_weights)
    wf = w.reshape(-1)
    points = np.flatnonzero(wf > 0)
    return MarkovLookups(x, y, weights=lw).errors(points, wf[points], measure=measure)


def history_tokens(errors, error: float) -> float:
    """The ``k`` at which ``errors`` (the lookup errors for ``k = 0..L``) reach ``error``.

    Scans ``k = 0, 1, ..`` for the first lookup at least as good as the prediction; between ``k - 1``
    and ``k`` the crossing is interpolated linearly in ``log(error)`` (linearly in the error when
    ``errors[k]`` is 0). ``0`` when the prediction is no better than ``errors[0]``; ``L`` when it is
    no worse than 0.
    """
    e = np.asarray(errors, dtype=np.float64).copy()
    e[e <= ROUND_OFF * e[0]] = 0.0  # the exact lookup's error is round-off
    error = float(error)
    if not math.isfinite(error):
        raise ValueError(f"error must be finite; got {error}")
    if error >= e[0]:
        return 0.0
    k = int(np.argmax(e <= error)) if (e <= error).any() else e.shape[0] - 1
    hi, lo = e[k - 1], e[k]
    if lo > 0 and error > 0:
        frac = math.log(hi / error) / math.log(hi / lo) if hi > lo else 1.0
    else:
        frac = (hi - error) / (hi - lo) if hi > lo else 1.0
    return float(k - 1 + min(max(frac, 0.0), 1.0))


def default_measure(process: Process) -> str:
    """``"whitened_mse"`` for a generalized HMM (presentation-invariant), else ``"mse"``."""
    return "whitened_mse" if isinstance(process, GHMM) else "mse"


def equivalent_history(hmm: Process, words, predicted, *, weights=None, lookup_weights=None,
                       measure: str | None = None) -> EquivalentHistory:
    """The equivalent history of ``predicted`` beliefs of ``hmm`` after each token of ``words``.

    Args:
        hmm: the process (HMM or generalized HMM), started from its initial distribution.
        words: ``(N, L)`` integer tokens.
        predicted: ``(N, L, S)`` predicted beliefs after each token, or for a generalized HMM
            ``(N, L, S - 1)`` belief-plane coordinates (:func:`compmech.belief_plane_coordinates`).
        weights: ``(N,)`` or ``(N, L)`` weights (None: every word and position counts equally, the
            probe's default; zero excludes a point).
        lookup_weights: weights of the lookup's means (default: ``weights``).
        measure: ``"mse"`` or ``"whitened_mse"``; default :func:`default_measure`.

    Returns:
        :class:`EquivalentHistory`.

    Example:
        >>> import compmech
        >>> hmm = compmech.get_process("mess3")
        >>> words = compmech.all_words(3, 6)
        >>> truth = compmech.filter_beliefs(hmm, words).beliefs
        >>> lookup = compmech.markov_lookup(words, truth, 3)
        >>> round(compmech.equivalent_history(hmm, words, lookup).tokens, 6)
        3.0
    """
    x = np.asarray(words)
    truth = filter_beliefs(hmm, x).beliefs
    p = np.asarray(predicted, dtype=np.float64)
    if isinstance(hmm, GHMM) and p.shape[-1] == hmm.num_states - 1:
        truth = belief_plane_coordinates(truth.reshape(-1, hmm.num_states),
                                         hmm.right_eigenvector).reshape(*x.shape, -1)
    if p.shape != truth.shape:
        raise ValueError(f"predicted must have shape {truth.shape}; got {p.shape}")
    measure = default_measure(hmm) if measure is None else measure
    errors = lookup_errors(x, truth, weights=weights, lookup_weights=lookup_weights,
                           measure=measure)
    w = _weights(weights, x.shape, "weights").reshape(-1)
    d = truth.shape[-1]
    error = prediction_error(truth.reshape(-1, d), p.reshape(-1, d), weights=w, measure=measure)
    return EquivalentHistory(history_tokens(errors, error), error, errors, measure, x.shape[1])


__all__ = ["MEASURES", "EquivalentHistory", "MarkovLookups", "context_codes", "default_measure",
           "equivalent_history", "history_tokens", "lookup_errors", "markov_lookup", "prediction_error"]
