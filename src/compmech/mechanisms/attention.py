"""Attention analysis: how fast does each head's attention decay with distance?

Piotrowski et al. (2025) read the first attention layer of a transformer trained on Mess3 as a
constrained belief update in which token ``s`` reaches position ``t`` with weight ``~ rho^(t - s)``.
Two theory values are reported beside every fit: ``lambda``, the repeated non-unit eigenvalue of
``M = sum_x T[x]`` (:mod:`compmech.spectrum`; the weak-emission limit of the update), and ``rho*``,
the single decay with which a constrained update best reconstructs the belief
(:func:`compmech.constrained_decay`; shorter than ``lambda`` when emissions are informative).

**The mean pattern.** For every layer and head, ``A(t, s) = sum_w P(w) A_w(t, s)``, the attention
of the model on input ``w`` averaged with the word probabilities over every input of length
``n_ctx`` (:func:`compmech.enumerate_words`; a seeded sample with equal weights when there are more
than :data:`MAX_ATTENTION_WORDS`). With a BOS token the BOS column is dropped and the rows
renormalised (the theory has no BOS position).

**The fit.** Only the entries ``1 <= s < t`` are fitted: the diagonal ``s = t`` is excluded (the
current token also arrives through the residual stream, so a head may give it any weight) and so is
the first position ``s = 0`` (attention sinks). On the log scale, with a free offset per row (rows
are normalised over entries the fit does not see),

    log A(t, s) = c_t + (t - s) log rho        (distances t - s >= 1, of the parity's kind),

by ordinary least squares: ``log rho = sum (k - k_bar_t)(y - y_bar_t) / sum (k - k_bar_t)^2`` with
``k = t - s``, ``y = log A(t, s)`` and the bars the row means (rows with at least two entries count).
A softmax pattern is non-negative, so a head can realise ``|lambda|^(t - s)`` at best; a negative
``lambda`` asks for two heads, one on even and one on odd distances (Shai, pre-registered
prediction, 2024): the parities ``"even"`` and ``"odd"`` fit those distances only. In the
``"all"`` fit entries below :data:`LOG_FLOOR` count as ``LOG_FLOOR`` (a mean softmax is positive;
exact zeros come from planted patterns, and must count against an all-distance decay).
**explained** is the within-row ``R^2`` of the log fit (``1 - RSS / TSS``, TSS about the row
means): how straight log attention is in distance. **rate_misfit** is the least-squares standard
error of ``rho`` (``rho * se(log rho)``). The mean pattern is exact (no sampling noise), so this is
a misfit of the geometric model, **not** an uncertainty of a network's decay: only the spread over
seeds (:func:`seed_spread`) is that. ``diagonal_log_excess`` and ``sink_log_excess`` are the mean
``log A - fit`` on the excluded diagonal and first column (a spike and a sink read as positive).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from compmech.decay import constrained_decay
from compmech.formatting import fmt
from compmech.inference import enumerate_words, sample
from compmech.records import Record
from compmech.spectrum import nonunit_eigenvalues
from transformer import Run, attention_patterns

#: Parities of the decay model (see the module docstring).
PARITIES = ("all", "even", "odd")
#: Inputs enumerated (all words, weighted by probability) up to this many; else sampled.
MAX_ATTENTION_WORDS = 1_000_000
#: Sequences per compiled call.
ATTENTION_BATCH = 256


# -------------------------------------------------------------------------------- the model
def decay_pattern(rate: float, positions: int, parity: str = "all") -> np.ndarray:
    """The row-normalised decay model ``A_hat (P, P)`` (zero above the diagonal).

    Row ``t`` is ``rate^(t - s) m(t - s)`` over ``s <= t``, normalised to sum 1; a row with no
    admissible entry (row 0 for parity ``"odd"``) is zero.

    Args:
        rate: ``rho > 0``.
        positions: ``P``.
        parity: ``"all"``, ``"even"`` or ``"odd"``.
    """
    return _decay_pattern_log(math.log(_check_rate(rate)), positions, parity)


def _check_rate(rate: float) -> float:
    rate = float(rate)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"the decay rate must be a finite number > 0; got {rate}")
    return rate


def _parity_mask(positions: int, parity: str) -> np.ndarray:
    """``(P, P)`` bool: entries ``s <= t`` whose distance ``t - s`` the parity admits."""
    if parity not in PARITIES:
        raise ValueError(f"parity must be one of {PARITIES}; got {parity!r}")
    t, s = np.indices((positions, positions))
    k = t - s
    mask = k >= 0
    if parity == "even":
        mask &= k % 2 == 0
    elif parity == "odd":
        mask &= k % 2 == 1
    return mask


def _decay_pattern_log(log_rate, positions: int, parity: str) -> np.ndarray:
    """:func:`decay_pattern` for ``log rho`` (a number, or an array ``(G,)`` -> ``(G, P, P)``)."""
    u = np.asarray(log_rate, dtype=np.float64)
    mask = _parity_mask(positions, parity)
    k = np.subtract.outer(np.arange(positions), np.arange(positions)).astype(np.float64)
    logits = np.where(mask, u[..., None, None] * k, -np.inf)
    top = logits.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.exp(logits - top)
    total = weights.sum(axis=-1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


# ---------------------------------------------------------------------------------- the fit
@dataclass
class DecayFit(Record):
    """A log-scale fit of ``A(t, s) ~ rho^(t - s)`` to one ``(P, P)`` attention pattern (module
    docstring).

    Attributes:
        parity: ``"all"``, ``"even"`` or ``"odd"`` (the distances fitted).
        rate: the fitted ``rho`` (compare with ``|lambda|`` and ``rho*``); NaN (``null`` in JSON)
            when no row holds two fitted entries (``P < 4``).
        rate_misfit: least-squares standard error of ``rho`` from the residuals: a misfit of the
            geometric model, not an uncertainty (the pattern is exact); NaN without residual
            degrees of freedom.
        rate_rows: ``rho`` fitted to each row ``t`` alone (rows with at least two entries).
        rate_rows_std: standard deviation of ``rate_rows`` (0 for fewer than two rows).
        explained: within-row ``R^2`` of the log fit (``None`` when log attention is flat).
        rmse: root mean squared residual of ``log A`` over the fitted entries.
        num_entries: fitted entries.
        diagonal_log_excess: mean ``log A(t, t)`` minus the fit's extrapolation (``None`` for the
            ``"odd"`` parity or no row).
        sink_log_excess: mean ``log A(t, 0)`` minus the fit's extrapolation over the rows
            ``t >= 2`` whose distance ``t`` the parity admits (``None`` if none).
    """

    parity: str
    rate: float | None
    rate_misfit: float | None
    rate_rows: list[float]
    rate_rows_std: float
    explained: float | None
    rmse: float
    num_entries: int
    diagonal_log_excess: float | None = None
    sink_log_excess: float | None = None


#: In the all-distance fit, attention below this counts as this (see the module docstring).
LOG_FLOOR = 1e-8


def _check_pattern(pattern) -> np.ndarray:
    pattern = np.asarray(pattern, dtype=np.float64)
    if pattern.ndim != 2 or pattern.shape[0] != pattern.shape[1] or pattern.shape[0] < 2:
        raise ValueError(f"an attention pattern must be (P, P) with P >= 2; got {pattern.shape}")
    if not np.all(np.isfinite(pattern)):
        raise ValueError("the attention pattern has non-finite entries")
    return pattern


def fit_entries(positions: int, parity: str) -> np.ndarray:
    """``(P, P)`` bool: the entries the fit uses, ``1 <= s < t`` with ``t - s`` of the parity."""
    t, s = np.indices((positions, positions))
    return _parity_mask(positions, parity) & (s >= 1) & (s < t)


def _log_pattern(pattern: np.ndarray, mask: np.ndarray, parity: str) -> tuple[np.ndarray, np.ndarray]:
    """``log A`` and the mask of usable entries (non-positive entries dropped from a parity fit,
    floored at :data:`LOG_FLOOR` in the all-distance fit)."""
    if parity == "all":
        return np.log(np.maximum(pattern, LOG_FLOOR)), mask
    usable = mask & (pattern > 0)
    return np.log(np.where(usable, pattern, 1.0)), usable


def _within_row_slope(y: np.ndarray, k: np.ndarray, mask: np.ndarray):
    """Least-squares slope of ``y`` on ``k`` with a free offset per row, over ``mask``.

    Returns ``(slope, residuals (P, P) zero off the mask, sxx, tss, rows)`` with ``rows`` the rows
    holding at least two entries."""
    n = mask.sum(axis=1)
    rows = n >= 2
    use = mask & rows[:, None]
    safe_n = np.maximum(n, 1)[:, None]
    k_bar = np.where(use, k, 0.0).sum(1, keepdims=True) / safe_n
    y_bar = np.where(use, y, 0.0).sum(1, keepdims=True) / safe_n
    dk = np.where(use, k - k_bar, 0.0)
    dy = np.where(use, y - y_bar, 0.0)
    sxx = float((dk**2).sum())
    slope = float((dk * dy).sum() / sxx) if sxx > 0 else 0.0
    resid = np.where(use, dy - slope * dk, 0.0)
    return slope, resid, sxx, float((dy**2).sum()), np.flatnonzero(rows)


def _log_excess(y: np.ndarray, k: np.ndarray, resid_offsets: np.ndarray, slope: float,
                where: np.ndarray) -> float | None:
    """Mean ``y - (c_t + slope k)`` over ``where`` (``resid_offsets`` holds each row's ``c_t``)."""
    if not where.any():
        return None
    pred = resid_offsets[:, None] + slope * k
    return float(np.mean((y - pred)[where]))


def fit_decay(pattern, parity: str = "all") -> DecayFit:
    """Fit ``log A(t, s) = c_t + (t - s) log rho`` over ``1 <= s < t`` (module docstring).

    Args:
        pattern: ``(P, P)`` attention pattern (rows ``t``, columns ``s``), ``P >= 2``.
        parity: ``"all"``, ``"even"`` or ``"odd"`` distances.

    Returns:
        :class:`DecayFit`.

    Example:
        >>> fit = fit_decay(decay_pattern(0.7, 10))
        >>> round(fit.rate, 6), round(fit.explained, 6)
        (0.7, 1.0)
    """
    pattern = _check_pattern(pattern)
    P = pattern.shape[0]
    k = np.subtract.outer(np.arange(P), np.arange(P)).astype(np.float64)
    y, mask = _log_pattern(pattern, fit_entries(P, parity), parity)
    slope, resid, sxx, tss, rows = _within_row_slope(y, k, mask)
    used = mask & np.isin(np.arange(P), rows)[:, None]
    n_entries = int(used.sum())
    rss = float((resid**2).sum())
    dof = n_entries - rows.size - 1
    rate = math.exp(slope) if rows.size else math.nan  # no row with two entries: nothing to fit
    misfit = rate * math.sqrt(rss / dof / sxx) if dof > 0 and sxx > 0 else math.nan
    per_row = []
    for t in rows:  # at most n_ctx rows
        row_slope = _within_row_slope(y, k, used & (np.arange(P) == t)[:, None])[0]
        per_row.append(math.exp(row_slope))
    offsets = np.zeros(P)
    n = np.maximum(used.sum(1), 1)
    offsets[rows] = ((np.where(used, y - slope * k, 0.0).sum(1)) / n)[rows]
    has_row = np.isin(np.arange(P), rows)
    y_all = np.log(np.maximum(pattern, LOG_FLOOR))
    diag = np.eye(P, dtype=bool) & has_row[:, None] & (parity != "odd")
    sink = np.zeros((P, P), dtype=bool)
    sink[:, 0] = has_row & _parity_mask(P, parity)[:, 0]
    return DecayFit(
        parity=parity, rate=rate, rate_misfit=misfit, rate_rows=per_row,
        rate_rows_std=float(np.std(per_row, ddof=1)) if len(per_row) > 1 else 0.0,
        explained=1.0 - rss / tss if tss > 1e-24 else None,
        rmse=math.sqrt(rss / n_entries) if n_entries else math.nan, num_entries=n_entries,
        diagonal_log_excess=_log_excess(y_all, k, offsets, slope, diag),
        sink_log_excess=_log_excess(y_all, k, offsets, slope, sink))


def distance_profile(pattern) -> np.ndarray:
    """``(P,)`` the mean attention at each distance ``k = t - s``: the average of ``A(t, t - k)``
    over the rows ``t >= max(k, 1)`` (the rows the fit uses; row 0 only holds ``k = 0`` = 1)."""
    pattern = _check_pattern(pattern)
    P = pattern.shape[0]
    out = np.empty(P)
    for k in range(P):  # P <= n_ctx values: a loop over distances, not over data
        t = np.arange(max(k, 1), P)
        out[k] = pattern[t, t - k].mean() if t.size else np.nan
    return out


# ------------------------------------------------------------------------------ the patterns
@dataclass(frozen=True)
class AttentionInputs:
    """The inputs the mean pattern averages over: model tokens ``(N, n_ctx)``, weights ``(N,)``
    summing to 1, ``"enumerated"`` or ``"sampled"``, and the first process position (1 with BOS)."""

    tokens: np.ndarray
    weights: np.ndarray
    protocol: str
    first_position: int


def attention_inputs(run: Run, *, max_words: int = MAX_ATTENTION_WORDS,
                     num_sequences: int = 20_000, seed: int = 0) -> AttentionInputs:
    """Every word of the run's context length with its probability, or a seeded sample."""
    hmm, mc = run.hmm, run.model_config
    bos = run.bos_token is not None
    n_words = mc.n_ctx - 1 if bos else mc.n_ctx
    if n_words < 2:
        raise ValueError("the attention fit needs at least 2 process positions")
    if hmm.vocab_size**n_words <= max_words:
        words, probs = enumerate_words(hmm, n_words)
        keep = probs > 0
        words, weights, protocol = words[keep], probs[keep] / probs[keep].sum(), "enumerated"
    else:
        words = sample(hmm, num_sequences, n_words, seed=seed).tokens
        weights, protocol = np.full(words.shape[0], 1.0 / words.shape[0]), "sampled"
    tokens = run.model_inputs(words).astype(np.int32)
    return AttentionInputs(tokens, weights, protocol, 1 if bos else 0)


@functools.lru_cache(maxsize=16)
def _weighted_patterns_fn(model_config):
    def fn(params, tokens, weights):
        pats = attention_patterns(params, model_config, tokens)
        return {layer: jnp.einsum("b,bhts->hts", weights, p) for layer, p in pats.items()}

    return jax.jit(fn)


def mean_attention(params, model_config, tokens, weights,
                   batch_size: int = ATTENTION_BATCH) -> dict[int, np.ndarray]:
    """``{layer: (n_heads, P, P)}`` the attention patterns averaged with ``weights (N,)``.

    Chunks of ``batch_size`` sequences (the last padded with zero weight) are reduced on the
    device; the chunk sums are added in float64.
    """
    tokens = np.asarray(tokens, dtype=np.int32)
    weights = np.asarray(weights, dtype=np.float64)
    if tokens.ndim != 2 or weights.shape != (tokens.shape[0],):
        raise ValueError(f"tokens (N, P) and weights (N,) expected; got {tokens.shape} and "
                         f"{weights.shape}")
    fn = _weighted_patterns_fn(model_config)
    n = tokens.shape[0]
    b = max(1, min(int(batch_size), n))
    total: dict[int, np.ndarray] = {}
    for start in range(0, n, b):
        tok = tokens[start:start + b]
        w = weights[start:start + b]
        if tok.shape[0] < b:
            pad = b - tok.shape[0]
            tok = np.concatenate([tok, np.repeat(tok[:1], pad, axis=0)])
            w = np.concatenate([w, np.zeros(pad)])
        for layer, value in fn(params, tok, w.astype(np.float32)).items():
            total[layer] = total.get(layer, 0.0) + np.asarray(value, dtype=np.float64)
    return total


def process_positions(pattern: np.ndarray, first: int) -> np.ndarray:
    """``pattern (..., P, P)`` without the first ``first`` positions (a BOS), rows renormalised."""
    sub = np.asarray(pattern, dtype=np.float64)[..., first:, first:]
    total = sub.sum(axis=-1, keepdims=True)
    return np.divide(sub, total, out=np.zeros_like(sub), where=total > 0)


# --------------------------------------------------------------------------------- the report
@dataclass
class HeadAttention(Record):
    """One head: its mean attention by distance and the decay fits.

    Attributes:
        layer, head: indices (0-based).
        profile: :func:`distance_profile` of the mean pattern, distances ``0..P-1``.
        fit: the parity-``"all"`` fit (``rho`` vs ``|lambda|``).
        parity_fits: the ``"even"`` and ``"odd"`` fits.
        best_parity: the parity whose fit explains most.
    """

    layer: int
    head: int
    profile: list[float]
    fit: DecayFit
    parity_fits: dict[str, DecayFit]
    best_parity: str


@dataclass
class AttentionReport(Record):
    """``RUN_DIR/mechanisms/attention.json``.

    Attributes:
        run_dir, process, process_params, model, step: the run and checkpoint analysed.
        theory_eigenvalues: the non-unit eigenvalues of ``M`` as ``[re, im]`` pairs.
        theory_lambda: the leading one's real part (signed).
        theory_rho_star: ``rho*`` of :func:`compmech.constrained_decay` (belief MSE; stationary
            weighting, i.e. words weighted by probability like the mean pattern), on a 0.005 grid.
        theory_rho_star_cross_entropy: the decay whose read-out gives the smallest next-token KL.
        rho_star_n_ctx: the word length ``rho*`` was computed at (the process positions, capped
            so that ``V**n <=`` :data:`RHO_STAR_MAX_WORDS`); ``None`` when not computed.
        inputs: ``"enumerated"`` (every word, weighted by probability) or ``"sampled"``.
        num_sequences: inputs averaged over.
        first_position: process positions start here (1 with BOS, whose column is dropped).
        heads: every head of every layer.
        fit_definition: the module docstring's summary of the fit.
    """

    run_dir: str
    process: str
    process_params: dict[str, Any]
    model: dict[str, Any]
    step: int
    theory_eigenvalues: list[list[float]]
    theory_lambda: float | None
    inputs: str
    num_sequences: int
    first_position: int
    heads: list[HeadAttention]
    fit_definition: str = ""
    theory_rho_star: float | None = None
    theory_rho_star_cross_entropy: float | None = None
    rho_star_n_ctx: int | None = None

    def head(self, layer: int, head: int) -> HeadAttention:
        for h in self.heads:
            if h.layer == layer and h.head == head:
                return h
        raise KeyError(f"no head {head} in layer {layer}")


FIT_DEFINITION = ("mean pattern over all inputs weighted by probability; per head, least squares of "
                  "log A(t, s) = c_t + (t - s) log rho over 1 <= s < t (diagonal and first position "
                  "excluded; all distances, or even / odd only); explained = within-row R^2 of the "
                  "log fit; rate_misfit = least-squares error of the geometric model (a misfit, not "
                  "an uncertainty: use the spread over seeds); rate_rows = per-row fits")
#: ``rho*`` is computed on words of length ``n`` with ``V**n`` at most this.
RHO_STAR_MAX_WORDS = 60_000


def theory_rho_star(hmm, n_positions: int, *, max_words: int = RHO_STAR_MAX_WORDS):
    """``(rho*, rho* by next-token KL, n)`` of :func:`compmech.constrained_decay` for a process
    whose words have ``n_positions`` tokens (``n`` capped so that ``V**n <= max_words``;
    stationary weighting; a 0.025 grid refined to 0.005 around each optimum). ``(None, None,
    None)`` when ``n < 2``."""
    n = min(int(n_positions), int(math.floor(math.log(max_words) / math.log(hmm.vocab_size))))
    if n < 2:
        return None, None, None
    T = np.ascontiguousarray(hmm.transition_matrices, dtype=np.float64)
    key = (T.shape, T.tobytes(), n)  # the same process again (seeds, heads): computed once
    if key not in _RHO_STAR_CACHE:
        _RHO_STAR_CACHE[key] = _rho_star(hmm, n)
    return _RHO_STAR_CACHE[key]


_RHO_STAR_CACHE: dict = {}


def _rho_star(hmm, n: int):
    coarse = constrained_decay(hmm, n, weighting="stationary")
    fine = np.unique(np.clip(np.concatenate(
        [c + np.arange(-5, 6) * 0.005 for c in (coarse.rho, coarse.rho_cross_entropy)]), 0.005, 1.0))
    refined = constrained_decay(hmm, n, weighting="stationary", rho_grid=np.round(fine, 3))
    return refined.rho, refined.rho_cross_entropy, n


def head_attention(pattern: np.ndarray, layer: int, head: int) -> HeadAttention:
    """Fits and profile of one head's mean pattern ``(P, P)``."""
    parity_fits = {p: fit_decay(pattern, p) for p in ("even", "odd")}
    fit = fit_decay(pattern, "all")
    candidates = {"all": fit, **parity_fits}
    best = max(candidates, key=lambda p: -math.inf if candidates[p].explained is None
               else candidates[p].explained)
    return HeadAttention(layer, head, distance_profile(pattern).tolist(), fit, parity_fits, best)


def analyze_attention(run: Run, *, step: int | None = None, seed: int = 0,
                      max_words: int = MAX_ATTENTION_WORDS,
                      num_sequences: int = 20_000, with_rho_star: bool = True
                      ) -> tuple[AttentionReport, dict[int, np.ndarray]]:
    """The attention analysis of a run (nothing written); ``with_rho_star=False`` skips
    :func:`theory_rho_star` (it enumerates up to :data:`RHO_STAR_MAX_WORDS` words).

    Returns:
        ``(report, {layer: (n_heads, P', P') mean pattern over the process positions})``.
    """
    step = run.checkpoint_steps[-1] if step is None else int(step)
    inputs = attention_inputs(run, max_words=max_words, num_sequences=num_sequences, seed=seed)
    means = mean_attention(run.load_params(step), run.model_config, inputs.tokens, inputs.weights)
    means = {layer: process_positions(m, inputs.first_position) for layer, m in means.items()}
    heads = [head_attention(m[h], layer, h) for layer, m in means.items() for h in range(m.shape[0])]
    eig = nonunit_eigenvalues(run.hmm)
    n_positions = inputs.tokens.shape[1] - inputs.first_position
    rho_star, rho_star_ce, rho_n = theory_rho_star(run.hmm, n_positions) if with_rho_star else (
        None, None, None)
    report = AttentionReport(
        run_dir=str(run.run_dir), process=run.hmm.name, process_params=dict(run.hmm.params),
        model=run.model_config.to_dict(), step=step,
        theory_eigenvalues=[[float(e.real), float(e.imag)] for e in eig],
        theory_lambda=float(eig[0].real) if eig.size else None, inputs=inputs.protocol,
        num_sequences=int(inputs.tokens.shape[0]), first_position=inputs.first_position,
        heads=heads, fit_definition=FIT_DEFINITION, theory_rho_star=rho_star,
        theory_rho_star_cross_entropy=rho_star_ce, rho_star_n_ctx=rho_n)
    return report, means


def theory_text(report: AttentionReport) -> str:
    """One line: ``lambda`` (and the other non-unit eigenvalues) beside ``rho*``."""
    lam = report.theory_lambda
    if lam is None:
        return "theory: no non-unit eigenvalue"
    text = (f"theory lambda {lam:+.4f} (|lambda| {abs(lam):.4f}; weak-emission limit); non-unit "
            "eigenvalues " + ", ".join(f"{re:+.4f}" + (f"{im:+.4f}i" if abs(im) > 1e-12 else "")
                                       for re, im in report.theory_eigenvalues))
    if report.theory_rho_star is not None:
        text += (f"; constrained-update rho* {report.theory_rho_star:.3f} (belief MSE; "
                 f"{report.theory_rho_star_cross_entropy:.3f} by next-token KL; words of "
                 f"{report.rho_star_n_ctx})")
    return text


def attention_lines(report: AttentionReport) -> list[str]:
    """The per-head table, as printed lines."""
    lines = [theory_text(report),
             f"{'layer':>5} {'head':>4} {'rho (all)':>10} {'misfit':>8} {'rows std':>8} "
             f"{'explained':>9} {'diag':>6} {'sink':>6}  {'best parity':>11} {'rho':>7} "
             f"{'explained':>9}"]
    for h in report.heads:
        b = h.fit if h.best_parity == "all" else h.parity_fits[h.best_parity]
        lines.append(f"{h.layer:>5} {h.head:>4} {fmt(h.fit.rate, '.4f'):>10} "
                     f"{fmt(h.fit.rate_misfit, '.4f'):>8} "
                     f"{h.fit.rate_rows_std:>8.4f} {fmt(h.fit.explained, '.3f'):>9} "
                     f"{fmt(h.fit.diagonal_log_excess, '+.2f'):>6} "
                     f"{fmt(h.fit.sink_log_excess, '+.2f'):>6}  "
                     f"{h.best_parity:>11} {fmt(b.rate, '.4f'):>7} {fmt(b.explained, '.3f'):>9}")
    lines.append("misfit: least-squares error of the geometric model (not an uncertainty); diag, "
                 "sink: mean log excess of the excluded diagonal and first position over the fit")
    return lines


@dataclass
class DecaySpread(Record):
    """A decay over seeds: one layer's ``rank``-th fastest head (head indices are arbitrary
    across seeds, so heads are matched by the rank of their all-distance ``rho`` in the layer).

    Attributes:
        layer, rank: the layer and the head's rank (0: smallest ``rho``).
        rates: ``rho`` of each run, in the order given.
        mean, std: their mean and sample standard deviation (``ddof = 1``; ``None`` for one run).
    """

    layer: int
    rank: int
    rates: list[float]
    mean: float
    std: float | None


def seed_spread(reports) -> list[DecaySpread]:
    """Mean and spread of each layer's head decays over runs (e.g. seeds) of the same model.

    Raises:
        ValueError: no reports, or runs whose layers hold different numbers of heads.
    """
    reports = list(reports)
    if not reports:
        raise ValueError("seed_spread needs at least one attention report")
    shapes = {tuple(sorted((h.layer, h.head) for h in r.heads)) for r in reports}
    if len(shapes) != 1:
        raise ValueError("the runs have different layers or heads; their decays cannot be pooled")
    layers = sorted({h.layer for h in reports[0].heads})
    out = []
    for layer in layers:
        ranked = [sorted(_rate(h.fit) for h in r.heads if h.layer == layer) for r in reports]
        for rank in range(len(ranked[0])):
            rates = [float(r[rank]) for r in ranked]
            out.append(DecaySpread(layer, rank, rates, float(np.mean(rates)),
                                   float(np.std(rates, ddof=1)) if len(rates) > 1 else None))
    return out


def _rate(fit: DecayFit) -> float:
    """The fit's ``rho``, NaN where it was not fittable (NaNs sort last)."""
    return math.nan if fit.rate is None else float(fit.rate)


def spread_lines(spreads: list[DecaySpread]) -> list[str]:
    """The seed-spread table, as printed lines."""
    n = len(spreads[0].rates) if spreads else 0
    lines = [f"decay over {n} run(s) (heads matched by rank within a layer): mean +- std over seeds"]
    for d in spreads:
        std = "n/a (one run)" if d.std is None else f"{d.std:.4f}"
        lines.append(f"  layer {d.layer} head rank {d.rank}: rho {d.mean:.4f} +- {std}  "
                     f"({', '.join(f'{r:.3f}' for r in d.rates)})")
    return lines


__all__ = [
    "AttentionInputs",
    "AttentionReport",
    "DecayFit",
    "DecaySpread",
    "HeadAttention",
    "PARITIES",
    "analyze_attention",
    "attention_inputs",
    "attention_lines",
    "decay_pattern",
    "distance_profile",
    "fit_decay",
    "fit_entries",
    "head_attention",
    "mean_attention",
    "process_positions",
    "seed_spread",
    "spread_lines",
    "theory_rho_star",
    "theory_text",
]
