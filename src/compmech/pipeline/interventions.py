"""Belief interventions: does the network use the belief its probe decodes?

At a hook and a position, the activation ``x (d,)`` is moved by the smallest change that makes the
probe ``eta_hat(x) = W x + b`` (``W = coef_ (S, d)``) decode a target belief ``eta*``:

    Delta = W^+ (eta* - W x - b)          (W^+ the pseudo-inverse; the minimum-norm solution)

and the rest of the network runs from ``x + Delta`` (:func:`transformer.run_with_patches`). Its
next-token distribution ``q`` is compared with the theory's ``P(x | eta*) = eta* T[x] r``
(``eta* @ hmm.emission_probabilities``) by ``KL(P(. | eta*) || q)`` in bits, against three
controls:

* ``none``: no change (how far the target's prediction is from the input's);
* ``random``: a change of the same norm ``|Delta|`` in a uniformly random direction;
* ``null_space``: a change of the same norm in a uniformly random direction of the probe's null
  space (``W v = 0``: invisible to the probe).

A network that uses the decoded belief moves its prediction to ``P(. | eta*)`` under the
intervention (KL near the model's own error ``KL(P(. | eta) || q_0)``), not under the random change,
and not at all under the null-space change; a network that merely contains the belief does not.

The Euclidean minimum-norm change favours directions in which the activations hardly vary (an OLS
probe's coefficients are largest there), which the network may well ignore. So the same test is also
run in the activations' own metric (``*_cov`` conditions, when a covariance ``C`` is given): the
change minimising ``Delta^T C^+ Delta`` subject to decoding ``eta*``,

    Delta_cov = C W^T (W C W^T)^+ (eta* - W x - b),

against a random change of the same Euclidean norm drawn along the activations' spread
(direction ``C^(1/2) z``, ``z`` standard normal) and the same drawn within the probe's null space
(``C^(1/2) z`` projected onto ``{v : W v = 0}``).

**The probe in its minimum-norm form.** Where the activations do not vary (the span of the
centred activations is smaller than ``R^d``: the embedding of 3 tokens and 10 positions spans 12
of 64 dimensions; a LayerNorm output satisfies one linear constraint), a least-squares probe's
coefficients are not determined by the data, and :class:`compmech.probe.BeliefProbe` solves a
Jacobi-scaled system whose solution has components there. Those components change no prediction
on the data but would steer ``Delta`` into directions the activations never take. So when the
activations' mean ``mu`` and covariance ``C`` are given, the probe is first reduced to its
minimum-norm form ``W' = W Pi``, ``b' = b + W (I - Pi) mu`` (``Pi`` the projector onto the span of
``C``; every prediction on the data is unchanged) (:func:`reduce_probe`).

``W^+`` keeps the singular values above ``RTOL`` times the largest: beliefs sum to 1, so an OLS
probe's rows sum to (rounding-level) zero and ``W`` has rank ``S - 1``; the target residual
``eta* - W x - b`` is then orthogonal to the dropped direction up to rounding. When the probe's
rank is smaller than needed (a width-1 bottleneck), ``Delta`` is the least-squares change and the
decoded belief misses ``eta*`` (reported as ``decode_error``).

**Pairs** (:func:`sample_pairs`): inputs are held-out (test-fold) sequences of the probe's data
drawn with their word probability (uniformly when the data are already sampled), at a uniform
process position; targets are the beliefs at independent draws of the same kind (beliefs the
mixed-state presentation reaches within ``n_ctx`` tokens), redrawn until they differ from the
input's belief. The same pairs serve every hook.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from compmech.inference import log_probability
from compmech.pipeline.probing import (
    MIN_POINTS_PER_COEFFICIENT,
    SPLITS,
    ProbeData,
    collect,
    probe_data,
)
from compmech.pipeline.records import Record
from compmech.probe import DEFAULT_FOLDS, BeliefProbe, cross_validated_probe
from transformer import Run, patch_hooks, run_with_patches
from transformer.activations import batched_map

#: Relative singular-value cut-off of the probe's pseudo-inverse and null space.
RTOL = 1e-8
#: Default number of (input, target) pairs.
DEFAULT_PAIRS = 2000
#: Sequences per compiled patched forward call.
PATCH_BATCH = 256
#: Probabilities are floored here inside the KL (a model never gives exactly 0 after softmax in
#: float32 unless it underflows; the floor keeps such a token finite).
PROB_FLOOR = 1e-30
#: The conditions compared, in table order (``*_cov``: in the activations' metric; NaN without a
#: covariance).
CONDITIONS = ("none", "intervened", "random", "null_space", "intervened_cov", "random_cov",
              "null_space_cov")


# ------------------------------------------------------------------------------- linear algebra
def _svd(coef: np.ndarray, rtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    coef = np.asarray(coef, dtype=np.float64)
    if coef.ndim != 2:
        raise ValueError(f"coef must be (S, d); got shape {coef.shape}")
    u, s, vt = np.linalg.svd(coef, full_matrices=True)
    rank = int((s > rtol * s.max()).sum()) if s.size and s.max() > 0 else 0
    return u, s, vt, rank


def minimum_norm_change(coef, intercept, x, target, rtol: float = RTOL) -> np.ndarray:
    """``Delta = W^+ (eta* - W x - b)``: the smallest change of ``x`` making ``W x + b = eta*``.

    Args:
        coef: ``W (S, d)``.
        intercept: ``b (S,)``.
        x: ``(N, d)`` activations.
        target: ``(N, S)`` target beliefs ``eta*``.
        rtol: singular values below ``rtol`` times the largest are dropped.

    Returns:
        ``(N, d)`` float64 changes (least squares when ``eta*`` is out of reach).
    """
    u, s, vt, rank = _svd(coef, rtol)
    x = np.asarray(x, dtype=np.float64)
    residual = np.asarray(target, dtype=np.float64) - (x @ np.asarray(coef).T + intercept)
    coords = (residual @ u[:, :rank]) / s[:rank]  # (N, rank)
    return coords @ vt[:rank]


def null_space_basis(coef, rtol: float = RTOL) -> np.ndarray:
    """``(d - rank, d)`` orthonormal rows spanning ``{v : W v = 0}``."""
    _, _, vt, rank = _svd(coef, rtol)
    return vt[rank:]


def random_directions(n: int, d: int, seed: int) -> np.ndarray:
    """``(n, d)`` unit vectors, uniform on the sphere (seeded)."""
    v = np.random.default_rng(seed).normal(size=(n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def null_space_directions(coef, n: int, seed: int, rtol: float = RTOL) -> np.ndarray | None:
    """``(n, d)`` unit vectors uniform on the unit sphere of the probe's null space, or ``None``
    when the null space is ``{0}``."""
    basis = null_space_basis(coef, rtol)
    if basis.shape[0] == 0:
        return None
    return random_directions(n, basis.shape[0], seed) @ basis


def span_projector(covariance, rtol: float = RTOL) -> np.ndarray:
    """``(d, d)`` orthogonal projector onto the eigenvectors of ``C`` whose eigenvalues exceed
    ``rtol`` times the largest (the span of the centred activations)."""
    vals, vecs = np.linalg.eigh(np.asarray(covariance, dtype=np.float64))
    keep = vecs[:, vals > rtol * max(vals[-1], 0.0)]
    return keep @ keep.T


def reduce_probe(coef, intercept, mean, covariance,
                 rtol: float = RTOL) -> tuple[np.ndarray, np.ndarray]:
    """The probe in its minimum-norm form on the activations' span (module docstring):
    ``W' = W Pi``, ``b' = b + W (I - Pi) mu``; ``W' x + b' = W x + b`` for every ``x`` in
    ``mu + span(C)``.

    Returns:
        ``(coef' (S, d), intercept' (S,))``.
    """
    coef = np.asarray(coef, dtype=np.float64)
    proj = span_projector(covariance, rtol)
    off_span = coef - coef @ proj
    return coef @ proj, np.asarray(intercept, dtype=np.float64) + off_span @ np.asarray(mean)


def covariance_change(coef, intercept, x, target, covariance, rtol: float = RTOL) -> np.ndarray:
    """``Delta_cov = C W^T (W C W^T)^+ (eta* - W x - b)``: the change of least ``Delta^T C^+ Delta``
    (the activations' own metric) that makes the probe decode ``eta*``.

    Args:
        coef, intercept, x, target: as :func:`minimum_norm_change`.
        covariance: ``C (d, d)`` covariance of the activations.
        rtol: cut-off of the pseudo-inverse of ``W C W^T``.

    Returns:
        ``(N, d)`` float64.
    """
    coef = np.asarray(coef, dtype=np.float64)
    c = np.asarray(covariance, dtype=np.float64)
    if c.shape != (coef.shape[1], coef.shape[1]):
        raise ValueError(f"covariance must be ({coef.shape[1]}, {coef.shape[1]}); got {c.shape}")
    x = np.asarray(x, dtype=np.float64)
    residual = np.asarray(target, dtype=np.float64) - (x @ coef.T + intercept)
    cw = c @ coef.T  # (d, S)
    gram_pinv = np.linalg.pinv(coef @ cw, rcond=rtol, hermitian=True)
    return residual @ gram_pinv @ cw.T


def spread_directions(covariance, n: int, seed: int, project: np.ndarray | None = None) -> np.ndarray:
    """``(n, d)`` unit vectors along ``C^(1/2) z`` (``z`` standard normal, seeded), optionally
    projected first onto the row space of ``project`` (orthonormal rows)."""
    c = np.asarray(covariance, dtype=np.float64)
    vals, vecs = np.linalg.eigh(c)
    root = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    v = np.random.default_rng(seed).normal(size=(n, c.shape[0])) @ root
    if project is not None:
        v = (v @ project.T) @ project
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def kl_divergence_bits(p, q) -> np.ndarray:
    """``KL(p || q) = sum_x p(x) log2(p(x) / q(x))`` row by row.

    Args:
        p: ``(N, V)`` distributions (the theory's, over the process's tokens).
        q: ``(N, V')`` with ``V' >= V`` (a model's; extra entries such as a BOS token carry mass
            ``p`` does not, which the divergence counts through ``q``'s normalisation).

    Returns:
        ``(N,)`` float64 bits.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.ndim != 2 or q.ndim != 2 or q.shape[0] != p.shape[0] or q.shape[1] < p.shape[1]:
        raise ValueError(f"p (N, V) and q (N, V' >= V) expected; got {p.shape} and {q.shape}")
    q = np.maximum(q[:, : p.shape[1]], PROB_FLOOR)
    terms = np.where(p > 0, p * (np.log2(np.where(p > 0, p, 1.0)) - np.log2(q)), 0.0)
    return terms.sum(axis=1)


# ------------------------------------------------------------------------------- the effects
@dataclass
class InterventionEffects:
    """Per pair: the KL of each condition and the controls' bookkeeping.

    Attributes:
        kl_bits: ``{condition: (N,)}`` ``KL(P(. | eta*) || q_condition)`` for
            :data:`CONDITIONS`; ``null_space`` is NaN when the null space is ``{0}``.
        own_kl_bits: ``(N,)`` ``KL(P(. | eta) || q_none)``: the model's error at its input's own
            belief (the floor an intervention can reach).
        norms: ``(N,)`` ``|Delta|``.
        cov_norms: ``(N,)`` ``|Delta_cov|`` (NaN without a covariance).
        decode_error: ``(N,)`` ``max |W (x + Delta) + b - eta*|`` (the larger of ``Delta`` and
            ``Delta_cov``).
        null_output_change: ``(N,)`` total variation between ``q_null_space`` and ``q_none``.
        random_output_change: ``(N,)`` the same for the random change.
        predicted: ``(N, V)`` ``P(. | eta*)``.
        probs: ``{condition: (N, V')}`` the model's next-token distributions.
    """

    kl_bits: dict[str, np.ndarray]
    own_kl_bits: np.ndarray
    norms: np.ndarray
    cov_norms: np.ndarray
    decode_error: np.ndarray
    null_output_change: np.ndarray
    random_output_change: np.ndarray
    predicted: np.ndarray
    probs: dict[str, np.ndarray]


def intervention_effects(features, coef, intercept, beliefs, targets, emission,
                         readout: Callable[[np.ndarray], np.ndarray], *, seed: int = 0,
                         mean=None, covariance=None, rtol: float = RTOL) -> InterventionEffects:
    """Intervene on ``N`` activations and compare the read-out with the theory (module docstring).

    Args:
        features: ``(N, d)`` activations ``x`` at the hook and position.
        coef, intercept: the probe ``W (S, d)``, ``b (S,)``.
        beliefs: ``(N, S)`` the inputs' true beliefs ``eta``.
        targets: ``(N, S)`` target beliefs ``eta*``.
        emission: ``(S, V)`` ``E[i, x] = (T[x] r)_i`` (``hmm.emission_probabilities``), so that
            ``P(. | eta) = eta E``.
        readout: ``(N, d)`` changes -> ``(N, V')`` the network's next-token distributions when
            each activation is moved by its change and the rest of the network runs.
        seed: seed of the random and null-space directions.
        mean, covariance: ``(d,)`` mean and ``(d, d)`` covariance of the activations (over all
            the probe's points): the probe is reduced to its minimum-norm form
            (:func:`reduce_probe`) and the ``*_cov`` conditions are run; ``None``: the probe is
            used as given and the ``*_cov`` conditions are NaN.
        rtol: the pseudo-inverse's cut-off.

    Returns:
        :class:`InterventionEffects`.
    """
    x = np.asarray(features, dtype=np.float64)
    n, d = x.shape
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    if covariance is not None:
        if mean is None:
            raise ValueError("give the activations' mean with their covariance")
        coef, intercept = reduce_probe(coef, intercept, mean, covariance, rtol)
    delta = minimum_norm_change(coef, intercept, x, targets, rtol)
    norms = np.linalg.norm(delta, axis=1)
    changes = {"none": np.zeros_like(delta), "intervened": delta,
               "random": norms[:, None] * random_directions(n, d, seed)}
    null_dirs = null_space_directions(coef, n, seed + 1, rtol)
    if null_dirs is not None:
        changes["null_space"] = norms[:, None] * null_dirs
    if covariance is not None:
        cov_delta = covariance_change(coef, intercept, x, targets, covariance, rtol)
        cov_norms = np.linalg.norm(cov_delta, axis=1, keepdims=True)
        changes["intervened_cov"] = cov_delta
        changes["random_cov"] = cov_norms * spread_directions(covariance, n, seed + 2)
        null = null_space_basis(coef, rtol)
        if null.shape[0]:
            changes["null_space_cov"] = cov_norms * spread_directions(covariance, n, seed + 3, null)
    probs = {c: np.asarray(readout(v), dtype=np.float64) for c, v in changes.items()}
    emission = np.asarray(emission, dtype=np.float64)
    predicted = np.asarray(targets, dtype=np.float64) @ emission
    kl = {c: kl_divergence_bits(predicted, probs[c]) if c in probs else np.full(n, np.nan)
          for c in CONDITIONS}
    decode_error = np.max([np.abs((x + changes[c]) @ coef.T + intercept - targets).max(axis=1)
                           for c in ("intervened", "intervened_cov") if c in changes], axis=0)
    tv = (lambda c: 0.5 * np.abs(probs[c] - probs["none"]).sum(axis=1)  # noqa: E731
          if c in probs else np.full(n, np.nan))
    return InterventionEffects(
        kl_bits=kl, own_kl_bits=kl_divergence_bits(np.asarray(beliefs) @ emission, probs["none"]),
        norms=norms, cov_norms=np.linalg.norm(changes["intervened_cov"], axis=1)
        if "intervened_cov" in changes else np.full(n, np.nan),
        decode_error=decode_error,
        null_output_change=tv("null_space"), random_output_change=tv("random"),
        predicted=predicted, probs=probs)


# ------------------------------------------------------------------------------- the pairs
@dataclass(frozen=True)
class Pairs:
    """``N`` (input, target) pairs: sequence index, position, the input's belief and the target."""

    sequence: np.ndarray
    position: np.ndarray
    beliefs: np.ndarray
    targets: np.ndarray


def _point_weights(run: Run, data: ProbeData, first: int) -> np.ndarray:
    """``(N,)`` probability of drawing each test-fold sequence (0 on the training folds)."""
    test = ~np.isin(data.folds, np.arange(data.train_folds))
    if data.protocol == "enumerated":
        w = np.exp(log_probability(run.hmm, data.tokens[:, first:]))
    else:
        w = np.ones(data.num_sequences)
    w = np.where(test, w, 0.0)
    if not w.sum() > 0:
        raise ValueError("no held-out sequences to intervene on")
    return w / w.sum()


def sample_pairs(run: Run, data: ProbeData, num_pairs: int, seed: int) -> Pairs:
    """Draw (input, target) pairs as the module docstring describes."""
    if int(num_pairs) < 1:
        raise ValueError(f"num_pairs must be >= 1; got {num_pairs}")
    first = 1 if run.bos_token is not None else 0
    P = data.tokens.shape[1]
    w = _point_weights(run, data, first)
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.choice(w.size, size=n, p=w), rng.integers(first, P, size=n)

    seq, pos = draw(num_pairs)
    beliefs = data.beliefs[seq, pos]
    tseq, tpos = draw(num_pairs)
    targets = data.beliefs[tseq, tpos].copy()
    for _ in range(100):  # redraw the few targets equal to their input's belief
        same = np.abs(targets - beliefs).max(axis=1) < 1e-9
        if not same.any():
            break
        a, b = draw(int(same.sum()))
        targets[same] = data.beliefs[a, b]
    return Pairs(seq, pos, beliefs.astype(np.float64), targets.astype(np.float64))


# ------------------------------------------------------------------------------- the model
@functools.lru_cache(maxsize=32)
def _patched_probs_fn(model_config, hook: str):
    def fn(params, tokens, position, delta):
        P = tokens.shape[1]
        onehot = jax.nn.one_hot(position, P, dtype=jnp.float32)
        patch = onehot[:, :, None] * delta.astype(jnp.float32)[:, None, :]
        logits, _ = run_with_patches(params, model_config, tokens, {hook: patch})
        row = jnp.take_along_axis(logits, position[:, None, None], axis=1)[:, 0]
        return jax.nn.softmax(row, axis=-1)

    return jax.jit(fn)


def model_readout(params, model_config, hook: str, tokens: np.ndarray,
                  position: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The read-out of :func:`intervention_effects` for a model: ``(N, d)`` changes at ``hook`` and
    position ``position[i]`` of sequence ``tokens[i]`` -> ``(N, d_vocab)`` the next-token
    distribution at that position after the rest of the network runs."""
    if hook not in patch_hooks(model_config):
        raise ValueError(f"cannot intervene at {hook!r}; patchable hooks: {patch_hooks(model_config)}")
    fn = _patched_probs_fn(model_config, hook)
    tokens = np.asarray(tokens, dtype=np.int32)
    position = np.asarray(position, dtype=np.int32)

    def readout(delta: np.ndarray) -> np.ndarray:
        return batched_map(lambda t, p, dl: fn(params, t, p, dl), tokens, PATCH_BATCH, position,
                           np.asarray(delta, dtype=np.float32))

    return readout


# ------------------------------------------------------------------------------- the report
@dataclass
class HookIntervention(Record):
    """One hook's interventions over all pairs.

    Attributes:
        hook, label: the hook and its human label.
        probe_mse_test: the probe's held-out MSE (the probe intervened with).
        probe_rank: rank of its coefficient matrix; ``null_dim``: ``d - rank``.
        mean_kl_bits: ``{condition: mean KL(P(. | eta*) || q)}`` (:data:`CONDITIONS`).
        sem_kl_bits: standard errors of those means.
        median_kl_bits: medians.
        own_kl_bits: mean ``KL(P(. | eta) || q_none)`` (the model's own error).
        mean_norm: mean ``|Delta|``; ``mean_cov_norm``: mean ``|Delta_cov|`` (``None``
            without a covariance); ``mean_activation_norm``: mean ``|x|``.
        decode_error: largest ``|W (x + Delta) + b - eta*|`` over pairs.
        null_output_change, random_output_change: mean total variation from ``q_none``.
        fraction_below_random: share of pairs whose intervened KL is below the random control's.
        fraction_cov_below_random: the same for ``intervened_cov`` and ``random_cov``.
    """

    hook: str
    label: str
    probe_mse_test: float
    probe_rank: int
    null_dim: int
    mean_kl_bits: dict[str, float | None]
    sem_kl_bits: dict[str, float | None]
    median_kl_bits: dict[str, float | None]
    own_kl_bits: float
    mean_norm: float
    mean_cov_norm: float | None
    mean_activation_norm: float
    decode_error: float
    null_output_change: float | None
    random_output_change: float
    fraction_below_random: float
    fraction_cov_below_random: float | None


@dataclass
class InterventionReport(Record):
    """``RUN_DIR/mechanisms/interventions.json``."""

    run_dir: str
    process: str
    process_params: dict[str, Any]
    model: dict[str, Any]
    step: int
    num_pairs: int
    seed: int
    pairs: str
    hooks: dict[str, HookIntervention]
    seconds: float


PAIRS_DESCRIPTION = ("inputs: held-out (test-fold) sequences drawn with their probability at a "
                     "uniform process position; targets: beliefs of independent draws of the same "
                     "kind, distinct from the input's; the same pairs at every hook")


def _stat(values: np.ndarray, fn) -> float | None:
    return None if np.all(np.isnan(values)) else float(fn(values))


def summarize(hook: str, label: str, probe_mse: float, coef: np.ndarray, features: np.ndarray,
              effects: InterventionEffects, rtol: float = RTOL) -> HookIntervention:
    """The :class:`HookIntervention` of one hook's effects."""
    rank = _svd(coef, rtol)[3]
    n = effects.norms.size
    kl = effects.kl_bits
    return HookIntervention(
        hook=hook, label=label, probe_mse_test=float(probe_mse), probe_rank=rank,
        null_dim=int(coef.shape[1] - rank),
        mean_kl_bits={c: _stat(kl[c], np.mean) for c in CONDITIONS},
        sem_kl_bits={c: _stat(kl[c], lambda v: v.std(ddof=1) / math.sqrt(n) if n > 1 else 0.0)
                     for c in CONDITIONS},
        median_kl_bits={c: _stat(kl[c], np.median) for c in CONDITIONS},
        own_kl_bits=float(effects.own_kl_bits.mean()), mean_norm=float(effects.norms.mean()),
        mean_cov_norm=_stat(effects.cov_norms, np.mean),
        mean_activation_norm=float(np.linalg.norm(features, axis=1).mean()),
        decode_error=float(effects.decode_error.max()),
        null_output_change=_stat(effects.null_output_change, np.mean),
        random_output_change=float(effects.random_output_change.mean()),
        fraction_below_random=float((kl["intervened"] < kl["random"]).mean()),
        fraction_cov_below_random=None if np.all(np.isnan(kl["intervened_cov"]))
        else float((kl["intervened_cov"] < kl["random_cov"]).mean()))


def activation_moments(acts: np.ndarray, weights: np.ndarray | None,
                       chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """``(mean (d,), covariance (d, d))`` of activations ``(N, P, d)`` over every point (weighted by
    ``weights (N, P)`` when given), accumulated in float64 chunk by chunk."""
    n, P, d = acts.shape
    w_all = np.ones((n, P)) if weights is None else np.asarray(weights, dtype=np.float64)
    total, s1, s2 = 0.0, np.zeros(d), np.zeros((d, d))
    for start in range(0, n, chunk):
        x = acts[start:start + chunk].reshape(-1, d).astype(np.float64)
        w = w_all[start:start + chunk].reshape(-1)
        total += w.sum()
        s1 += w @ x
        s2 += (x * w[:, None]).T @ x
    mean = s1 / total
    return mean, s2 / total - np.outer(mean, mean)


def _train_folds(num_points: int, width: int) -> int:
    """The probe's split as ``compmech probe --split auto`` chooses it."""
    small = num_points / DEFAULT_FOLDS < MIN_POINTS_PER_COEFFICIENT * (width + 1)
    return SPLITS["80/20"] if small else SPLITS["20/80"]


def fit_probe(features: np.ndarray, data: ProbeData) -> tuple[BeliefProbe, float]:
    """The probe ``compmech probe`` fits at a hook (OLS with intercept on the training folds) and
    its held-out MSE."""
    result = cross_validated_probe(features, data.beliefs, data.folds, weights=data.weights,
                                   train_folds=data.train_folds)
    return result.probe, float(result.scores["mse"])


def analyze_interventions(run: Run, *, hooks: Sequence[str] | None = None,
                          num_pairs: int = DEFAULT_PAIRS, seed: int = 0, step: int | None = None,
                          progress: Callable[[str], None] | None = None
                          ) -> tuple[InterventionReport, dict[str, InterventionEffects], Pairs]:
    """Belief interventions at each hook of a run (nothing written).

    Args:
        run: a trained run.
        hooks: hooks to intervene at (default: the model's probe grid, :func:`transformer.probe_hooks`).
        num_pairs: (input, target) pairs (:func:`sample_pairs`).
        seed: seed of the probe's folds, the pairs and the control directions.
        step: checkpoint (default: the last).
        progress: called with a line per hook.

    Returns:
        ``(report, {hook: InterventionEffects}, pairs)``.
    """
    t0 = time.perf_counter()
    hooks = list(hooks) if hooks else run.probe_hooks()
    valid = patch_hooks(run.model_config)
    bad = [h for h in hooks if h not in valid]
    if bad:
        raise ValueError(f"cannot intervene at {bad}; patchable hooks: {', '.join(valid) or 'none'}")
    step = run.checkpoint_steps[-1] if step is None else int(step)
    params = run.load_params(step)
    data = probe_data(run, seed=seed)
    widths = run.hook_widths()
    data = dataclasses.replace(data, train_folds=_train_folds(data.tokens.size,
                                                              max(widths[h] for h in hooks)))
    pairs = sample_pairs(run, data, num_pairs, seed)
    emission = run.hmm.emission_probabilities
    out, effects = {}, {}
    for i, hook in enumerate(hooks):
        acts = collect(run, params, data, [hook])[hook]  # one hook at a time: memory
        probe, mse = fit_probe(acts, data)
        mean, covariance = activation_moments(acts, data.weights)
        x = acts[pairs.sequence, pairs.position].astype(np.float64)
        del acts
        readout = model_readout(params, run.model_config, hook, data.tokens[pairs.sequence],
                                pairs.position)
        effects[hook] = eff = intervention_effects(
            x, probe.coef_, probe.intercept_, pairs.beliefs, pairs.targets, emission, readout,
            seed=seed + 1000 * (i + 1), mean=mean, covariance=covariance)
        coef, _ = reduce_probe(probe.coef_, probe.intercept_, mean, covariance)
        out[hook] = summarize(hook, run.hook_label(hook), mse, coef, x, eff)
        if progress:
            m = out[hook].mean_kl_bits
            progress(f"  {hook}: KL none {m['none']:.3g}, intervened {m['intervened']:.3g}, "
                     f"random {m['random']:.3g}, null space {_fmt(m['null_space'])}; cov "
                     f"{_fmt(m['intervened_cov'])}, random {_fmt(m['random_cov'])} bits")
    report = InterventionReport(
        run_dir=str(run.run_dir), process=run.hmm.name, process_params=dict(run.hmm.params),
        model=run.model_config.to_dict(), step=step, num_pairs=int(num_pairs), seed=int(seed),
        pairs=PAIRS_DESCRIPTION, hooks=out, seconds=time.perf_counter() - t0)
    return report, effects, pairs


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3g}"


def intervention_lines(report: InterventionReport) -> list[str]:
    """The per-hook table (mean KL in bits, +- standard error), as printed lines."""
    head = (f"{'hook':<26} {'probe MSE':>9} {'own':>8} {'none':>6} | {'|Delta|':>7} "
            f"{'interv.':>7} {'random':>6} {'null':>6} | {'|D_cov|':>7} {'interv.':>7} "
            f"{'random':>6} {'null':>6}")
    lines = [f"mean KL(P(.|eta*) || model) in bits over {report.num_pairs} pairs; own = "
             "KL(P(.|eta) || model) unpatched; left: Euclidean minimum-norm change, right: in the "
             "activations' metric (cov)", head]
    for h in report.hooks.values():
        m = h.mean_kl_bits
        lines.append(f"{h.hook:<26} {h.probe_mse_test:>9.2e} {h.own_kl_bits:>8.2e} "
                     f"{_fmt(m['none']):>6} | {h.mean_norm:>7.3g} {_fmt(m['intervened']):>7} "
                     f"{_fmt(m['random']):>6} {_fmt(m['null_space']):>6} | "
                     f"{_fmt(h.mean_cov_norm):>7} {_fmt(m['intervened_cov']):>7} "
                     f"{_fmt(m['random_cov']):>6} {_fmt(m['null_space_cov']):>6}")
    return lines


__all__ = [
    "CONDITIONS",
    "DEFAULT_PAIRS",
    "HookIntervention",
    "InterventionEffects",
    "InterventionReport",
    "Pairs",
    "RTOL",
    "activation_moments",
    "analyze_interventions",
    "covariance_change",
    "fit_probe",
    "intervention_effects",
    "intervention_lines",
    "kl_divergence_bits",
    "minimum_norm_change",
    "model_readout",
    "null_space_basis",
    "null_space_directions",
    "random_directions",
    "reduce_probe",
    "sample_pairs",
    "span_projector",
    "spread_directions",
    "summarize",
]
