"""What the probe regresses onto, for every kind of process.

* The belief itself for a classical HMM (its ``S`` coordinates, the paper's protocol).
* For a generalized HMM, its belief-plane coordinates (``S - 1`` numbers,
  :func:`compmech.geometry.belief_plane_coordinates`): the beliefs are signed and live on the plane
  ``eta r = 1``, and these coordinates are an isometry of that plane.
* For a mixture, also the posterior over components and each component's own belief; for a product,
  each factor's belief (:func:`compmech.factor_beliefs`), each probed on its own
  (:func:`probe_factors`); for a product, the principal angles between the factors' probe subspaces
  say whether the network keeps them in orthogonal subspaces.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compmech.compose import factor_beliefs
from compmech.geometry import belief_plane_basis, belief_plane_coordinates
from compmech.hmm import GHMM, Process
from compmech.probing.crossval import cross_validated_probe
from compmech.probing.linear import BeliefProbe


def belief_targets(hmm: Process, beliefs: np.ndarray) -> np.ndarray:
    """``(..., S) -> (..., k)``: the probe's targets for beliefs of ``hmm`` (the beliefs for an HMM,
    the belief-plane coordinates for a GHMM)."""
    if isinstance(hmm, GHMM):
        return belief_plane_coordinates(beliefs, hmm.right_eigenvector)
    return np.asarray(beliefs, dtype=np.float64)


def beliefs_from_targets(hmm: Process, targets: np.ndarray) -> np.ndarray:
    """``(..., k) -> (..., S)``: the inverse of :func:`belief_targets` on the belief plane.

    For a GHMM, ``eta = c U^T + r / (r . r)`` (``U`` the plane basis of
    :func:`compmech.geometry.belief_plane_basis`, orthogonal to ``r``, so ``eta r = 1``); for an
    HMM the targets are the beliefs.

    Raises:
        ValueError: ``targets`` do not have the probe's ``k`` coordinates.
    """
    t = np.asarray(targets, dtype=np.float64)
    S = hmm.num_states
    if isinstance(hmm, GHMM):
        if t.shape[-1:] != (S - 1,):
            raise ValueError(f"GHMM targets must have shape (..., {S - 1}); got {t.shape}")
        r = np.asarray(hmm.right_eigenvector, dtype=np.float64)
        return t @ belief_plane_basis(r).T + r / (r @ r)
    if t.shape[-1:] != (S,):
        raise ValueError(f"HMM targets must have shape (..., {S}); got {t.shape}")
    return t


def target_description(hmm: Process) -> str:
    """How :func:`belief_targets` reads a belief, in words (for ``probe.json``)."""
    if isinstance(hmm, GHMM):
        return (f"belief-plane coordinates ({hmm.num_states - 1} numbers: an orthonormal basis of "
                "{v : v r = 0}, compmech.geometry.belief_plane_coordinates)")
    return f"belief ({hmm.num_states} probabilities)"


class FactorTarget(NamedTuple):
    """One extra probe target: ``values (N, P, k)`` and point ``weights (N, P)`` (zero where the
    target is undefined, e.g. the belief of a ruled-out component)."""

    values: np.ndarray
    weights: np.ndarray | None


def _factor_right_eigenvectors(hmm: Process) -> list[np.ndarray]:
    s = hmm.structure
    if s.kind == "product":
        return [np.asarray(r, dtype=np.float64) for r in s.right_eigenvectors]
    r = hmm.right_eigenvector
    return [r[b] for b in s.blocks()]


def factor_targets(hmm: Process, beliefs: np.ndarray,
                   weights: np.ndarray | None) -> dict[str, FactorTarget]:
    """The extra targets of a mixture (``component_posterior``, ``component_belief_<k>``) or a
    product (``factor_belief_<f>``); ``{}`` for other processes.

    Args:
        hmm: the process.
        beliefs: ``(N, P, S)`` joint beliefs at the probe's points.
        weights: ``(N, P)`` the probe's point weights (``None``: unweighted).
    """
    if hmm.structure is None:
        return {}
    split = factor_beliefs(hmm, beliefs)
    base = np.ones(beliefs.shape[:2]) if weights is None else weights
    out: dict[str, FactorTarget] = {}
    if split.component_posterior is not None:
        out["component_posterior"] = FactorTarget(split.component_posterior, weights)
    kind = "component" if hmm.structure.kind == "mixture" else "factor"
    for k, (part, r) in enumerate(zip(split.factor_beliefs, _factor_right_eigenvectors(hmm),
                                      strict=True)):
        defined = np.isfinite(part).all(-1)
        part = np.where(defined[..., None], part, 0.0)
        if not np.allclose(r, 1.0):  # a GHMM factor: its own plane coordinates
            part = belief_plane_coordinates(part, r)
        out[f"{kind}_belief_{k}"] = FactorTarget(
            part, None if defined.all() and weights is None else base * defined)
    return out


class FactorProbe(NamedTuple):
    """A target probed at one hook: scores and the fitted probe (for subspace angles)."""

    scores: dict[str, float]
    probe: BeliefProbe


def probe_factors(features, targets: dict[str, FactorTarget], folds: np.ndarray,
                  train_folds: int, seed: int = 0) -> dict[str, FactorProbe]:
    """Each extra target probed on ``features (N, P, d)`` with the run's split: held-out MSE and R^2,
    the shuffle control and the target's variance."""
    out = {}
    for name, target in targets.items():
        res = cross_validated_probe(features, target.values, folds, weights=target.weights,
                                    train_folds=train_folds, spread=False, shuffle=True,
                                    shuffle_seed=seed)
        out[name] = FactorProbe({"mse_test": res.scores.mse, "r2_test": res.scores.r2,
                                 "shuffle_mse": res.shuffle_scores.mse,
                                 "variance": res.belief_variance}, res.probe)
    return out


def _column_basis(m: np.ndarray, rank_tol: float) -> np.ndarray:
    """``(d, rank)`` orthonormal basis of the column space of ``m (d, k)`` (singular values above
    ``rank_tol`` times the largest)."""
    u, s, _ = np.linalg.svd(m, full_matrices=False)
    return u[:, s > rank_tol * s[0]]


def principal_angles_deg(a: np.ndarray, b: np.ndarray, rank_tol: float = 1e-6) -> list[float]:
    """Principal angles (degrees, ascending) between the column spaces of ``a (d, k_a)`` and
    ``b (d, k_b)``: the arccosines of the singular values of ``Q_a^T Q_b``."""
    cos = np.linalg.svd(_column_basis(np.asarray(a, np.float64), rank_tol).T
                        @ _column_basis(np.asarray(b, np.float64), rank_tol), compute_uv=False)
    return sorted(float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))) for c in cos)


def subspace_angles_deg(a: BeliefProbe, b: BeliefProbe, rank_tol: float = 1e-6) -> list[float]:
    """Principal angles (degrees, ascending) between the **decoder** row spaces of two probes.

    A probe ``y = x W^T + c`` reads ``x`` only through the row space of ``W``. This is not where a
    factor is stored: decoders also cancel whatever else shares their directions, so two factors
    held on orthogonal axes can have decoders at 60 degrees (Haufe et al. 2014). Use
    :func:`encoding_angles_deg` for the subspaces a network uses.
    """
    return principal_angles_deg(a.coef_.T, b.coef_.T, rank_tol)


def encoding_pattern(probe: BeliefProbe, features, weights=None) -> np.ndarray:
    """``(d, k)`` the probe's encoding (activation) pattern ``A = C W^T`` (Haufe et al. 2014).

    ``C`` is the (weighted) covariance of the activations, so ``A = Cov(x, y_hat)``: the
    directions along which the activations move with the decoded factor (for least squares on
    the same points, ``= Cov(x, y)``).

    Args:
        probe: a fitted probe with ``coef_ (k, d)``.
        features: ``(..., d)`` activations (flattened over the leading axes), or a callable
            ``idx -> (len(idx), P, d)`` with a ``.shape`` (:func:`compmech.probing.inputs.concatenated`).
        weights: optional point weights of shape ``features.shape[:-1]``.
    """
    if callable(features):
        features = features(np.arange(features.shape[0]))
    x = np.asarray(features, dtype=np.float64)
    x = x.reshape(-1, x.shape[-1])
    w = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    if w.shape != (len(x),) or not w.sum() > 0:
        raise ValueError(f"weights must have one non-negative entry per point ({len(x)})")
    w = w / w.sum()
    xc = x - w @ x
    cov = (xc * w[:, None]).T @ xc
    return cov @ np.asarray(probe.coef_, dtype=np.float64).T


def encoding_angles_deg(a: BeliefProbe, b: BeliefProbe, features, weights=None,
                        rank_tol: float = 1e-6) -> list[float]:
    """Principal angles (degrees, ascending) between the subspaces two factors are **stored** in:
    the column spaces of their encoding patterns :func:`encoding_pattern` on the same activations.
    90 degrees: the two factors move the activations along orthogonal directions."""
    return principal_angles_deg(encoding_pattern(a, features, weights),
                                encoding_pattern(b, features, weights), rank_tol)


__all__ = ["FactorProbe", "FactorTarget", "belief_targets", "beliefs_from_targets", "encoding_angles_deg",
           "encoding_pattern", "factor_targets", "principal_angles_deg", "probe_factors",
           "subspace_angles_deg", "target_description"]
