"""Belief interventions on a trained run: the pairs, the model's read-outs and the analysis (the
tests themselves are in :mod:`compmech.mechanisms.interventions`, the records, tables and the spread
over seeds in :mod:`compmech.mechanisms.intervention_records`).

**Pairs** (:func:`sample_pairs`): inputs are held-out (test-fold) sequences of the probe's data
drawn with their word probability (uniformly when the data are already sampled), at a uniform
process position; targets are the beliefs at independent draws of the same kind (beliefs the
mixed-state presentation reaches within ``n_ctx`` tokens), redrawn until they differ from the
input's belief; the draw that gave the target is the ``ceiling`` donor. The ``same_belief`` donor of
an input is the input prefix of the same length whose belief is nearest to the input's (in the
probe's coordinates) among all prefixes of the probe's data other than the input's own (identical
prefixes have identical activations); its distance and the theory's own change
``TV(P(. | eta_donor), P(. | eta))`` are reported beside the network's. The same pairs serve every
hook.

**Beyond-next-token pairs** (:func:`sample_ahead_pairs`): as above at positions ``t <= n_ctx - 2``
(so that ``t + 1`` exists), with targets redrawn while they give the true ``x_{t+1}`` no
probability; the number of such discarded draws is reported (``ahead_dropped``).

**Blind pairs** (:func:`sample_blind_pairs`): ``eta* = eta + s P_B (eta_d - eta)`` with ``eta_d`` an
independent target draw, ``P_B`` the orthogonal projector onto the prediction-blind subspace
(:func:`compmech.prediction_blind_subspace`) and ``s`` the largest of ``1, 1/2, ..., 1/64`` that
keeps ``eta*`` a valid belief (an HMM: no entry below ``-1e-12``; a GHMM: no word of length <= 2
with probability below ``-1e-12``); draws with no valid ``s`` or a vanishing move are discarded
and counted (``blind_dropped``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from compmech.blind import prediction_blind_subspace
from compmech.formatting import fmt
from compmech.hmm import Process
from compmech.inference import log_probability
from compmech.mechanisms.directions import reduce_probe
from compmech.mechanisms.intervention_records import (
    PAIRS_DESCRIPTION,
    InterventionReport,
    SameBeliefControl,
    summarize,
    summarize_ahead,
    summarize_blind,
)
from compmech.mechanisms.interventions import (
    MIN_NEXT_PROBABILITY,
    ActivationMoments,
    InterventionConfig,
    InterventionEffects,
    InterventionInputs,
    ahead_effects,
    belief_update,
    blind_effects,
    intervention_effects,
    total_variation,
)
from compmech.probing.crossval import cross_validated_probe
from compmech.probing.data import ProbeData, collect, probe_data, train_folds
from compmech.probing.linear import BeliefProbe
from compmech.probing.targets import belief_targets
from transformer import Run, patch_hooks, run_with_patches
from transformer.activations import batched_map
from transformer.registry import hook_label, hook_widths

#: Default number of (input, target) pairs.
DEFAULT_PAIRS = 2000
#: Sequences per compiled patched forward call.
PATCH_BATCH = 256
#: Step sizes tried for a blind target (largest first).
BLIND_STEPS = tuple(2.0 ** -k for k in range(7))
#: Validity tolerance of a blind target's entries (HMM) or word probabilities (GHMM).
BLIND_TOL = 1e-12
#: Nearest prefixes examined for a same-belief donor.
SWAP_NEIGHBOURS = 8


# ------------------------------------------------------------------------------- the pairs
@dataclass(frozen=True)
class Pairs:
    """``N`` (input, target) pairs with their donors.

    Attributes:
        sequence, position: ``(N,)`` the input point.
        beliefs: ``(N, S)`` its belief ``eta`` (a belief also for a GHMM).
        targets: ``(N, S)`` the target ``eta*``.
        target_sequence, target_position: ``(N,)`` the point whose belief is ``eta*`` (the
            ``ceiling`` donor).
        swap_sequence, swap_position: ``(N,)`` the ``same_belief`` donor (same position).
        swap_distance: ``(N,)`` its belief's distance from ``eta`` in the probe's coordinates.
        swap_beliefs: ``(N, S)`` its belief.
        next_tokens: ``(N,)`` the true ``x_{t+1}`` (``-1`` at the last position).
        dropped: target draws discarded (beyond-next-token pairs: those giving ``x_{t+1}`` no
            probability).
    """

    sequence: np.ndarray
    position: np.ndarray
    beliefs: np.ndarray
    targets: np.ndarray
    target_sequence: np.ndarray
    target_position: np.ndarray
    swap_sequence: np.ndarray
    swap_position: np.ndarray
    swap_distance: np.ndarray
    swap_beliefs: np.ndarray
    next_tokens: np.ndarray
    dropped: int = 0


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


def _joint(data: ProbeData) -> np.ndarray:
    if data.joint_beliefs is None:
        raise ValueError("the probe data carry no beliefs (joint_beliefs is None)")
    return data.joint_beliefs


def same_belief_donors(process: Process, data: ProbeData, sequence, position
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each input point, the prefix of the same length with the nearest belief (in the probe's
    coordinates) among the data's distinct prefixes other than its own.

    Returns:
        ``(donor sequence (N,), donor position (N,), distance (N,))``; a position with a single
        distinct prefix gives the input itself back at distance 0 (no donor: nothing changes).
    """
    from scipy.spatial import cKDTree

    tokens, joint = data.tokens, _joint(data)
    coords = belief_targets(process, joint)  # (n, P, k)
    sequence, position = np.asarray(sequence), np.asarray(position)
    out_seq, out_dist = sequence.copy(), np.zeros(sequence.size)
    for p in np.unique(position):  # one tree per position (positions, not tokens)
        reps, inverse = _unique_prefixes(tokens[:, : p + 1])
        rows = np.flatnonzero(position == p)
        if reps.size < 2:
            continue
        tree = cKDTree(coords[reps, p])
        k = min(SWAP_NEIGHBOURS, reps.size)
        dist, idx = tree.query(coords[sequence[rows], p], k=k)
        own = inverse[sequence[rows]]
        other = idx != own[:, None]
        pick = np.argmax(other, axis=1)  # the nearest that is not the input's own prefix
        found = other[np.arange(rows.size), pick]
        out_seq[rows] = np.where(found, reps[idx[np.arange(rows.size), pick]], sequence[rows])
        out_dist[rows] = np.where(found, dist[np.arange(rows.size), pick], 0.0)
    return out_seq, position.copy(), out_dist


def _unique_prefixes(prefixes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(representative sequence of each distinct prefix, index of each row's prefix)``."""
    _, reps, inverse = np.unique(prefixes, axis=0, return_index=True, return_inverse=True)
    return reps, inverse.reshape(-1)


def _draw(rng, w: np.ndarray, lo: int, hi: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.choice(w.size, size=n, p=w), rng.integers(lo, hi, size=n)


def _pairs(run: Run, data: ProbeData, num_pairs: int, seed: int, ahead: bool) -> Pairs:
    if int(num_pairs) < 1:
        raise ValueError(f"num_pairs must be >= 1; got {num_pairs}")
    first = 1 if run.bos_token is not None else 0
    P = data.tokens.shape[1]
    if ahead and P - 1 <= first:
        raise ValueError("the beyond-next-token test needs at least two process positions")
    joint = _joint(data)
    w = _point_weights(run, data, first)
    rng = np.random.default_rng(seed)
    seq, pos = _draw(rng, w, first, P - 1 if ahead else P, num_pairs)
    beliefs = joint[seq, pos].astype(np.float64)
    nxt = np.where(pos + 1 < P, data.tokens[seq, np.minimum(pos + 1, P - 1)], -1)
    tseq, tpos = _draw(rng, w, first, P, num_pairs)
    dropped = 0

    def bad(rows=slice(None)):
        t = joint[tseq[rows], tpos[rows]]
        out = np.abs(t - beliefs[rows]).max(axis=1) < 1e-9
        if ahead:
            out |= ~(belief_update(run.hmm, t, nxt[rows])[1] > MIN_NEXT_PROBABILITY)
        return out

    redo = bad()
    for _ in range(100):  # redraw the targets equal to their input's belief (or ruling x_{t+1} out)
        if not redo.any():
            break
        if ahead:
            dropped += int((~(belief_update(run.hmm, joint[tseq[redo], tpos[redo]], nxt[redo])[1]
                              > MIN_NEXT_PROBABILITY)).sum())
        tseq[redo], tpos[redo] = _draw(rng, w, first, P, int(redo.sum()))
        redo[redo] = bad(redo)
    keep = ~redo  # pairs left without a valid target after 100 rounds are dropped
    dropped += int(redo.sum()) if ahead else 0
    seq, pos, beliefs, nxt, tseq, tpos = (a[keep] for a in (seq, pos, beliefs, nxt, tseq, tpos))
    sseq, spos, sdist = same_belief_donors(run.hmm, data, seq, pos)
    return Pairs(seq, pos, beliefs, joint[tseq, tpos].astype(np.float64), tseq, tpos, sseq, spos,
                 sdist, joint[sseq, spos].astype(np.float64), nxt, dropped)


def sample_pairs(run: Run, data: ProbeData, num_pairs: int, seed: int) -> Pairs:
    """Same-position pairs (module docstring)."""
    return _pairs(run, data, num_pairs, seed, ahead=False)


def sample_ahead_pairs(run: Run, data: ProbeData, num_pairs: int, seed: int) -> Pairs:
    """Beyond-next-token pairs (module docstring): ``t <= n_ctx - 2`` and
    ``P(x_{t+1} | eta*) > MIN_NEXT_PROBABILITY``."""
    return _pairs(run, data, num_pairs, seed, ahead=True)


def _valid_beliefs(process: Process, beliefs: np.ndarray) -> np.ndarray:
    """``(N,)`` whether each row is a valid belief (module docstring, blind pairs)."""
    if process.kind == "hmm":
        return (beliefs >= -BLIND_TOL).all(axis=1)
    T = np.asarray(process.transition_matrices, dtype=np.float64)
    r = np.asarray(process.right_eigenvector, dtype=np.float64)
    one = np.einsum("ns,xst->nxt", beliefs, T)  # (N, V, S)
    p1 = one @ r
    p2 = np.einsum("nxs,yst,t->nxy", one, T, r)
    return (p1 >= -BLIND_TOL).all(axis=1) & (p2 >= -BLIND_TOL).all(axis=(1, 2))


def blind_targets(process: Process, beliefs, donors, basis) -> tuple[np.ndarray, np.ndarray]:
    """``eta* = eta + s P_B (eta_d - eta)`` with the largest valid ``s`` of :data:`BLIND_STEPS`.

    Args:
        process: the process.
        beliefs: ``(N, S)`` ``eta``.
        donors: ``(N, S)`` ``eta_d``.
        basis: ``(d_B, S)`` orthonormal rows spanning the prediction-blind subspace.

    Returns:
        ``(targets (N, S), step (N,))``; ``step`` 0 where no step is valid or the move vanishes.
    """
    beliefs = np.asarray(beliefs, dtype=np.float64)
    basis = np.asarray(basis, dtype=np.float64)
    move = ((np.asarray(donors, dtype=np.float64) - beliefs) @ basis.T) @ basis
    step = np.zeros(beliefs.shape[0])
    for s in BLIND_STEPS:  # a handful of step sizes, each vectorised over all pairs
        open_ = step == 0
        ok = _valid_beliefs(process, beliefs + s * move) & open_
        step[ok] = s
    step[np.linalg.norm(move, axis=1) < 1e-9] = 0.0
    return beliefs + step[:, None] * move, step


def sample_blind_pairs(run: Run, data: ProbeData, num_pairs: int, seed: int,
                       basis: np.ndarray) -> Pairs:
    """Blind pairs (module docstring); ``dropped`` counts the discarded draws."""
    pairs = sample_ahead_pairs(run, data, num_pairs, seed)
    targets, step = blind_targets(run.hmm, pairs.beliefs, pairs.targets, basis)
    keep = step > 0
    kept = {f.name: getattr(pairs, f.name)[keep] for f in dataclasses.fields(Pairs)
            if f.name != "dropped"}
    kept["targets"] = targets[keep]
    return Pairs(**kept, dropped=int((~keep).sum()))


# ------------------------------------------------------------------------------- the model
@functools.lru_cache(maxsize=32)
def _patched_probs_fn(model_config, hook: str, offsets: tuple[int, ...]):
    def fn(params, tokens, position, delta):
        P = tokens.shape[1]
        onehot = jax.nn.one_hot(position, P, dtype=jnp.float32)
        patch = onehot[:, :, None] * delta.astype(jnp.float32)[:, None, :]
        logits, _ = run_with_patches(params, model_config, tokens, {hook: patch})
        read = jnp.minimum(position[:, None] + jnp.asarray(offsets)[None, :], P - 1)
        rows = jnp.take_along_axis(logits, read[:, :, None], axis=1)  # (B, len(offsets), V)
        return jax.nn.softmax(rows, axis=-1)

    return jax.jit(fn)


def model_readout(params, model_config, hook: str, tokens: np.ndarray, position: np.ndarray,
                  offsets: Sequence[int] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The read-out of the intervention tests for a model: ``(N, d)`` changes at ``hook`` and
    position ``position[i]`` of sequence ``tokens[i]`` -> the next-token distribution after the rest
    of the network runs: ``(N, d_vocab)`` at that position (``offsets=None``), or
    ``(N, len(offsets), d_vocab)`` at ``position + offset`` for each offset.

    Every call runs batches of :data:`PATCH_BATCH` sequences (the last one padded) reading offsets
    0 and 1 (and any larger one asked for), so that one compiled function serves every test at a
    hook."""
    if hook not in patch_hooks(model_config):
        raise ValueError(f"cannot intervene at {hook!r}; patchable hooks: {patch_hooks(model_config)}")
    want = (0,) if offsets is None else tuple(int(o) for o in offsets)
    if min(want) < 0:
        raise ValueError(f"offsets must be >= 0; got {want}")
    offs = tuple(range(max(1, *want) + 1))
    tokens = np.asarray(tokens, dtype=np.int32)
    position = np.asarray(position, dtype=np.int32)
    n = position.size
    if n and (position + max(want)).max() >= tokens.shape[1]:
        raise ValueError("a read position lies beyond the context")
    fn = _patched_probs_fn(model_config, hook, offs)
    pad = (-n) % PATCH_BATCH

    def padded(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, np.repeat(a[:1], pad, axis=0)]) if pad else a

    def readout(delta: np.ndarray) -> np.ndarray:
        out = batched_map(lambda t, p, dl: fn(params, t, p, dl), padded(tokens), PATCH_BATCH,
                          padded(position), padded(np.asarray(delta, dtype=np.float32)))[:n]
        out = out[:, list(want)]
        return out[:, 0] if offsets is None else out

    return readout


def reaches_next_position(params, model_config, hook: str) -> bool:
    """Whether a change at ``hook`` and position 0 can change the prediction at position 1 (a
    recurrent layer: yes; a transformer's last block output or final LayerNorm: no)."""
    width = int(hook_widths(model_config)[hook])
    d = np.random.default_rng(0).normal(size=(1, width)) * 10.0
    readout = model_readout(params, model_config, hook, np.zeros((1, model_config.n_ctx)),
                            np.zeros(1), offsets=(1,))
    return bool(np.abs(readout(d) - readout(np.zeros_like(d))).max() > 1e-6)


# ------------------------------------------------------------------------------- the analysis
def activation_moments(acts: np.ndarray, weights: np.ndarray | None,
                       chunk: int = 4096) -> ActivationMoments:
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
    return ActivationMoments(mean, s2 / total - np.outer(mean, mean))


def fit_probe(features: np.ndarray, data: ProbeData) -> tuple[BeliefProbe, float, BeliefProbe]:
    """The probe ``compmech probe`` fits at a hook (OLS with intercept on the training folds), its
    held-out MSE, and the probe of its shuffle control (targets permuted across all points)."""
    result = cross_validated_probe(features, data.beliefs, data.folds, weights=data.weights,
                                   train_folds=data.train_folds, spread=False, shuffle=True,
                                   shuffle_seed=data.seed)
    return result.probe, float(result.scores.mse), result.shuffle_probe


def pair_inputs(acts: np.ndarray, pairs: Pairs, donors: bool = True) -> InterventionInputs:
    """The pairs at their activations ``acts (n, P, d)`` (float64), with the ceiling and
    same-belief donors' activations when ``donors``."""
    def at(seq, pos):
        return acts[seq, pos].astype(np.float64)

    return InterventionInputs(
        at(pairs.sequence, pairs.position), pairs.beliefs, pairs.targets,
        next_tokens=pairs.next_tokens,
        ceiling_features=at(pairs.target_sequence, pairs.target_position) if donors else None,
        swap_features=at(pairs.swap_sequence, pairs.swap_position) if donors else None)


def blind_basis(process: Process) -> tuple[np.ndarray | None, str]:
    """``(basis (d_B, S) or None, note)``: the prediction-blind subspace, or why the blind test is
    not run."""
    basis = np.asarray(prediction_blind_subspace(process).basis, dtype=np.float64)
    if basis.shape[0] == 0:
        return basis, ("not applicable: no prediction-blind subspace (dimension 0); the belief is a "
                       "linear function of the next-token distribution")
    return basis, f"steered along the {basis.shape[0]}-dimensional prediction-blind subspace"


def analyze_interventions(run: Run, *, hooks: Sequence[str] | None = None,
                          num_pairs: int = DEFAULT_PAIRS, seed: int = 0, step: int | None = None,
                          progress: Callable[[str], None] | None = None, ahead: bool = True,
                          blind: bool = True
                          ) -> tuple[InterventionReport, dict[str, InterventionEffects], Pairs]:
    """Belief interventions at each hook of a run (nothing written): the same-position test with
    all its controls, the beyond-next-token test and (where the process has one) the steering along
    the prediction-blind subspace.

    Args:
        run: a trained run (HMM, GHMM, mixture or product; any architecture with patch hooks).
        hooks: hooks to intervene at (default: the model's probe grid, :func:`transformer.probe_hooks`).
        num_pairs: (input, target) pairs per test (:func:`sample_pairs`).
        seed: seed of the probe's folds, the pairs and the control directions.
        step: checkpoint (default: the last).
        progress: called with a line per hook.
        ahead: run the beyond-next-token test.
        blind: run the blind-steering test.

    Returns:
        ``(report, {hook: same-position InterventionEffects}, same-position pairs)``.
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
    data = dataclasses.replace(data, train_folds=train_folds("auto", data.tokens.size,
                                                              max(widths[h] for h in hooks)))
    hmm, cfg = run.hmm, run.model_config
    to_probe = functools.partial(belief_targets, hmm)
    pairs = sample_pairs(run, data, num_pairs, seed)
    first = 1 if run.bos_token is not None else 0
    ahead_pairs = sample_ahead_pairs(run, data, num_pairs, seed + 1) \
        if ahead and data.tokens.shape[1] - 1 > first else None
    basis, note = blind_basis(hmm) if blind else (None, "not run")
    blind_pairs = sample_blind_pairs(run, data, num_pairs, seed + 2, basis) \
        if ahead_pairs is not None and basis is not None and basis.shape[0] else None
    out, out_ahead, out_blind, effects = {}, {}, {}, {}
    for i, hook in enumerate(hooks):
        acts = collect(run, params, data, [hook])[hook]  # one hook at a time: memory
        probe, mse, shuffled = fit_probe(acts, data)
        moments = activation_moments(acts, data.weights)
        config = InterventionConfig(seed=seed + 1000 * (i + 1))
        same = pair_inputs(acts, pairs)
        readout = model_readout(params, cfg, hook, data.tokens[pairs.sequence], pairs.position)
        effects[hook] = eff = intervention_effects(
            same, probe, hmm.emission_probabilities, readout, config, moments=moments,
            to_probe=to_probe, shuffled_probe=shuffled)
        coef, _ = reduce_probe(probe.coef_, probe.intercept_, *moments)
        out[hook] = summarize(hook, hook_label(hook), mse, coef, same.features, eff, config,
                              same_belief=SameBeliefControl(pairs.swap_distance, total_variation(
                                  pairs.beliefs @ hmm.emission_probabilities,
                                  pairs.swap_beliefs @ hmm.emission_probabilities)))
        reaches = reaches_next_position(params, cfg, hook)
        if ahead_pairs is not None:
            p = ahead_pairs
            read = model_readout(params, cfg, hook, data.tokens[p.sequence], p.position, (1,))
            a_eff = ahead_effects(pair_inputs(acts, p), probe, hmm, lambda dl, r=read: r(dl)[:, 0],
                                  config, moments=moments, to_probe=to_probe,
                                  shuffled_probe=shuffled)
            out_ahead[hook] = summarize_ahead(hook, hook_label(hook), reaches, a_eff)
        if blind_pairs is not None and blind_pairs.sequence.size:
            p = blind_pairs
            read = model_readout(params, cfg, hook, data.tokens[p.sequence], p.position, (0, 1))
            b_eff = blind_effects(pair_inputs(acts, p, donors=False), probe, hmm, read, config,
                                  moments=moments, to_probe=to_probe)
            out_blind[hook] = summarize_blind(hook, hook_label(hook), reaches, b_eff)
        del acts
        if progress:
            m = out[hook].mean_kl_bits
            line = (f"  {hook}: KL none {m.none:.3g}, intervened {m.intervened:.3g}, "
                    f"random {m.random:.3g}, null space {fmt(m.null_space)}; cov "
                    f"{fmt(m.intervened_cov)}, ceiling {fmt(m.ceiling)} bits")
            if hook in out_ahead:
                line += f"; at t+1 cov {fmt(out_ahead[hook].mean_kl_bits.intervened_cov)}"
            progress(line)
    report = InterventionReport(
        run_dir=str(run.run_dir), process=hmm.name, process_params=dict(hmm.params),
        model=cfg.to_dict(), step=step, num_pairs=int(num_pairs), seed=int(seed),
        pairs=PAIRS_DESCRIPTION, hooks=out, seconds=time.perf_counter() - t0, ahead=out_ahead,
        ahead_pairs=0 if ahead_pairs is None else int(ahead_pairs.sequence.size),
        ahead_dropped=0 if ahead_pairs is None else ahead_pairs.dropped, blind=out_blind,
        blind_dimension=None if basis is None else int(basis.shape[0]),
        blind_pairs=0 if blind_pairs is None else int(blind_pairs.sequence.size),
        blind_dropped=0 if blind_pairs is None else blind_pairs.dropped, blind_note=note)
    return report, effects, pairs


__all__ = [
    "DEFAULT_PAIRS",
    "Pairs",
    "activation_moments",
    "analyze_interventions",
    "blind_basis",
    "blind_targets",
    "fit_probe",
    "model_readout",
    "pair_inputs",
    "reaches_next_position",
    "sample_ahead_pairs",
    "sample_blind_pairs",
    "sample_pairs",
    "same_belief_donors",
]
