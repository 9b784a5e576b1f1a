"""Cross-validated linear probes from one pass of sufficient statistics.

:func:`cross_validated_probe` fits :class:`~compmech.probing.linear.BeliefProbe` on one fold,
scores it on the others, refits on every other fold (the spread) and runs the shuffle control from
the per-fold moments ``X^T W X``; :func:`rcond_sweep` chooses the eigenvalue cut-off by inner
validation from the same moments; :class:`ProbeResult` holds the scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from compmech.probing.inputs import _feature_chunk, _feature_shape, sequence_folds
from compmech.probing.linear import (
    BLAS_THREADS,
    CHUNK_SEQUENCES,
    INNER_FOLDS,
    RCOND,
    RCOND_GRID,
    BeliefProbe,
    Features,
    Scores,
    _as_2d,
    _augment,
    _moments,
    _solve,
    invariant_scores,
    r2_from_sums,
)
from compmech.records import Record


# ----------------------------------------------------------------------------- cross-validation
@dataclass
class ProbeResult:
    """A probe fitted on one fold and scored on the rest, with its spread and shuffle control.

    Attributes:
        scores: held-out ``mse``, ``rmse``, ``r2``, ``mean_distance`` and the
            presentation-invariant ``whitened_mse`` / ``invariant_r2``
            (:func:`~compmech.probing.linear.invariant_scores`)
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
        probe: the fitted :class:`~compmech.probing.linear.BeliefProbe` (trained on ``train_fold``).
        shuffle_probe: the probe fitted to the shuffled beliefs.
        n_train, n_test: number of points (sequences x positions) on each side.
        n_features: ``d``.
        train_fold, n_folds: the split.
        regularisation: the rcond sweep's summary (:meth:`SweepResult.summary`) when one was run.
    """

    scores: Scores
    train_mse: float
    fold_mse: np.ndarray
    shuffle_scores: Scores
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
    regularisation: RcondSweepSummary | None = None
    pooled_scores: Scores | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers (the probe's coefficients are left out)."""
        pooled, s = self.pooled_scores, self.scores
        return {
            "mse_pooled": None if pooled is None else pooled.mse,
            "r2_pooled": None if pooled is None else pooled.r2,
            "mse_test": s.mse,
            "rmse_test": s.rmse,
            "r2_test": s.r2,
            "invariant_r2_test": s.invariant_r2,
            "whitened_mse_test": s.whitened_mse,
            "invariant_r2_pooled": None if pooled is None else pooled.invariant_r2,
            "mean_distance_test": s.mean_distance,
            "mse_train": self.train_mse,
            "mse_folds": self.fold_mse.tolist(),
            "mse_folds_mean": float(self.fold_mse.mean()),
            "mse_folds_std": float(self.fold_mse.std(ddof=1)) if self.fold_mse.size > 1 else 0.0,
            "shuffle_mse": self.shuffle_scores.mse,
            "shuffle_r2": self.shuffle_scores.r2,
            "shuffle_invariant_r2": self.shuffle_scores.invariant_r2,
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


def cross_validated_probe(features: Features, beliefs, folds, *, weights=None,
                          train_folds: int = 1, spread: bool = True, shuffle: bool = True,
                          shuffle_seed: int = 0) -> ProbeResult:
    """Fit the probe on the first ``train_folds`` folds, score on the others; spread over folds;
    shuffle control.

    One streaming pass accumulates, per fold, ``X^T W X``, ``X^T W [Y, Y_shuffled]`` and
    ``sum W Y^2`` over augmented features ``[x - shift, 1]``; the probes (true and shuffled beliefs,
    one per training fold) are solved from them; a second pass predicts every point with every probe
    at once and accumulates squared errors and distances per fold. Every score is against the true
    beliefs.

    Args:
        features: ``(N, P, d)`` array (float32 is fine) or a callable ``idx -> (len(idx), P, d)``
            with a ``.shape`` attribute (see :func:`~compmech.probing.inputs.concatenated`).
        beliefs: ``(N, P, S)`` true beliefs.
        folds: ``(N,)`` fold of each sequence (:func:`~compmech.probing.inputs.sequence_folds`).
        weights: optional ``(N, P)`` point weights (the sampled protocol); None = unweighted.
        train_folds: how many consecutive folds (mod k) form a training set: 1 of 5 is the paper's
            20% train / 80% test; 4 of 5 is the usual 80% / 20% for small data sets.
        spread: also fit with every other fold as first training fold (the k-fold spread).
        shuffle: run the shuffle control.
        shuffle_seed: seed of the permutation of belief rows across all ``N * P`` points.

    Runs with :data:`~compmech.probing.linear.BLAS_THREADS` BLAS threads; reads
    :data:`CHUNK_SEQUENCES` sequences at a time.

    Returns:
        :class:`ProbeResult`.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        return _fit_and_score(features, beliefs, folds, weights, train_folds, spread,
                              shuffle_seed if shuffle else None)


def _fit_and_score(features: Features, beliefs, folds, weights, train_folds: int, spread: bool,
                   shuffle_seed: int | None) -> ProbeResult:
    """:func:`cross_validated_probe` (``shuffle_seed`` ``None``: no shuffle control)."""
    train_fold, shuffle, chunk_sequences = 0, shuffle_seed is not None, CHUNK_SEQUENCES
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
    point_counts = np.bincount(folds, minlength=layout.k) * P
    pooled = scores.pooled(0) if spread else None
    return ProbeResult(
        scores=scores(0, 0),
        train_mse=float(sse[0, 0, train].sum() / (scores.wsum[train].sum() * S)),
        fold_mse=np.array([scores(i, 0).mse for i in range(n_fits)]),
        shuffle_scores=scores(0, 1) if shuffle else Scores.missing(),
        shuffle_fold_mse=np.array([scores(i, 1).mse for i in range(n_fits)]) if shuffle
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
        """:func:`~compmech.probing.linear.invariant_scores` of a test set that counts fold ``f``
        ``counts[f]`` times."""
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

    def pooled(self, block: int) -> Scores:
        """Scores over every fit's test points together (each fit scored on its own test folds)."""
        sse_c = sum(self.sse[i, block, ~t].sum(0) for i, t in enumerate(self.layout.train_sets))
        dist = sum(self.dist[i, block, ~t].sum() for i, t in enumerate(self.layout.train_sets))
        counts = sum((~t).astype(np.float64) for t in self.layout.train_sets)  # tests per fold
        w = counts @ self.wsum
        ybar = (counts @ self.ysum) / w
        sst_c = counts @ self.ysq - w * ybar**2
        mse = float(sse_c.sum() / (w * sse_c.shape[0]))
        res = sum(self.res[i, block, ~t].sum(0) for i, t in enumerate(self.layout.train_sets))
        return Scores(mse=mse, rmse=float(np.sqrt(mse)), r2=r2_from_sums(sse_c, sst_c),
                      mean_distance=float(dist / w), **self._invariant(res, counts))

    def __call__(self, fit: int, block: int) -> Scores:
        test = ~self.layout.train_sets[fit]
        w_test = self.wsum[test].sum()
        sse_c = self.sse[fit, block, test].sum(0)
        sst_c = self._sst(test)
        mse = float(sse_c.sum() / (w_test * sse_c.shape[0]))
        return Scores(mse=mse, rmse=float(np.sqrt(mse)), r2=r2_from_sums(sse_c, sst_c),
                      mean_distance=float(self.dist[fit, block, test].sum() / w_test),
                      **self._invariant(self.res[fit, block, test].sum(0), test.astype(np.float64)))


# ----------------------------------------------------------------------------- regularisation
@dataclass
class RcondSweepSummary(Record):
    """The rcond sweep of one hook, as ``probe.json`` holds it (``regularisation``).

    Attributes:
        rconds: the candidate cut-offs.
        chosen_rcond: the cut-off inner validation chose for each outer training set.
        inner_mse: ``[fit][candidate]`` inner-validation MSE.
        test_mse_per_rcond: ``[fit][candidate]`` outer held-out MSE (reported, never used to
            choose).
        mse_test, r2_test: held-out scores of the chosen probe of fit 0.
        mse_pooled, r2_pooled: the same over every fit's test points.
    """

    rconds: list[float]
    chosen_rcond: list[float]
    inner_mse: list[list[float]]
    test_mse_per_rcond: list[list[float]]
    mse_test: float
    r2_test: float | None
    mse_pooled: float
    r2_pooled: float | None


@dataclass
class SweepResult:
    """The regularisation sweep of :func:`rcond_sweep` for each outer fit.

    Attributes:
        rconds: the candidate cut-offs (:data:`~compmech.probing.linear.RCOND_GRID`).
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
    scores: Scores
    pooled: Scores

    def summary(self) -> RcondSweepSummary:
        """The numbers ``probe.json`` keeps (the arrays as lists)."""
        return RcondSweepSummary(
            rconds=list(self.rconds), chosen_rcond=list(self.chosen),
            inner_mse=self.inner_mse.tolist(), test_mse_per_rcond=self.test_mse.tolist(),
            mse_test=self.scores.mse, r2_test=self.scores.r2, mse_pooled=self.pooled.mse,
            r2_pooled=self.pooled.r2)


def _sse_from_moments(beta: np.ndarray, xx: np.ndarray, xy: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Per-coordinate ``sum_i w_i (a_i beta - y_i)^2`` from the moments of the points."""
    return yy - 2.0 * np.einsum("jc,jc->c", xy, beta) + np.einsum("jc,jk,kc->c", beta, xx, beta)


def _scores_from_moments(betas, cells_xx, cells_xy, cells_yy, test_masks) -> Scores:
    """Scores (no mean distance: it needs the points) of fits ``betas[i]`` on cells
    ``test_masks[i]``, pooled."""
    sse = sum(_sse_from_moments(b, cells_xx[t].sum(0), cells_xy[t].sum(0), cells_yy[t].sum(0))
              for b, t in zip(betas, test_masks, strict=True))
    counts = sum(t.astype(np.float64) for t in test_masks)
    w = counts @ cells_xx[:, -1, -1]
    ybar = (counts @ cells_xy[:, -1]) / w
    sst = counts @ cells_yy - w * ybar**2
    mse = float(sse.sum() / (w * sse.shape[0]))
    return Scores(mse=mse, rmse=float(np.sqrt(mse)), r2=r2_from_sums(sse, sst))


def rcond_sweep(features: Features, beliefs, folds, *, train_folds: int = 1, spread: bool = False,
                weights=None, rconds=RCOND_GRID, seed: int = 0) -> SweepResult:
    """The probe with its cut-off ``rcond`` chosen by inner validation, scored on held-out folds.

    Each outer training set (folds ``0 .. train_folds - 1``, and with ``spread`` every rotation, as
    :func:`cross_validated_probe`) is split by sequence into :data:`INNER_FOLDS` inner folds; each
    candidate is fitted on all inner folds but one and validated on that one, the candidate with the
    least total validation error is refitted on the whole training set and scored on the outer
    test folds. The cut-off drops singular values of the Jacobi-scaled, weighted, augmented design
    matrix below ``rcond`` times the largest (eigenvalues of its normal matrix below ``rcond^2``).
    Everything comes from one streaming pass of moments per (fold, inner fold) cell
    (:data:`INNER_FOLDS` inner folds; :data:`CHUNK_SEQUENCES` sequences at a time).

    Returns:
        :class:`SweepResult`.
    """
    from threadpoolctl import threadpool_limits

    shape, beliefs, folds, weights = _checked_inputs(features, beliefs, folds, weights)
    N, chunk_sequences = shape[0], CHUNK_SEQUENCES
    outer = _FoldLayout.build(folds, 0, train_folds, spread, chunk_sequences)
    J = int(INNER_FOLDS)
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
            inner_mse[i, r] = _scores_from_moments(fits, xx, xy, yy, vals).mse
            beta = _solve(xx[in_train].sum(0), xy[in_train].sum(0), rcond**2)
            test_mse[i, r] = _scores_from_moments([beta], xx, xy, yy, [~in_train]).mse
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


def predict_points(probe, features, flat_idx: np.ndarray, P: int) -> np.ndarray:
    """``(len(flat_idx), S)`` float32 predictions of ``probe`` at flat point indices
    ``seq * P + pos`` (each sequence's features read once)."""
    seq, pos = np.divmod(flat_idx, P)
    uniq, inverse = np.unique(seq, return_inverse=True)
    pred = predict_features(probe, features, uniq)  # (n_unique, P, S)
    return pred[inverse, pos].astype(np.float32)


__all__ = [
    "predict_points",
    "ProbeResult",
    "RcondSweepSummary",
    "SweepResult",
    "affine_subspace_projection",
    "cross_validated_probe",
    "predict_features",
    "rcond_sweep",
]
