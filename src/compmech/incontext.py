"""In-context learning of a non-ergodic mixture: its loss curves at any context length, and an
induction (copy) score of attention patterns.

**Loss curves.** On data of component ``k`` of a mixture (:func:`compmech.mixture`) the best any
predictor does at a position is the Bayes-mixture loss ``E_k[CE(P_k(. | prefix), P_mix(. |
prefix))]``; the loss knowing ``k``, ``E_k[H(P_k(. | prefix))]``, is below it and not achievable
(SCIENCE.md, "Non-ergodic mixtures"). :func:`compmech.information.mixture_component_losses`
computes both by enumerating every word, which stops at ``V^n`` around 10^6 words.
:func:`mixture_loss_curves` gives the same curves at long contexts:

* ``"exact"``: the mixture's beliefs propagated level by level with equal beliefs merged
  (:func:`compmech.msp.iter_belief_levels`). A mixture belief ``eta`` holds the posterior over
  components (``P(k | prefix) = eta[block_k] r_k``) and each component's belief (the block,
  normalised), so every term is a function of ``eta`` and merging is exact. Each level has as many
  nodes as distinct beliefs: small at any depth when the components have finite mixed-state
  presentations (``mr_name``), ``V^depth`` otherwise (Mess3).
* ``"sampled"``: ``num_samples`` words drawn from each component, filtered exactly by the
  component and by the mixture; per position, the mean over words of ``H(P_k)`` and of
  ``CE(P_k, P_mix)`` (the expectation over the next token is taken exactly), with its standard
  error over words.

Positions follow :func:`compmech.information.optimal_cross_entropy_nats`: ``bos=False``, input
position ``t`` (0-based) has seen ``x_1 .. x_{t+1}``; ``bos=True``, position 0 is BOS (nothing
seen) and position ``t`` has seen ``x_1 .. x_t``.

**Induction score.** An induction head attends, from a position holding token ``x``, to the
token that followed an earlier occurrence of ``x`` (the ``A B ... A -> B`` copy; Olsson et al.
2022). For query position ``t`` the *targets* are the positions ``s`` with ``1 <= s < t`` and
``x_{s-1} = x_t``. With ``m_t`` the attention mass a head puts on the targets and ``u_t =
#targets / (t + 1)`` the mass uniform causal attention would put there,

    score = mean over queries with at least one target of (m_t - u_t) / (1 - u_t),

so a head that attends only to targets scores 1, uniform attention scores 0 exactly, and a
head that attends to unrelated positions scores below 0. Heads that attend to the previous
token or to earlier copies of the current token (not to what followed them) score near 0 on
sequences without structure; on process data a token's successors are not random, so compare
a head's score over training (the step where it jumps) rather than against 0.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compmech.hmm import GHMM, HMM, Process
from compmech.inference import filter_beliefs, sample
from compmech.information import mixture_component_starts
from compmech.msp import DEFAULT_MAX_LEVEL_NODES, iter_belief_levels

METHODS = ("auto", "exact", "sampled")
#: Largest level the ``"auto"`` method propagates exactly before it switches to sampling (a level
#: that outgrows it would keep growing like ``V^depth``).
AUTO_MAX_NODES = 100_000


class MixtureCurves(NamedTuple):
    """Per-component in-context loss curves of a mixture (nats per input position).

    Attributes:
        names: each component's name.
        weights: ``(K,)`` the mixture weights.
        own_optimum: ``(K, n_ctx)`` ``E_k[H(P_k(. | prefix))]``, the loss knowing the component.
        bayes_mixture: ``(K, n_ctx)`` ``E_k[CE(P_k(. | prefix), P_mix(. | prefix))]``, the
            Bayes-mixture loss on component ``k``'s data.
        own_stderr, bayes_stderr: ``(K, n_ctx)`` standard errors over sampled words (0 when
            exact).
        excess_stderr: ``(K, n_ctx)`` standard error of ``bayes_mixture - own_optimum`` (the KL
            term, estimated word by word).
        method: ``"exact"`` or ``"sampled"``.
        num_samples: words sampled per component (0 when exact).
    """

    names: tuple
    weights: np.ndarray
    own_optimum: np.ndarray
    bayes_mixture: np.ndarray
    own_stderr: np.ndarray
    bayes_stderr: np.ndarray
    excess_stderr: np.ndarray
    method: str
    num_samples: int = 0

    @property
    def known_component_loss(self) -> np.ndarray:
        """``(n_ctx,)`` ``sum_k w_k own_optimum[k]``."""
        return self.weights @ self.own_optimum

    @property
    def bayes_mixture_optimum(self) -> np.ndarray:
        """``(n_ctx,)`` ``sum_k w_k bayes_mixture[k]``: the mixture's optimal loss per position."""
        return self.weights @ self.bayes_mixture

    @property
    def optimum_excess(self) -> np.ndarray:
        """``(n_ctx,)`` the Bayes-mixture optimum's excess over the known-component loss (the
        expected KL from each component's prediction to the mixture's)."""
        return self.weights @ (self.bayes_mixture - self.own_optimum)

    @property
    def optimum_excess_stderr(self) -> np.ndarray:
        """``(n_ctx,)`` standard error of :attr:`optimum_excess` (components sampled apart)."""
        return np.sqrt((self.weights[:, None] ** 2 * self.excess_stderr**2).sum(0))


def _blocks(process: Process) -> list[slice]:
    return list(process.structure.blocks())


def _node_terms(process: Process, beliefs: np.ndarray, blocks: list[slice]):
    """For mixture beliefs ``(N, S)``: ``(posterior (N, K), own entropy (N, K), cross-entropy
    (N, K))`` in nats, the last two ``0`` where the component has posterior 0."""
    E, r = process.emission_probabilities, process.right_eigenvector
    p_mix = beliefs @ E  # (N, V)
    log_mix = np.log(np.where(p_mix > 0, p_mix, 1.0))
    post, own, ce = [], [], []
    for block in blocks:  # K blocks, not a hot path
        mass = beliefs[:, block] @ r[block]
        p_k = (beliefs[:, block] @ E[block]) / np.where(mass > 0, mass, 1.0)[:, None]
        log_k = np.log(np.where(p_k > 0, p_k, 1.0))
        post.append(mass)
        own.append(-(p_k * log_k).sum(-1))
        ce.append(-(p_k * log_mix).sum(-1))
    return np.stack(post, 1), np.stack(own, 1), np.stack(ce, 1)


def _exact(process: Process, n_ctx: int, bos: bool, max_nodes: int, weights: np.ndarray):
    first = 0 if bos else 1
    K = len(weights)
    own, bayes = np.zeros((K, n_ctx)), np.zeros((K, n_ctx))
    blocks = _blocks(process)
    for level in iter_belief_levels(process, first + n_ctx - 1, max_nodes=max_nodes):
        if level.depth < first:
            continue
        post, h, ce = _node_terms(process, level.beliefs, blocks)
        data_weight = level.probabilities[:, None] * post / weights[None, :]  # P(node | k)
        own[:, level.depth - first] = (data_weight * h).sum(0)
        bayes[:, level.depth - first] = (data_weight * ce).sum(0)
    return own, bayes


def _component_processes(process: Process, starts) -> list[Process]:
    """Each block of the mixture as a process of its own over the shared vocabulary."""
    r, out = process.right_eigenvector, []
    for block, (name, _, eta) in zip(_blocks(process), starts, strict=True):
        T = process.transition_matrices[:, block, block]
        if process.kind == "hmm":
            out.append(HMM(T, initial_distribution=eta[block], name=name))
        else:
            out.append(GHMM(T, initial_distribution=eta[block], right_eigenvector=r[block],
                            name=name))
    return out


def _prefix_predictions(comp: Process, tokens: np.ndarray, bos: bool):
    """``(P(next | prefix) (N, n_ctx, V), log P(prefix) (N, n_ctx))`` of one component on words
    ``(N, n)``, aligned with the input positions; 0 and ``-inf`` where the prefix is impossible."""
    E, eta0 = comp.emission_probabilities, comp.initial_distribution
    N = tokens.shape[0]
    first = eta0 @ E  # (V,)
    if tokens.shape[1]:
        f = filter_beliefs(comp, tokens, allow_impossible=True)
        probs = np.nan_to_num(f.beliefs @ E, nan=0.0)  # after x_1..x_t, t = 1..n
        prev = np.concatenate([np.broadcast_to(first, (N, 1, E.shape[1])), probs[:, :-1]], 1)
        step = np.take_along_axis(prev, tokens[..., None].astype(np.int64), -1)[..., 0]
        with np.errstate(divide="ignore"):
            log_prefix = np.cumsum(np.log(np.clip(step, 0.0, None)), axis=1)
    else:
        probs, log_prefix = np.zeros((N, 0, E.shape[1])), np.zeros((N, 0))
    if bos:
        probs = np.concatenate([np.broadcast_to(first, (N, 1, E.shape[1])), probs], 1)
        log_prefix = np.concatenate([np.zeros((N, 1)), log_prefix], 1)
    return probs, log_prefix


def _sampled(process: Process, n_ctx: int, bos: bool, num_samples: int, seed: int, starts):
    """Words from each component, filtered by every component (the mixture's prediction is the
    posterior-weighted sum of the components')."""
    n_words = n_ctx - 1 if bos else n_ctx
    comps = _component_processes(process, starts)
    K, N = len(comps), num_samples
    weights = np.array([w for _, w, _ in starts])
    tokens = [sample(c, N, n_words, seed=seed + k).tokens if n_words else
              np.zeros((N, 0), dtype=np.int32) for k, c in enumerate(comps)]
    tokens = np.concatenate(tokens, 0)  # (K N, n): component k's words in rows k N .. (k+1) N
    preds = [_prefix_predictions(c, tokens, bos) for c in comps]
    probs = np.stack([p for p, _ in preds])  # (K, K N, n_ctx, V)
    log_post = np.stack([lp for _, lp in preds]) + np.log(weights)[:, None, None]
    log_post -= log_post.max(0, keepdims=True)
    post = np.exp(log_post)
    post /= post.sum(0, keepdims=True)  # P(j | prefix)
    mixed = np.einsum("jnt,jntv->ntv", post, probs)
    log_mix = np.log(np.where(mixed > 0, mixed, 1.0))
    out = np.zeros((5, K, n_ctx))  # own, bayes, own_se, bayes_se, excess_se
    se = np.sqrt(1.0 / N)
    for k in range(K):  # K components, not a hot path
        rows = slice(k * N, (k + 1) * N)
        p_k = probs[k, rows]
        h = -(p_k * np.log(np.where(p_k > 0, p_k, 1.0))).sum(-1)  # (N, n_ctx)
        ce = -(p_k * log_mix[rows]).sum(-1)
        out[:, k] = (h.mean(0), ce.mean(0), h.std(0) * se, ce.std(0) * se, (ce - h).std(0) * se)
    return out


def mixture_loss_curves(process: Process, n_ctx: int, bos: bool = False, *, method: str = "auto",
                        num_samples: int = 20_000, seed: int = 0,
                        max_nodes: int = DEFAULT_MAX_LEVEL_NODES) -> MixtureCurves:
    """Each component's known-component and Bayes-mixture loss per position, at any context.

    Args:
        process: a mixture (:func:`compmech.mixture`, without its own BOS state).
        n_ctx: input positions ``>= 1``.
        bos: whether the first input is a beginning-of-sequence token (see the module docstring
            for the alignment).
        method: ``"exact"`` (merged belief levels; ``ValueError`` when a level would exceed
            ``max_nodes``), ``"sampled"``, or ``"auto"`` (exact when every level fits in
            ``min(max_nodes, AUTO_MAX_NODES)`` nodes, else sampled).
        num_samples: words sampled per component (``"sampled"``).
        seed: seed of the samples.
        max_nodes: cap on a level of the exact propagation.

    Returns:
        :class:`MixtureCurves` (nats).

    Raises:
        ValueError: not a mixture, bad ``n_ctx``/``method``/``num_samples``, or ``"exact"`` on a
            mixture whose levels outgrow ``max_nodes``.
    """
    if isinstance(n_ctx, bool) or int(n_ctx) != n_ctx or n_ctx < 1:
        raise ValueError(f"n_ctx must be an integer >= 1; got {n_ctx}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if isinstance(num_samples, bool) or int(num_samples) != num_samples or num_samples < 2:
        raise ValueError(f"num_samples must be an integer >= 2; got {num_samples}")
    n_ctx = int(n_ctx)
    starts = mixture_component_starts(process)  # ValueError when not a mixture
    names = tuple(n for n, _, _ in starts)
    weights = np.array([w for _, w, _ in starts])
    zeros = np.zeros((len(starts), n_ctx))
    if method in ("auto", "exact"):
        try:
            cap = max_nodes if method == "exact" else min(max_nodes, AUTO_MAX_NODES)
            own, bayes = _exact(process, n_ctx, bos, cap, weights)
            return MixtureCurves(names, weights, own, bayes, zeros, zeros, zeros, "exact")
        except ValueError as err:
            if method == "exact" or "max_nodes" not in str(err):
                raise
    own, bayes, own_se, bayes_se, excess_se = _sampled(process, n_ctx, bos, int(num_samples),
                                                          int(seed), starts)
    return MixtureCurves(names, weights, own, bayes, own_se, bayes_se, excess_se, "sampled",
                         int(num_samples))


# ------------------------------------------------------------------------------ induction score
class InductionScores(NamedTuple):
    """The induction score of every head (see the module docstring).

    Attributes:
        score: ``(..., H)`` baseline-corrected score, ``mean (m - u) / (1 - u)``; 1 = attends only
            to tokens that followed earlier copies of the current token, 0 = uniform attention.
        mass: ``(..., H)`` mean attention mass on those targets, ``mean m``.
        uniform_mass: the mean of ``u`` over the same queries (the mass uniform attention gives).
        num_queries: query positions (over the batch) with at least one target.
    """

    score: np.ndarray
    mass: np.ndarray
    uniform_mass: float
    num_queries: int


def induction_targets(tokens) -> np.ndarray:
    """``(B, P, P)`` bool: ``[b, t, s]`` is true when ``1 <= s < t`` and ``x_{s-1} = x_t``
    (position ``s`` holds the token that followed an earlier occurrence of ``x_t``)."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be (batch, positions); got shape {tokens.shape}")
    P = tokens.shape[1]
    same = np.zeros((tokens.shape[0], P, P), dtype=bool)
    same[:, :, 1:] = tokens[:, :, None] == tokens[:, None, :-1]  # x_t == x_{s-1}
    return same & np.tri(P, P, -1, dtype=bool)[None]  # s < t


def induction_scores(patterns, tokens, query_tokens=None) -> InductionScores:
    """The induction score of each head on ``tokens``.

    Args:
        patterns: ``(B, H, P, P)`` (or ``(B, P, P)`` for one head) causal attention patterns,
            ``[b, h, t, s]`` the weight query ``t`` gives key ``s`` (rows sum to 1), as
            :func:`transformer.attention_patterns` returns per layer.
        tokens: ``(B, P)`` the input tokens.
        query_tokens: optional tokens: only queries holding one of them count (e.g. the token
            before a name in the ``mr_name`` mixture).

    Returns:
        :class:`InductionScores` with ``score`` and ``mass`` of shape ``(H,)`` (``()`` for one
        head).

    Raises:
        ValueError: shapes disagree, a pattern row does not sum to 1 or looks ahead, or no query
            position has a target.
    """
    a = np.asarray(patterns, dtype=np.float64)
    single = a.ndim == 3
    if single:
        a = a[:, None]
    tokens = np.asarray(tokens)
    if a.ndim != 4 or a.shape[2] != a.shape[3] or tokens.shape != (a.shape[0], a.shape[2]):
        raise ValueError(f"patterns must be (B, H, P, P) and tokens (B, P); got {a.shape} and "
                         f"{tokens.shape}")
    P = a.shape[2]
    if not np.allclose(a.sum(-1), 1.0, atol=1e-3):
        raise ValueError("every attention row must sum to 1")
    if np.abs(a * ~np.tri(P, P, dtype=bool)).max(initial=0.0) > 1e-6:
        raise ValueError("attention patterns must be causal (zero above the diagonal)")
    targets = induction_targets(tokens)  # (B, P, P)
    count = targets.sum(-1)  # (B, P)
    ok = count > 0
    if query_tokens is not None:
        ok &= np.isin(tokens, np.asarray(query_tokens))
    if not ok.any():
        raise ValueError("no query position has an earlier copy of its token followed by another "
                         "token: the induction score is undefined on these inputs")
    u = count / np.arange(1, P + 1)[None, :]  # (B, P)
    m = np.einsum("bhts,bts->bht", a, targets)  # (B, H, P)
    norm = (m - u[:, None]) / (1.0 - u[:, None])
    w = ok[:, None, :]
    n = int(ok.sum())
    score = (norm * w).sum((0, 2)) / n
    mass = (m * w).sum((0, 2)) / n
    if single:
        score, mass = score[0], mass[0]
    return InductionScores(score, mass, float(u[ok].mean()), n)


def transition_step(steps, scores, *, min_rise: float = 0.1, min_fraction: float = 0.5):
    """The step at which a score over training jumps, or ``None`` when it does not.

    The jump is the largest rise between consecutive checkpoints; it counts as a transition when
    the score rises by at least ``min_rise`` overall (last minus first) and the jump carries at
    least ``min_fraction`` of that rise.

    Args:
        steps: ``(C,)`` increasing checkpoint steps.
        scores: ``(C,)`` the score at each.
        min_rise: smallest overall rise that counts.
        min_fraction: smallest share of the rise in one interval.

    Returns:
        ``(step, rise)``: the checkpoint step at the end of the jump and the jump's size, or
        ``None``.
    """
    steps = np.asarray(steps)
    scores = np.asarray(scores, dtype=np.float64)
    if steps.ndim != 1 or steps.shape != scores.shape or steps.size < 2:
        raise ValueError("steps and scores must be 1-D of the same length >= 2")
    rise = float(scores[-1] - scores[0])
    jumps = np.diff(scores)
    i = int(np.argmax(jumps))
    if rise < min_rise or jumps[i] < min_fraction * rise:
        return None
    return int(steps[i + 1]), float(jumps[i])


__all__ = ["InductionScores", "METHODS", "MixtureCurves", "induction_scores", "induction_targets",
           "mixture_loss_curves", "transition_step"]
