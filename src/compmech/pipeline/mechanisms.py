"""Attention analysis: does each head's attention decay like ``lambda^(t - s)``?

Piotrowski et al. (2025) predict that the first attention layer of a transformer trained on Mess3
gives position ``t`` a pattern over earlier positions ``s`` proportional to ``lambda^(t - s)``,
where ``lambda`` is the non-unit eigenvalue of ``M = sum_x T[x]`` (:mod:`compmech.spectrum`).

**The mean pattern.** For every layer and head, ``A(t, s) = sum_w P(w) A_w(t, s)``, the attention
of the model on input ``w`` averaged with the word probabilities over every input of length
``n_ctx`` (:func:`compmech.enumerate_words`; a seeded sample with equal weights when there are more
than :data:`MAX_ATTENTION_WORDS`). Rows still sum to 1. With a BOS token the BOS column is dropped
and the rows renormalised (the theory has no BOS position).

**The fit.** A softmax pattern is non-negative, so a head can only realise ``|lambda|^(t - s)``:
the sign of a negative ``lambda`` (Mess3 with ``x > 1/3``) must come from elsewhere, e.g. from
splitting the even and the odd distances over two heads whose outputs enter with opposite signs
(Shai, pre-registered prediction on LessWrong, 2024). So a head's pattern is fitted by the
one-parameter, row-normalised model

    A_hat(t, s) = rho^(t - s) m(t - s) / sum_{s' <= t} rho^(t - s') m(t - s'),

with ``m`` = 1 (parity ``"all"``), ``m(k) = [k even]`` or ``m(k) = [k odd]``: ``rho`` is chosen by
least squares over every entry of the rows ``t >= 1`` (row 0 is 1 for every model;
``rho`` searched on a log grid in ``[e^-10, e^10]`` and refined with a bounded scalar minimiser).
``rho = 1`` is the uniform (causal mean) pattern, so the **explained fraction**
``1 - RSS / TSS`` with ``TSS = sum (A(t, s) - 1/(t + 1))^2`` is the share of the pattern's
departure from uniform attention that the fit accounts for (at least 0 for parity ``"all"``).
**Uncertainty**: the Gauss-Newton standard error ``sqrt(RSS / (n - 1) / sum J^2)`` with
``J = d A_hat / d rho = A_hat (k - k_bar_t) / rho`` (``k = t - s``, ``k_bar_t`` the row's mean
distance under ``A_hat``, ``n`` the free entries: each fitted row minus one for its sum), which
measures misfit (the mean pattern is exact, so there is no sampling noise); and the spread of
``rho`` fitted to each row alone (``rate_rows``). The theory is compared through ``|lambda|``
and the parity: ``lambda > 0`` predicts parity ``"all"`` with ``rho = lambda``; ``lambda < 0``
predicts ``rho = |lambda|`` on even and odd distances in two heads.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize_scalar

from compmech.inference import enumerate_words, sample
from compmech.pipeline.records import Record
from compmech.spectrum import nonunit_eigenvalues
from transformer import Run, attention_patterns

#: Parities of the decay model (see the module docstring).
PARITIES = ("all", "even", "odd")
#: Inputs enumerated (all words, weighted by probability) up to this many; else sampled.
MAX_ATTENTION_WORDS = 1_000_000
#: Sequences per compiled call.
ATTENTION_BATCH = 256
#: ``log rho`` search interval and grid.
LOG_RATE_BOUND = 10.0
LOG_RATE_GRID = 401


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
    """A fit of ``A_hat`` (see the module docstring) to one ``(P, P)`` attention pattern.

    Attributes:
        parity: ``"all"``, ``"even"`` or ``"odd"``.
        rate: the fitted ``rho`` (compare with ``|lambda|``).
        rate_se: its Gauss-Newton standard error.
        rate_rows: ``rho`` fitted to each row ``t`` alone (rows with at least two admissible
            entries), in row order.
        rate_rows_std: standard deviation of ``rate_rows`` (0 for fewer than two rows).
        explained: ``1 - RSS / TSS`` (TSS about the uniform pattern).
        rmse: root mean squared residual over the fitted entries.
        num_entries: fitted entries.
    """

    parity: str
    rate: float
    rate_se: float
    rate_rows: list[float]
    rate_rows_std: float
    explained: float | None
    rmse: float
    num_entries: int


def _check_pattern(pattern) -> np.ndarray:
    pattern = np.asarray(pattern, dtype=np.float64)
    if pattern.ndim != 2 or pattern.shape[0] != pattern.shape[1] or pattern.shape[0] < 2:
        raise ValueError(f"an attention pattern must be (P, P) with P >= 2; got {pattern.shape}")
    if not np.all(np.isfinite(pattern)):
        raise ValueError("the attention pattern has non-finite entries")
    return pattern


def _row_rss(log_rate, pattern: np.ndarray, parity: str) -> np.ndarray:
    """``(..., P)`` squared residual of each row over its causal entries (every ``s <= t``, whatever
    the parity: entries the parity excludes must be near zero), for ``log rho`` of shape ``(...)``."""
    P = pattern.shape[0]
    model = _decay_pattern_log(log_rate, P, parity)
    causal = np.tril(np.ones((P, P), dtype=bool))
    return np.where(causal, (pattern - model) ** 2, 0.0).sum(axis=-1)


def _fitted_entries(positions: int, rows: np.ndarray) -> np.ndarray:
    """``(P, P)`` bool: the causal entries of the fitted rows."""
    t, s = np.indices((positions, positions))
    return (s <= t) & np.isin(t, rows)


def _best_log_rate(pattern: np.ndarray, rows: np.ndarray, parity: str) -> float:
    """Least-squares ``log rho`` over the rows ``rows``: a grid, then a bounded minimiser between
    the grid neighbours of the best grid point."""
    grid = np.linspace(-LOG_RATE_BOUND, LOG_RATE_BOUND, LOG_RATE_GRID)
    losses = _row_rss(grid, pattern, parity)[:, rows].sum(axis=1)
    i = int(np.argmin(losses))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]

    def loss(u: float) -> float:
        return float(_row_rss(u, pattern, parity)[rows].sum())

    res = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    return float(res.x) if res.fun <= losses[i] else float(grid[i])


def _admissible_rows(positions: int, parity: str, minimum: int) -> np.ndarray:
    counts = _parity_mask(positions, parity).sum(axis=1)
    rows = np.arange(positions)
    return rows[(rows >= 1) & (counts >= minimum)]


def fit_decay(pattern, parity: str = "all") -> DecayFit:
    """Fit ``A_hat(t, s) ∝ rho^(t - s) m(t - s)`` to one attention pattern (module docstring).

    Args:
        pattern: ``(P, P)`` attention pattern (rows ``t``, columns ``s``; rows sum to 1).
        parity: ``"all"``, ``"even"`` or ``"odd"``.

    Returns:
        :class:`DecayFit`.

    Example:
        >>> fit = fit_decay(decay_pattern(0.7, 10))
        >>> round(fit.rate, 6), round(fit.explained, 6)
        (0.7, 1.0)
    """
    pattern = _check_pattern(pattern)
    P = pattern.shape[0]
    rows = _admissible_rows(P, parity, minimum=1)
    log_rate = _best_log_rate(pattern, rows, parity)
    rate = math.exp(log_rate)
    model = _decay_pattern_log(log_rate, P, parity)
    fitted = _fitted_entries(P, rows)
    resid = np.where(fitted, pattern - model, 0.0)
    rss = float((resid**2).sum())
    uniform = np.tril(np.ones((P, P))) / np.arange(1, P + 1)[:, None]
    tss = float(np.where(fitted, (pattern - uniform) ** 2, 0.0).sum())
    n_entries = int(fitted.sum())
    free = n_entries - rows.size
    k = np.subtract.outer(np.arange(P), np.arange(P)).astype(np.float64)
    k_bar = (model * np.where(k >= 0, k, 0.0)).sum(axis=1, keepdims=True)
    jac = np.where(fitted, model * (k - k_bar) / rate, 0.0)
    jj = float((jac**2).sum())
    se = math.sqrt(rss / max(free - 1, 1) / jj) if jj > 0 else math.inf
    per_row = [math.exp(_best_log_rate(pattern, np.array([t]), parity))
               for t in _admissible_rows(P, parity, minimum=2)]
    return DecayFit(
        parity=parity, rate=rate, rate_se=se, rate_rows=per_row,
        rate_rows_std=float(np.std(per_row, ddof=1)) if len(per_row) > 1 else 0.0,
        explained=1.0 - rss / tss if tss > 0 else None,
        rmse=math.sqrt(rss / n_entries), num_entries=n_entries)


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

    def head(self, layer: int, head: int) -> HeadAttention:
        for h in self.heads:
            if h.layer == layer and h.head == head:
                return h
        raise KeyError(f"no head {head} in layer {layer}")


FIT_DEFINITION = ("mean pattern over all inputs weighted by probability; per head, least squares "
                  "of the row-normalised model rho^(t-s) m(t-s) over rows t >= 1 (m = 1, or even/odd "
                  "distances only); explained = 1 - RSS/TSS about uniform attention; rate_se = "
                  "Gauss-Newton standard error; rate_rows = per-row fits")


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
                      num_sequences: int = 20_000) -> tuple[AttentionReport, dict[int, np.ndarray]]:
    """The attention analysis of a run (nothing written).

    Returns:
        ``(report, {layer: (n_heads, P', P') mean pattern over the process positions})``.
    """
    step = run.checkpoint_steps[-1] if step is None else int(step)
    inputs = attention_inputs(run, max_words=max_words, num_sequences=num_sequences, seed=seed)
    means = mean_attention(run.load_params(step), run.model_config, inputs.tokens, inputs.weights)
    means = {layer: process_positions(m, inputs.first_position) for layer, m in means.items()}
    heads = [head_attention(m[h], layer, h) for layer, m in means.items() for h in range(m.shape[0])]
    eig = nonunit_eigenvalues(run.hmm)
    report = AttentionReport(
        run_dir=str(run.run_dir), process=run.hmm.name, process_params=dict(run.hmm.params),
        model=run.model_config.to_dict(), step=step,
        theory_eigenvalues=[[float(e.real), float(e.imag)] for e in eig],
        theory_lambda=float(eig[0].real) if eig.size else None, inputs=inputs.protocol,
        num_sequences=int(inputs.tokens.shape[0]), first_position=inputs.first_position,
        heads=heads, fit_definition=FIT_DEFINITION)
    return report, means


def attention_lines(report: AttentionReport) -> list[str]:
    """The per-head table, as printed lines."""
    lam = report.theory_lambda
    lines = [f"theory lambda {lam:+.4f} (|lambda| {abs(lam):.4f}); non-unit eigenvalues "
             + ", ".join(f"{re:+.4f}" + (f"{im:+.4f}i" if abs(im) > 1e-12 else "")
                         for re, im in report.theory_eigenvalues)
             if lam is not None else "theory: no non-unit eigenvalue",
             f"{'layer':>5} {'head':>4} {'rho (all)':>10} {'+-se':>8} {'rows std':>8} "
             f"{'explained':>9}  {'best parity':>11} {'rho':>7} {'explained':>9}"]
    for h in report.heads:
        b = h.fit if h.best_parity == "all" else h.parity_fits[h.best_parity]
        lines.append(f"{h.layer:>5} {h.head:>4} {h.fit.rate:>10.4f} {h.fit.rate_se:>8.4f} "
                     f"{h.fit.rate_rows_std:>8.4f} {_num(h.fit.explained):>9}  "
                     f"{h.best_parity:>11} {b.rate:>7.4f} {_num(b.explained):>9}")
    return lines


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


__all__ = [
    "AttentionInputs",
    "AttentionReport",
    "DecayFit",
    "HeadAttention",
    "PARITIES",
    "analyze_attention",
    "attention_inputs",
    "attention_lines",
    "decay_pattern",
    "distance_profile",
    "fit_decay",
    "head_attention",
    "mean_attention",
    "process_positions",
]
