"""Belief interventions: does the network use the belief its probe decodes?

At a hook and a position ``t``, the activation ``x (d,)`` is moved by the smallest change that makes
the probe ``eta_hat(x) = W x + b`` (``W = coef_ (k, d)``) decode a target belief ``eta*``:

    Delta = W^+ (tau(eta*) - W x - b)          (W^+ the pseudo-inverse; the minimum-norm solution)

(``tau`` maps a belief to the probe's coordinates: the belief itself for an HMM, its ``S - 1``
belief-plane coordinates for a GHMM, :func:`compmech.probing.targets.belief_targets``), and the
rest of the network runs from ``x + Delta``. Beliefs ``eta`` and targets ``eta*`` are always
passed as beliefs ``(N, S)`` (never as probe coordinates) so that the theory's prediction is
``P(x | eta*) = eta* T[x] r = (eta* E)_x`` for every kind of process.

Three tests (the science reference, "Beyond the next token", "Mechanisms and interventions"):

* **Same position** (:func:`intervention_effects`): the network's next-token distribution ``q`` at
  ``t`` against ``P(. | eta*)``, by ``KL(P(. | eta*) || q)`` in bits.
* **Beyond the next token** (:func:`ahead_effects`): patch at ``t``, let the true token ``x_{t+1}``
  in, and compare the prediction at ``t + 1`` with ``P(x_{t+2} | update(eta*, x_{t+1}))``
  (``update(eta, x) = eta T[x] / (eta T[x] r)``). ``eta*`` must give ``x_{t+1}`` a probability above
  :data:`MIN_NEXT_PROBABILITY`. For Mess3 and tom_quantum the belief is a linear function of the
  next-token distribution, so this test, like the first, cannot tell "uses a belief" from "encodes
  its own prediction"; it tests whether the intervened state is carried into the next position's
  computation.
* **Prediction-blind steering** (:func:`blind_effects`): on a process with a prediction-blind
  subspace (``v r = 0``, ``v E = 0``: RRXOR, Z1R, fanizza, mixtures), move the decoded belief only
  along it, ``Delta = W^+ (tau(eta*) - tau(eta))`` with ``eta* - eta`` blind. The current prediction
  must not move (``P(. | eta*) = P(. | eta)``); a network that carries its belief forward changes its
  *later* prediction, towards ``P(x_{t+2} | update(eta*, x_{t+1}))``.

A recurrent network carries its state forward, so a patch at ``t`` reaches ``t + 1`` directly. A
transformer recomputes each position from the tokens: a patch at ``t`` reaches ``t + 1`` only
through later layers' attention, so a patch at (or after) the last block's output cannot reach it
at all, and a null beyond-next-token effect in a transformer does **not** mean that the belief is
unused (the next position may recompute its own belief from the tokens).

Conditions of the same-position and beyond tests (:data:`CONDITIONS`; KL against the theory under
``eta*``, and the total variation ``TV(q_c, q_none)`` each causes):

* ``none``: no change (how far the target's prediction is from the input's);
* ``intervened``: ``Delta`` above;
* ``random``: a change of the same norm ``|Delta|`` in a uniformly random direction (a floor: it aims
  at nothing);
* ``null_space``: a change of the same norm in a random direction of the probe's null space
  (``W v = 0``). If the output depends only on the probe's belief, it does not move: read its TV
  against the ``intervened`` and ``random`` TVs, and its KL against ``none`` (a null-space KL
  *above* ``none`` means the output moved, i.e. it is **not** invariant);
* ``intervened_cov``, ``random_cov``, ``null_space_cov``: the same in the activations' own metric
  (below; NaN without a covariance);
* ``ceiling``: the activation of a donor input whose belief is ``eta*`` patched in
  (``Delta = x_donor - x``): what a perfect edit of the whole activation can reach;
* ``same_belief``: the activation of a donor with (nearly) the same belief as the input: nothing
  should change (its TV from ``none`` should be near 0; its KL near ``none``'s);
* ``shuffled_probe``: the minimum-norm change that makes a probe fitted to shuffled targets decode
  ``eta*``, rescaled to ``|Delta|``: the same-size move along directions chosen by a probe of
  nothing.

The Euclidean minimum-norm change favours directions in which the activations hardly vary (an OLS
probe's coefficients are largest there), which the network may well ignore. So the same test is also
run in the activations' own metric (``*_cov`` conditions, when a covariance ``C`` is given): the
change minimising ``Delta^T C^+ Delta`` subject to decoding ``eta*``,

    Delta_cov = C W^T (W C W^T)^+ (tau(eta*) - W x - b),

against a random change of the same Euclidean norm drawn along the activations' spread
(direction ``C^(1/2) z``, ``z`` standard normal) and the same drawn within the probe's null space
(``C^(1/2) z`` projected onto ``{v : W v = 0}``).

**The probe in its minimum-norm form.** Where the activations do not vary (the span of the
centred activations is smaller than ``R^d``: the embedding of 3 tokens and 10 positions spans 12
of 64 dimensions; a LayerNorm output satisfies one linear constraint), a least-squares probe's
coefficients are not determined by the data, and :class:`compmech.probing.linear.BeliefProbe` solves a
Jacobi-scaled system whose solution has components there. Those components change no prediction
on the data but would steer ``Delta`` into directions the activations never take. So when the
activations' mean ``mu`` and covariance ``C`` are given, the probe is first reduced to its
minimum-norm form ``W' = W Pi``, ``b' = b + W (I - Pi) mu`` (``Pi`` the projector onto the span of
``C``; every prediction on the data is unchanged) (:func:`~compmech.mechanisms.directions.reduce_probe`).

``W^+`` keeps the singular values above ``RTOL`` times the largest: beliefs sum to 1, so an OLS
probe's rows sum to (rounding-level) zero and ``W`` has rank ``S - 1``; the target residual
is then orthogonal to the dropped direction up to rounding. When the probe's rank is smaller than
needed (a width-1 bottleneck), ``Delta`` is the least-squares change and the decoded belief misses
``eta*`` (reported as ``decode_error``).

The pairs, the model read-outs and the reports are in :mod:`compmech.mechanisms.intervention_runs`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from compmech.hmm import Process
from compmech.mechanisms.directions import (
    RTOL,
    covariance_change,
    kl_divergence_bits,
    minimum_norm_change,
    null_space_basis,
    null_space_directions,
    random_directions,
    reduce_probe,
    spread_directions,
)
from compmech.probing.linear import BeliefProbe
from compmech.records import Record

MIN_NEXT_PROBABILITY = 1e-9
#: The conditions compared, in table order (``*_cov``: in the activations' metric; NaN without a
#: covariance; ``ceiling``, ``same_belief``, ``shuffled_probe``: NaN when their donors or probe are
#: not given).
CONDITIONS = ("none", "intervened", "random", "null_space", "intervened_cov", "random_cov",
              "null_space_cov", "ceiling", "same_belief", "shuffled_probe")
#: The conditions of the prediction-blind steering.
BLIND_CONDITIONS = ("none", "blind", "random", "blind_cov", "random_cov")


# ------------------------------------------------------------------------------- options and inputs
@dataclass(frozen=True, kw_only=True)
class InterventionConfig(Record):
    """The options of the intervention tests (:func:`intervention_effects`,
    :func:`ahead_effects`, :func:`blind_effects`, :func:`condition_changes`).

    Attributes:
        seed: seed of the control directions (``random``: ``seed``; ``null_space``: ``seed + 1``;
            ``random_cov``: ``seed + 2``; ``null_space_cov``: ``seed + 3``); an integer >= 0.
        rtol: the cut-off of the probe's pseudo-inverse, null space and rank: singular values at
            or below ``rtol`` times the largest are dropped (:data:`~compmech.mechanisms.directions.RTOL`);
            ``0 <= rtol < 1``.
    """

    seed: int = 0
    rtol: float = RTOL

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0; got {self.seed!r}")
        if not (isinstance(self.rtol, (int, float)) and math.isfinite(self.rtol)
                and 0 <= self.rtol < 1):
            raise ValueError(f"rtol must be a number in [0, 1); got {self.rtol!r}")


class ActivationMoments(NamedTuple):
    """The activations' moments over all the probe's points: given, the probe is reduced to its
    minimum-norm form (:func:`~compmech.mechanisms.directions.reduce_probe`) and the ``*_cov``
    conditions are run.

    Attributes:
        mean: ``(d,)`` ``mu``.
        covariance: ``(d, d)`` ``C``.
    """

    mean: np.ndarray
    covariance: np.ndarray


@dataclass(frozen=True)
class InterventionInputs:
    """``N`` (input, target) pairs at one hook and position ``t``: what the tests intervene on.

    Attributes:
        features: ``(N, d)`` activations ``x`` at the hook and ``t``.
        beliefs: ``(N, S)`` the inputs' true beliefs ``eta`` (beliefs, also for a GHMM).
        targets: ``(N, S)`` target beliefs ``eta*`` (beliefs, never probe coordinates).
        next_tokens: ``(N,)`` the true ``x_{t+1}`` (needed by :func:`ahead_effects` and
            :func:`blind_effects`), or ``None``.
        ceiling_features: ``(N, d)`` activations of donors whose belief is ``eta*`` (the
            ``ceiling`` condition), or ``None``.
        swap_features: ``(N, d)`` activations of donors with (nearly) the input's belief (the
            ``same_belief`` condition), or ``None``.
    """

    features: np.ndarray
    beliefs: np.ndarray
    targets: np.ndarray
    next_tokens: np.ndarray | None = None
    ceiling_features: np.ndarray | None = None
    swap_features: np.ndarray | None = None

    def checked_next_tokens(self) -> np.ndarray:
        """``next_tokens``.

        Raises:
            ValueError: they were not given.
        """
        if self.next_tokens is None:
            raise ValueError("this test reads the prediction at t + 1: give the inputs' "
                             "next_tokens")
        return self.next_tokens


def _probe_arrays(probe: BeliefProbe) -> tuple[np.ndarray, np.ndarray]:
    """``(coef_, intercept_)`` of a fitted probe as float64."""
    if not hasattr(probe, "coef_"):
        raise ValueError("the probe is not fitted: fit it, or build it with "
                         "BeliefProbe.from_coefficients(coef, intercept)")
    return (np.asarray(probe.coef_, dtype=np.float64),
            np.asarray(probe.intercept_, dtype=np.float64))


# ------------------------------------------------------------------------------- the theory
def belief_update(process: Process, beliefs, tokens) -> tuple[np.ndarray, np.ndarray]:
    """``update(eta, x) = eta T[x] / (eta T[x] r)`` row by row.

    Args:
        process: an HMM or GHMM.
        beliefs: ``(N, S)`` beliefs.
        tokens: ``(N,)`` tokens.

    Returns:
        ``(updated (N, S), P(x | eta) (N,))``; rows with ``P(x | eta) <= MIN_NEXT_PROBABILITY`` are
        NaN.
    """
    T = np.asarray(process.transition_matrices, dtype=np.float64)
    b = _check_beliefs(T.shape[1], beliefs, "beliefs")
    tokens = np.asarray(tokens)
    if tokens.shape != (b.shape[0],):
        raise ValueError(f"tokens must have shape ({b.shape[0]},); got {tokens.shape}")
    new = np.einsum("ns,nst->nt", b, T[tokens])
    prob = new @ np.asarray(process.right_eigenvector, dtype=np.float64)
    ok = prob > MIN_NEXT_PROBABILITY
    return np.where(ok[:, None], new / np.where(ok, prob, 1.0)[:, None], np.nan), prob


def _check_beliefs(S: int, beliefs, name: str) -> np.ndarray:
    b = np.asarray(beliefs, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != S:
        raise ValueError(f"{name} must be (N, {S}) beliefs of the process (not probe coordinates; "
                         f"map a GHMM's plane coordinates back with beliefs_from_targets); got "
                         f"shape {b.shape}")
    return b


# ------------------------------------------------------------------------------- the changes
@dataclass
class Changes:
    """The change of every condition and the probe they were computed with.

    Attributes:
        deltas: ``{condition: (N, d)}`` (conditions without their inputs are absent).
        coef, intercept: the probe actually used (reduced to its minimum-norm form when the
            activations' moments were given).
        norms: ``(N,)`` ``|Delta|``; ``cov_norms``: ``(N,)`` ``|Delta_cov|`` (NaN without a
            covariance).
    """

    deltas: dict[str, np.ndarray]
    coef: np.ndarray
    intercept: np.ndarray
    norms: np.ndarray
    cov_norms: np.ndarray


def condition_changes(inputs: InterventionInputs, probe: BeliefProbe, target_coords,
                      config: InterventionConfig | None = None, *,
                      moments: ActivationMoments | None = None,
                      shuffled_probe: BeliefProbe | None = None) -> Changes:
    """The change of each condition of :data:`CONDITIONS` (module docstring).

    Args:
        inputs: the pairs (their ``features``, and the ``ceiling_features`` / ``swap_features``
            donors where given; ``beliefs`` and ``targets`` are not read here).
        probe: the fitted probe ``W x + b`` (``coef_ (k, d)``, ``intercept_ (k,)``).
        target_coords: ``(N, k)`` ``tau(eta*)``, the targets in the probe's coordinates.
        config: the options (:class:`InterventionConfig`; default: its defaults).
        moments: the activations' moments; given, the probe is reduced to its minimum-norm form
            and the ``*_cov`` conditions are added.
        shuffled_probe: a probe fitted to shuffled targets (the ``shuffled_probe`` condition).
    """
    config = config or InterventionConfig()
    seed, rtol = config.seed, config.rtol
    x = np.asarray(inputs.features, dtype=np.float64)
    n, d = x.shape
    coef, intercept = _probe_arrays(probe)
    target_coords = np.asarray(target_coords, dtype=np.float64)
    if target_coords.shape != (n, coef.shape[0]):
        raise ValueError(f"target coordinates must be ({n}, {coef.shape[0]}) (the probe's "
                         f"coordinates); got {target_coords.shape}")
    if moments is not None:
        coef, intercept = reduce_probe(coef, intercept, *moments, rtol)
    delta = minimum_norm_change(coef, intercept, x, target_coords, rtol)
    norms = np.linalg.norm(delta, axis=1)
    deltas = {"none": np.zeros_like(delta), "intervened": delta,
              "random": norms[:, None] * random_directions(n, d, seed)}
    null_dirs = null_space_directions(coef, n, seed + 1, rtol)
    if null_dirs is not None:
        deltas["null_space"] = norms[:, None] * null_dirs
    cov_norms = np.full(n, np.nan)
    if moments is not None:
        covariance = moments.covariance
        cov_delta = covariance_change(coef, intercept, x, target_coords, covariance, rtol)
        cov_norms = np.linalg.norm(cov_delta, axis=1)
        deltas["intervened_cov"] = cov_delta
        deltas["random_cov"] = cov_norms[:, None] * spread_directions(covariance, n, seed + 2)
        null = null_space_basis(coef, rtol)
        if null.shape[0]:
            deltas["null_space_cov"] = cov_norms[:, None] * spread_directions(covariance, n,
                                                                              seed + 3, null)
    for name, donor in (("ceiling", inputs.ceiling_features),
                        ("same_belief", inputs.swap_features)):
        if donor is not None:
            donor = np.asarray(donor, dtype=np.float64)
            if donor.shape != x.shape:
                raise ValueError(f"{name} donors must be {x.shape}; got {donor.shape}")
            deltas[name] = donor - x
    if shuffled_probe is not None:
        s_coef, s_intercept = _probe_arrays(shuffled_probe)
        if moments is not None:
            s_coef, s_intercept = reduce_probe(s_coef, s_intercept, *moments, rtol)
        s_delta = minimum_norm_change(s_coef, s_intercept, x, target_coords, rtol)
        s_norm = np.linalg.norm(s_delta, axis=1, keepdims=True)
        deltas["shuffled_probe"] = np.divide(s_delta * norms[:, None], s_norm,
                                             out=np.zeros_like(s_delta), where=s_norm > 0)
    return Changes(deltas, coef, intercept, norms, cov_norms)


# ------------------------------------------------------------------------------- the effects
@dataclass
class InterventionEffects:
    """Per pair: the KL of each condition and the controls' bookkeeping.

    Attributes:
        kl_bits: ``{condition: (N,)}`` ``KL(theory under eta* || q_condition)`` for
            :data:`CONDITIONS` (NaN where a condition was not run, e.g. ``null_space`` when the
            null space is ``{0}``).
        tv_from_none: ``{condition: (N,)}`` total variation ``TV(q_condition, q_none)``: how far
            each change moves the output (``null_space`` near 0 when the output depends only on
            the probe's belief; ``same_belief`` near 0 when it depends only on the belief).
        own_kl_bits: ``(N,)`` ``KL(theory under eta || q_none)``: the model's error at its input's
            own belief (the floor an intervention can reach).
        norms: ``(N,)`` ``|Delta|``.
        cov_norms: ``(N,)`` ``|Delta_cov|`` (NaN without a covariance).
        decode_error: ``(N,)`` ``max |W (x + Delta) + b - tau(eta*)|`` (the larger of ``Delta`` and
            ``Delta_cov``).
        null_output_change: ``(N,)`` ``tv_from_none["null_space"]``.
        random_output_change: ``(N,)`` ``tv_from_none["random"]``.
        predicted: ``(N, V)`` the theory under ``eta*`` (``P(. | eta*)``, or for the beyond test
            ``P(. | update(eta*, x_{t+1}))``).
        probs: ``{condition: (N, V')}`` the model's distributions at the read position.
    """

    kl_bits: dict[str, np.ndarray]
    tv_from_none: dict[str, np.ndarray]
    own_kl_bits: np.ndarray
    norms: np.ndarray
    cov_norms: np.ndarray
    decode_error: np.ndarray
    null_output_change: np.ndarray
    random_output_change: np.ndarray
    predicted: np.ndarray
    probs: dict[str, np.ndarray]


def total_variation(p, q) -> np.ndarray:
    """``(N,)`` ``0.5 sum_x |p(x) - q(x)|`` of ``(N, V)`` rows."""
    return 0.5 * np.abs(np.asarray(p, dtype=np.float64) - np.asarray(q, dtype=np.float64)).sum(1)


def _effects(changes: Changes, features, target_coords, readout, predicted,
             own_predicted) -> InterventionEffects:
    n = changes.norms.size
    probs = {c: np.asarray(readout(v), dtype=np.float64) for c, v in changes.deltas.items()}
    nan = np.full(n, np.nan)
    kl = {c: kl_divergence_bits(predicted, probs[c]) if c in probs else nan for c in CONDITIONS}
    tv = {c: total_variation(probs[c], probs["none"]) if c in probs else nan for c in CONDITIONS}
    x = np.asarray(features, dtype=np.float64)
    decode_error = np.max([
        np.abs((x + changes.deltas[c]) @ changes.coef.T + changes.intercept - target_coords).max(1)
        for c in ("intervened", "intervened_cov") if c in changes.deltas], axis=0)
    return InterventionEffects(
        kl_bits=kl, tv_from_none=tv, own_kl_bits=kl_divergence_bits(own_predicted, probs["none"]),
        norms=changes.norms, cov_norms=changes.cov_norms, decode_error=decode_error,
        null_output_change=tv["null_space"], random_output_change=tv["random"],
        predicted=predicted, probs=probs)


def _identity(beliefs: np.ndarray) -> np.ndarray:
    return beliefs


def intervention_effects(inputs: InterventionInputs, probe: BeliefProbe, emission,
                         readout: Callable[[np.ndarray], np.ndarray],
                         config: InterventionConfig | None = None, *,
                         moments: ActivationMoments | None = None,
                         to_probe: Callable[[np.ndarray], np.ndarray] | None = None,
                         shuffled_probe: BeliefProbe | None = None) -> InterventionEffects:
    """The same-position test: intervene on ``N`` activations and compare the read-out at the same
    position with ``P(. | eta*)`` (module docstring).

    Args:
        inputs: the pairs at the hook and position (:class:`InterventionInputs`; the donors, where
            given, add the ``ceiling`` and ``same_belief`` conditions).
        probe: the fitted probe ``W x + b`` (``coef_ (k, d)``, ``intercept_ (k,)``).
        emission: ``(S, V)`` ``E[i, x] = (T[x] r)_i`` (``hmm.emission_probabilities``), so that
            ``P(. | eta) = eta E``.
        readout: ``(N, d)`` changes -> ``(N, V')`` the network's next-token distributions when
            each activation is moved by its change and the rest of the network runs.
        config: the options (:class:`InterventionConfig`; default: its defaults).
        moments: the activations' moments over all the probe's points
            (:class:`ActivationMoments`); given, the probe is reduced to its minimum-norm form
            (:func:`~compmech.mechanisms.directions.reduce_probe`) and the ``*_cov`` conditions are
            run; ``None``: the probe is used as given and the ``*_cov`` conditions are NaN.
        to_probe: ``(N, S) -> (N, k)`` beliefs to the probe's coordinates (default: identity, the
            probe of an HMM's beliefs; a GHMM's: :func:`~compmech.probing.targets.belief_targets`).
        shuffled_probe: a probe fitted to shuffled targets (the ``shuffled_probe`` condition).

    Returns:
        :class:`InterventionEffects`.

    Raises:
        ValueError: ``beliefs`` or ``targets`` are not ``(N, S)`` beliefs.
    """
    emission = np.asarray(emission, dtype=np.float64)
    S = emission.shape[0]
    beliefs = _check_beliefs(S, inputs.beliefs, "beliefs")
    targets = _check_beliefs(S, inputs.targets, "targets")
    coords = (to_probe or _identity)(targets)
    changes = condition_changes(inputs, probe, coords, config, moments=moments,
                                shuffled_probe=shuffled_probe)
    return _effects(changes, inputs.features, coords, readout, targets @ emission,
                    beliefs @ emission)


def ahead_effects(inputs: InterventionInputs, probe: BeliefProbe, process: Process,
                  readout: Callable[[np.ndarray], np.ndarray],
                  config: InterventionConfig | None = None, *,
                  moments: ActivationMoments | None = None,
                  to_probe: Callable[[np.ndarray], np.ndarray] | None = None,
                  shuffled_probe: BeliefProbe | None = None) -> InterventionEffects:
    """The beyond-next-token test: intervene at ``t``, read the prediction at ``t + 1`` (after the
    true token ``x_{t+1}``), and compare it with ``P(. | update(eta*, x_{t+1}))``.

    Args:
        inputs: as :func:`intervention_effects` (at ``t``), with ``next_tokens`` the true
            ``x_{t+1}``; every target must give it probability above
            :data:`MIN_NEXT_PROBABILITY`.
        probe: as :func:`intervention_effects`.
        process: the process (its ``T`` and ``r``).
        readout: ``(N, d)`` changes at ``t`` -> ``(N, V')`` the distributions at ``t + 1``.
        config: as :func:`intervention_effects`.
        moments: as :func:`intervention_effects`.
        to_probe: as :func:`intervention_effects`.
        shuffled_probe: as :func:`intervention_effects`.

    Returns:
        :class:`InterventionEffects` whose ``kl_bits`` compare with the updated targets' predictions
        and ``own_kl_bits`` with ``P(. | update(eta, x_{t+1}))``.

    Raises:
        ValueError: a target gives ``x_{t+1}`` (near-)zero probability, ``next_tokens`` is
            missing, or the shapes are wrong.
    """
    next_tokens = inputs.checked_next_tokens()
    updated_star, prob = belief_update(process, inputs.targets, next_tokens)
    if not (prob > MIN_NEXT_PROBABILITY).all():
        raise ValueError(f"{int((prob <= MIN_NEXT_PROBABILITY).sum())} targets give their next "
                         "token no probability; draw eta* among beliefs that allow it")
    updated_own, own_prob = belief_update(process, inputs.beliefs, next_tokens)
    if not (own_prob > MIN_NEXT_PROBABILITY).all():
        raise ValueError("an input's own belief gives its next token no probability")
    E = process.emission_probabilities
    coords = (to_probe or _identity)(_check_beliefs(E.shape[0], inputs.targets, "targets"))
    changes = condition_changes(inputs, probe, coords, config, moments=moments,
                                shuffled_probe=shuffled_probe)
    return _effects(changes, inputs.features, coords, readout, updated_star @ E, updated_own @ E)


# ------------------------------------------------------------------------------- blind steering
@dataclass
class BlindEffects:
    """Per pair: steering along the prediction-blind subspace (:data:`BLIND_CONDITIONS`).

    Attributes:
        tv_now: ``{condition: (N,)}`` ``TV(q_t, q_t none)``: the current prediction's change
            (should stay near 0 for ``blind``; ``random`` of the same norm is the scale).
        tv_later: ``{condition: (N,)}`` ``TV(q_{t+1}, q_{t+1} none)``: the later prediction's change.
        theory_tv_later: ``(N,)`` ``TV(P(. | update(eta*, x)), P(. | update(eta, x)))``: how far a
            network that carries its belief forward should move it.
        kl_later: ``{condition: (N,)}`` ``KL(P(. | update(eta*, x)) || q_{t+1})``.
        kl_later_own: ``{condition: (N,)}`` ``KL(P(. | update(eta, x)) || q_{t+1})``.
        theory_tv_now: ``(N,)`` ``TV(P(. | eta*), P(. | eta))`` (0 up to rounding: a check).
        norms: ``(N,)`` ``|Delta|`` of ``blind``; ``decode_error``: ``(N,)``
            ``max |W Delta - (tau(eta*) - tau(eta))|``.
    """

    tv_now: dict[str, np.ndarray]
    tv_later: dict[str, np.ndarray]
    theory_tv_later: np.ndarray
    kl_later: dict[str, np.ndarray]
    kl_later_own: dict[str, np.ndarray]
    theory_tv_now: np.ndarray
    norms: np.ndarray
    decode_error: np.ndarray


def blind_effects(inputs: InterventionInputs, probe: BeliefProbe, process: Process,
                  readout: Callable[[np.ndarray], np.ndarray],
                  config: InterventionConfig | None = None, *,
                  moments: ActivationMoments | None = None,
                  to_probe: Callable[[np.ndarray], np.ndarray] | None = None) -> BlindEffects:
    """Steer the decoded belief along the prediction-blind subspace only (module docstring).

    Args:
        inputs: the pairs at ``t`` (:class:`InterventionInputs`): ``targets`` ``eta*`` with
            ``eta* - eta`` blind (:func:`compmech.mechanisms.intervention_runs.sample_blind_pairs`)
            and ``next_tokens`` the true ``x_{t+1}`` (the donors are not used).
        probe: the fitted probe ``W x + b``.
        process: the process.
        readout: ``(N, d)`` changes at ``t`` -> ``(N, 2, V')`` the distributions at ``t`` and
            ``t + 1``.
        config: the options (:class:`InterventionConfig`; ``seed``: the random directions).
        moments: the activations' moments (given: reduce the probe; add the ``*_cov``
            conditions).
        to_probe: beliefs to the probe's coordinates (linear on the plane: the displacement's
            coordinates are ``to_probe(eta*) - to_probe(eta)``).
    """
    config = config or InterventionConfig()
    seed, rtol = config.seed, config.rtol
    next_tokens = inputs.checked_next_tokens()
    x = np.asarray(inputs.features, dtype=np.float64)
    n, d = x.shape
    E = process.emission_probabilities
    beliefs = _check_beliefs(E.shape[0], inputs.beliefs, "beliefs")
    targets = _check_beliefs(E.shape[0], inputs.targets, "targets")
    tau = to_probe or _identity
    shift = tau(targets) - tau(beliefs)
    coef, intercept = _probe_arrays(probe)
    if moments is not None:
        coef, intercept = reduce_probe(coef, intercept, *moments, rtol)
    zero = np.zeros_like(x)
    delta = minimum_norm_change(coef, np.zeros(coef.shape[0]), zero, shift, rtol)
    norms = np.linalg.norm(delta, axis=1)
    deltas = {"none": zero, "blind": delta,
              "random": norms[:, None] * random_directions(n, d, seed)}
    if moments is not None:
        covariance = moments.covariance
        cov_delta = covariance_change(coef, np.zeros(coef.shape[0]), zero, shift, covariance, rtol)
        deltas["blind_cov"] = cov_delta
        deltas["random_cov"] = (np.linalg.norm(cov_delta, axis=1, keepdims=True)
                                * spread_directions(covariance, n, seed + 2))
    probs = {c: np.asarray(readout(v), dtype=np.float64) for c, v in deltas.items()}
    later_star = belief_update(process, targets, next_tokens)[0] @ E
    later_own = belief_update(process, beliefs, next_tokens)[0] @ E
    nan = np.full(n, np.nan)

    def per(fn):
        return {c: fn(probs[c]) if c in probs else nan for c in BLIND_CONDITIONS}

    return BlindEffects(
        tv_now=per(lambda p: total_variation(p[:, 0], probs["none"][:, 0])),
        tv_later=per(lambda p: total_variation(p[:, 1], probs["none"][:, 1])),
        theory_tv_later=total_variation(later_star, later_own),
        kl_later=per(lambda p: kl_divergence_bits(later_star, p[:, 1])),
        kl_later_own=per(lambda p: kl_divergence_bits(later_own, p[:, 1])),
        theory_tv_now=total_variation(targets @ E, beliefs @ E),
        norms=norms, decode_error=np.abs(delta @ coef.T - shift).max(axis=1))


__all__ = [
    "BLIND_CONDITIONS",
    "ActivationMoments",
    "BlindEffects",
    "CONDITIONS",
    "Changes",
    "InterventionConfig",
    "InterventionEffects",
    "InterventionInputs",
    "MIN_NEXT_PROBABILITY",
    "ahead_effects",
    "belief_update",
    "blind_effects",
    "condition_changes",
    "intervention_effects",
    "total_variation",
]
