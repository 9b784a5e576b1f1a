"""The probe over training (``probe.json``'s ``curve``): the headline hook's held-out probe and
its geometry at every selected checkpoint, the intermediate ones on a fixed subset of the words.

Cost. At the last checkpoint and the initialisation the probe reads every word anyway (every hook,
the controls, the baselines), so the curve's two ends are those full probes. Each *intermediate*
checkpoint costs one forward pass and one probe fit plus one geometry comparison; on all 59,049
Mess3 words (590,490 points) the forward pass alone is ~3.7 s of CPU, and a default run has ~23
intermediate checkpoints. They are probed instead on a fixed, seeded subset of
:data:`CURVE_WORDS` sequences (:func:`curve_subset`), the same at every checkpoint, so that the
curve's points differ by training and not by sample:

* **Unbiased.** The subset is drawn fold by fold (so the split keeps its proportions) by
  systematic sampling with probability proportional to each sequence's total point weight
  (uniform for the unweighted protocol: then a simple random sample without replacement, used
  unweighted), and each drawn sequence carries its Horvitz-Thompson weight (``weight / inclusion
  probability``, normalised to sum to 1): every weighted mean over the subset (an MSE, a belief
  mean) is an unbiased estimate of the same mean over all the words. A sequence whose weight
  exceeds the sampling interval is drawn several times and counted so.
* **Precision.** The probe of a checkpoint is fitted on the subset's training side (about 8,200
  points of 4,096 Mess3 words at the 20/80 split: ~125 points per coefficient of the 65 of a
  64-wide probe, whose overfitting raises the held-out MSE by about ``65 / 8,200`` ~ 1% relative;
  measured on the 2-minute Mess3 run against the every-word curve: +1.0% to +1.9% at its 8
  intermediate checkpoints, the same paired resolution at every one and the equivalent history
  within 0.02 tokens) and scored on its held-out side (~32,800 points); the geometry compares at most
  :data:`~compmech.probing.data.FIGURE_POINTS` of those held-out points, as the last checkpoint's
  comparison does on its own figure points (same number of points, same pair subsample), so that
  resolutions along the curve are comparable. ``tests/probing/test_curve.py`` checks the subset
  curve against the every-word curve on a small run.
* **Visible.** Each :class:`~compmech.probing.report.CurvePoint` records ``num_sequences`` (the
  words its probe read: all of them at the ends, :data:`CURVE_WORDS` in between) and the protocol's
  ``curve`` says how the subset was drawn; ``probe_run(curve_words=None)`` (``compmech probe
  --curve-words all``) probes every checkpoint on every word.

Measured on the 2-minute Mess3 run (25 checkpoints, 2 shared cores at load 7-12): the curve went
from 89 s of CPU (every word; 3.7 s of forward pass per checkpoint) to 27 s (1.2 s per
intermediate checkpoint, ~0.8 s of it the geometry comparison); ``benchmarks/bench_probe.py``'s
docstring has every stage. One compiled forward function serves every checkpoint (the same shapes:
batches of :data:`~compmech.probing.data.FORWARD_BATCH` sequences).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from compmech.pair_kernels import _systematic
from compmech.probing.data import FIGURE_POINTS, ProbeData

#: Sequences of the fixed subset on which the intermediate checkpoints are probed (``None``: all).
CURVE_WORDS = 4096
#: Second seed word of the subset's draws (a stream of its own beside the folds' and figures').
_CURVE_STREAM = 0xC0DE


@dataclass(frozen=True)
class CurveSubset:
    """The sequences the intermediate checkpoints are probed on.

    Attributes:
        index: ``(W,)`` sorted distinct indices into the probe's sequences.
        weights: ``(W, P)`` Horvitz-Thompson point weights, summing to 1 (see the module docstring).
        data: the probe's data restricted to ``index`` (its weights ``None`` when the probe is
            unweighted, else ``weights``; folds and split as the probe's).
        points: flat indices (into ``N * P`` of the whole probe) of the held-out points whose
            geometry is compared, at most :data:`~compmech.probing.data.FIGURE_POINTS`.
        local_points: the same points as flat indices into the subset's ``W * P``.
        everything: the subset is every sequence (small probes): ``index`` is ``arange(N)``.
    """

    index: np.ndarray
    weights: np.ndarray
    data: ProbeData
    points: np.ndarray
    local_points: np.ndarray
    everything: bool

    @property
    def num_sequences(self) -> int:
        return int(self.index.shape[0])

    def point_weights(self) -> np.ndarray | None:
        """Weights of :attr:`points` (``None`` when unweighted)."""
        w = self.data.weights
        return None if w is None else w.reshape(-1)[self.local_points]


def curve_sample(data: ProbeData, max_words: int | None, *, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The subset's sequences and Horvitz-Thompson point weights (see the module docstring).

    Each fold ``f`` of total point weight ``M_f`` (of ``M``) gets ``n_f = round(max_words * M_f /
    M)`` (at least 1) systematic draws with probability proportional to the sequences' weights
    ``m_n = sum_t w[n, t]``; a sequence drawn ``c`` times gets the point weights ``c * w[n, t] / m_n
    * M_f / n_f``, then all are divided by their sum.

    Args:
        data: the probe's data (``weights`` ``None`` counts every point as 1).
        max_words: draws in all (``None`` or ``>= N``: every sequence, weights ``w / sum w``).
        seed: the probe's seed.

    Returns:
        ``(index (W,) sorted distinct sequences, weights (W, P) summing to 1)``.

    Raises:
        ValueError: ``max_words < 1`` or no point has positive weight.
    """
    N, P = data.tokens.shape
    w = np.ones((N, P)) if data.weights is None else np.asarray(data.weights, dtype=np.float64)
    mass = w.sum(axis=1)
    total = float(mass.sum())
    if not total > 0:
        raise ValueError("the probe's points have no positive weight to draw the curve's subset by")
    if max_words is not None and int(max_words) < 1:
        raise ValueError(f"curve_words must be >= 1 or None (every word); got {max_words}")
    if max_words is None or max_words >= N:
        return np.arange(N), w / total
    rng = np.random.default_rng([int(seed), _CURVE_STREAM])
    index, weights = [], []
    for f in range(int(data.folds.max()) + 1):
        members = np.flatnonzero((data.folds == f) & (mass > 0))
        if members.size == 0:
            continue
        fold_mass = float(mass[members].sum())
        n = max(1, round(max_words * fold_mass / total))
        drawn, count = np.unique(_systematic(mass[members], n, rng.permutation(members.size)),
                                 return_counts=True)
        seq = members[drawn]
        index.append(seq)
        weights.append(w[seq] / mass[seq, None] * (count * fold_mass / n)[:, None])
    index_all, weights_all = np.concatenate(index), np.concatenate(weights)
    order = np.argsort(index_all)
    return index_all[order], weights_all[order] / weights_all.sum()


def curve_subset(data: ProbeData, max_words: int | None, *, seed: int,
                 figure_points: np.ndarray) -> CurveSubset:
    """The :class:`CurveSubset` of a probe: :func:`curve_sample`'s sequences with their data and
    held-out points (every sequence, and the figure points ``figure_points``, when ``max_words`` is
    ``None`` or covers them all)."""
    N, P = data.tokens.shape
    index, weights = curve_sample(data, max_words, seed=seed)
    if max_words is None or max_words >= N:
        return CurveSubset(np.arange(N), weights, data, figure_points, figure_points, True)
    sub = dataclasses.replace(
        data, tokens=data.tokens[index], beliefs=data.beliefs[index],
        weights=None if data.weights is None else weights, folds=data.folds[index],
        joint_beliefs=None if data.joint_beliefs is None else data.joint_beliefs[index])
    local = held_out_points(sub, seed=seed)
    points = index[local // P] * P + local % P
    return CurveSubset(index, weights, sub, points, local, False)


def held_out_points(data: ProbeData, *, seed: int, max_points: int = FIGURE_POINTS) -> np.ndarray:
    """Flat indices (into ``N * P``) of held-out points of positive weight, at most ``max_points``
    (a seeded subsample, sorted): the points whose predictions the figures draw and the geometry
    compares."""
    P = data.tokens.shape[1]
    train = np.isin(data.folds, np.arange(data.train_folds))
    test = np.flatnonzero(np.repeat(~train, P))
    if data.weights is not None:
        test = test[data.weights.reshape(-1)[test] > 0]
    if test.size > max_points:
        test = np.sort(np.random.default_rng(seed).choice(test, max_points, replace=False))
    return test


def describe_curve(subset: CurveSubset, total: int) -> str:
    """``probe.json``'s ``protocol.curve``: which words the curve's checkpoints read."""
    if subset.everything:
        return f"every checkpoint probed on all {total:,} sequences"
    return (f"first and last checkpoints on all {total:,} sequences; the others on a fixed seeded "
            f"subset of {subset.num_sequences:,} (systematic draws per fold with probability "
            "proportional to the sequence's point weight, Horvitz-Thompson weights), their "
            f"geometry on {subset.points.size:,} of its held-out points")


__all__ = [
    "CURVE_WORDS",
    "CurveSubset",
    "curve_sample",
    "curve_subset",
    "describe_curve",
    "held_out_points",
]
