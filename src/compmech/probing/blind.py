"""Does a representation carry the belief beyond its next-token prediction? Probe controls.

Where the prediction-blind subspace (:func:`compmech.prediction_blind_subspace`) is non-trivial
(RRXOR, Z1R, fanizza, ...), a representation of the network's own next-token distribution
``p = eta E`` is not a representation of the belief. The controls here separate the two. Every
target is expressed in **future-word coordinates** ``z = eta Phi_L V`` (``Phi_L`` from
:func:`compmech.blind.future_word_embedding`, ``V`` an orthonormal basis of its row space), which
do not depend on a GHMM's presentation (``eta Phi_L`` is the distribution of the next ``L``
tokens), so every score below is presentation invariant, HMM or GHMM.

* ``belief``: the linear probe from the features to ``z``, scored on held-out points.
* ``next_token`` / ``log_next_token``: the same probe from ``p`` (or ``log p``) instead of the
  features: what a representation that holds only the prediction (linearly, or as logits) gives.
* ``prediction_lookup``: the best any function of the prediction can do: the weighted mean of
  ``z`` over the training points with the same ``p`` (a lookup table on the exact prediction;
  points whose ``p`` no training point has get the training mean). Where the map ``eta -> p`` is
  injective on the cloud, this recovers the whole belief: a representation of the prediction then
  carries the belief, and no probe can tell the two apart (``distinguishable`` is False).
* ``blind``: the probe from the features to the **blind residual** ``b = z - E[z | p]`` (weighted
  means over all points with the same ``p``), the part of the belief that no function of the
  prediction recovers; its weighted variance over that of ``z`` is ``lookup_share``.
  ``blind_shuffle`` fits the same probe to ``b`` permuted across points (a seeded permutation): the
  floor, near or below 0. ``blind_log_next_token`` fits ``log p`` to ``b`` (near 0 by
  construction: a check of the residual, not a competitor).
* ``geometric_shuffle``: shuffle only ``b`` across points (``z' = E[z | p] + b[donor]``, donors
  drawn with probability proportional to their weight; the prediction-visible part kept), refit
  the features to ``z'``, and score against ``z'``. A representation of the prediction alone fits
  ``z`` and ``z'`` equally well; one that carries the belief fits ``z`` better.

``share`` is the linear blind share (:func:`compmech.prediction_blind_share`: ``1 -`` the
invariant R^2 of the belief regressed linearly on ``p``); it overstates what the prediction hides
whenever a non-linear function of ``p`` recovers more (Z1R on words of 7 tokens: linear share
0.40, lookup share 0.08).

R^2 here is ``1 - SSE / SST`` summed over coordinates (weighted by point weights, on the test
points), i.e. in the future-word metric. :meth:`BlindControls.against_network` lists the controls
that come out against "the features carry the belief beyond the prediction".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from compmech.blind import (
    _emission,
    future_word_embedding,
    observability_horizon,
    prediction_blind_share,
    prediction_blind_subspace,
)
from compmech.probing.linear import BeliefProbe
from compmech.records import Record

#: ``log p`` features clip probabilities at this floor (zero-probability tokens are common).
LOG_FLOOR = 1e-12


@dataclass(frozen=True)
class BlindControls(Record):
    """The prediction-blind controls of one representation (see the module docstring).

    Attributes:
        applicable: False when the process has no prediction-blind subspace (every score NaN).
        dimension: the blind subspace's dimension, ``S - rank(E)``.
        horizon: ``L`` of the future-word coordinates.
        share: the weighted share of belief variance that no affine function of ``p`` explains
            (future-word metric; :func:`compmech.prediction_blind_share` on the same points).
        lookup_share: the weighted share that no function of ``p`` explains (variance of the
            blind residual over that of ``z``).
        distinguishable: ``lookup_share > 1e-9``: some beliefs of the cloud share a prediction.
        belief_r2, next_token_r2, log_next_token_r2: held-out R^2 of ``z`` from the features,
            from ``p`` and from ``log p``.
        prediction_lookup_r2: held-out R^2 of ``z`` from the lookup table on ``p``.
        blind_r2, blind_shuffle_r2, blind_log_next_token_r2: held-out R^2 of the blind residual
            from the features, from the features against permuted targets, and from ``log p``.
        geometric_shuffle_r2: held-out R^2 of the features fitted to ``z`` with its blind residual
            permuted across points (compare with ``belief_r2``).
        seed: the permutations' seed.
    """

    applicable: bool
    dimension: int
    horizon: int
    share: float | None
    lookup_share: float | None
    distinguishable: bool
    belief_r2: float | None
    next_token_r2: float | None
    log_next_token_r2: float | None
    prediction_lookup_r2: float | None
    blind_r2: float | None
    blind_shuffle_r2: float | None
    blind_log_next_token_r2: float | None
    geometric_shuffle_r2: float | None
    seed: int

    def against_network(self, margin: float = 0.02) -> list[str]:
        """The controls that come out against "the features carry the belief beyond the
        prediction": each comparison must be won by more than ``margin`` (R^2; the blind probe
        must also beat 0, since an over-fitting shuffle can fall below it). Empty when none
        does, or when the test does not apply (no blind subspace, or not distinguishable)."""
        if not (self.applicable and self.distinguishable):
            return []
        def wins(a, b):  # an undefined score wins nothing
            return a is not None and b is not None and a > b + margin

        out = []
        if not wins(self.blind_r2, max(self.blind_shuffle_r2 or 0.0, 0.0)):
            out.append("blind probe no better than its shuffle")
        if not wins(self.belief_r2, self.geometric_shuffle_r2):
            out.append("geometric shuffle fitted as well as the beliefs")
        if not wins(self.belief_r2, self.prediction_lookup_r2):
            out.append("beliefs fitted no better than by a lookup on the prediction")
        return out


def _test_r2(predicted: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted ``1 - SSE / SST`` summed over columns (NaN for constant targets)."""
    wt = w / w.sum()
    sst = float(wt @ np.sum((y - wt @ y) ** 2, axis=1))
    return 1.0 - float(wt @ np.sum((predicted - y) ** 2, axis=1)) / sst if sst > 0 else float("nan")


def _held_out_r2(X: np.ndarray, y: np.ndarray, w: np.ndarray, train: np.ndarray) -> float:
    """Weighted OLS (with intercept) fitted on ``train``, R^2 on the rest, summed over columns."""
    probe = BeliefProbe().fit(X[train], y[train], sample_weight=w[train])
    return _test_r2(probe.predict(X[~train]), y[~train], w[~train])


#: Predictions equal after rounding to this many decimals count as the same prediction.
PREDICTION_DECIMALS = 9


def _prediction_groups(p: np.ndarray) -> np.ndarray:
    """``(N,)`` group index of each point: points with the same (rounded) prediction share one."""
    _, inverse = np.unique(np.round(p, PREDICTION_DECIMALS), axis=0, return_inverse=True)
    return inverse.reshape(-1)


def _group_means(z: np.ndarray, w: np.ndarray, groups: np.ndarray, mask: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means of ``z`` per group over the points in ``mask``: ``(G, k)`` means and
    ``(G,)`` total weights (0 where the group has no point in ``mask``)."""
    G = int(groups.max()) + 1
    wm = np.where(mask, w, 0.0)
    mass = np.bincount(groups, weights=wm, minlength=G)
    sums = np.stack([np.bincount(groups, weights=wm * z[:, k], minlength=G)
                     for k in range(z.shape[1])], axis=1)
    return sums / np.where(mass > 0, mass, 1.0)[:, None], mass


def _lookup_r2(z: np.ndarray, w: np.ndarray, groups: np.ndarray, train: np.ndarray) -> float:
    """Held-out R^2 of the lookup table ``p -> E_train[z | p]`` (training mean where unseen)."""
    means, mass = _group_means(z, w, groups, train)
    fallback = (w[train] @ z[train]) / w[train].sum()
    pred = np.where((mass > 0)[groups, None], means[groups], fallback)
    return _test_r2(pred[~train], z[~train], w[~train])


def _defined(out: BlindControls) -> BlindControls:
    """``out`` with every non-finite score replaced by None (JSON keeps None, not NaN)."""
    undefined = {f.name: None for f in dataclasses.fields(out)
                 if isinstance(getattr(out, f.name), float)
                 and not math.isfinite(getattr(out, f.name))}
    return dataclasses.replace(out, **undefined)


def blind_controls(features, beliefs, process, *, train, weights=None, horizon: int | None = None,
                   seed: int = 0) -> BlindControls:
    """The prediction-blind probe controls of ``features`` (see the module docstring).

    Args:
        features: ``(N, D)`` activations (float32 is fine).
        beliefs: ``(N, S)`` true beliefs of the same points (``eta r = 1``).
        process: the HMM or GHMM.
        train: ``(N,)`` bool, the probe's training points (split by sequence upstream); the rest
            are the test points.
        weights: ``(N,)`` non-negative point weights, or ``None`` for equal weights.
        horizon: ``L`` of the future-word coordinates; default the observability horizon.
        seed: seed of the permutations.

    Returns:
        :class:`BlindControls`; NaN scores and ``applicable=False`` when the blind subspace is
        trivial.
    """
    X = np.asarray(features)
    eta = np.asarray(beliefs, dtype=np.float64)
    train = np.asarray(train, dtype=bool)
    N = eta.shape[0]
    if X.ndim != 2 or X.shape[0] != N or eta.shape != (N, process.num_states):
        raise ValueError(f"features must be (N, D) and beliefs (N, {process.num_states}) with the "
                         f"same N; got {X.shape} and {eta.shape}")
    if train.shape != (N,) or not train.any() or train.all():
        raise ValueError("train must be an (N,) boolean mask with both train and test points")
    w = np.full(N, 1.0 / N) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (N,) or (w < 0).any() or not w[train].sum() > 0 or not w[~train].sum() > 0:
        raise ValueError(f"weights must be ({N},) non-negative with mass on train and test points")
    dimension = prediction_blind_subspace(process).dimension
    L = observability_horizon(process) if horizon is None else int(horizon)
    nan = float("nan")
    if dimension == 0:
        return _defined(BlindControls(False, 0, L, 0.0, 0.0, False, *([nan] * 8), seed))
    phi = future_word_embedding(process, L)
    _, s, vt = np.linalg.svd(phi, full_matrices=False)
    z = eta @ phi @ vt[s > 1e-10 * s[0]].T  # presentation-invariant coordinates
    p = eta @ _emission(process)
    log_p = np.log(np.maximum(p, LOG_FLOOR))
    groups = _prediction_groups(p)
    means, _ = _group_means(z, w, groups, np.ones(N, dtype=bool))
    b = z - means[groups]  # the blind residual: what no function of p recovers
    wn = w / w.sum()
    total = float(wn @ np.sum((z - wn @ z) ** 2, axis=1))
    lookup_share = float(wn @ np.sum(b**2, axis=1)) / total if total > 0 else nan
    common = dict(applicable=True, dimension=dimension, horizon=L,
                  share=prediction_blind_share(eta, w, process, horizon=L).share,
                  lookup_share=lookup_share, distinguishable=bool(lookup_share > 1e-9),
                  belief_r2=_held_out_r2(X, z, w, train),
                  next_token_r2=_held_out_r2(p, z, w, train),
                  log_next_token_r2=_held_out_r2(log_p, z, w, train),
                  prediction_lookup_r2=_lookup_r2(z, w, groups, train), seed=seed)
    if not common["distinguishable"]:  # b is round-off: no score on it means anything
        return _defined(BlindControls(**common, blind_r2=nan, blind_shuffle_r2=nan,
                                      blind_log_next_token_r2=nan, geometric_shuffle_r2=nan))
    rng = np.random.default_rng(seed)
    # Each point gets the blind residual of a point drawn with probability proportional to its
    # weight (a plain permutation would move residuals between points of unequal weight and
    # change the weighted blind variance, which alone separates z from z').
    donor = rng.choice(N, size=N, p=wn)
    z_shuffled = z - b + b[donor]
    return _defined(BlindControls(
        **common,
        blind_r2=_held_out_r2(X, b, w, train),
        blind_shuffle_r2=_held_out_r2(X, b[rng.permutation(N)], w, train),
        blind_log_next_token_r2=_held_out_r2(log_p, b, w, train),
        geometric_shuffle_r2=_held_out_r2(X, z_shuffled, w, train),
    ))


__all__ = ["BlindControls", "blind_controls"]
