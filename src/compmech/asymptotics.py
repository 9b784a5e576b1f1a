"""Asymptotic information measures of a process, in bits: the entropy rate ``h_mu`` (exact from
a finite mixed-state presentation, the limit of the myopic entropies, or a Blackwell-sample
estimate), the myopic limit, the excess entropy ``E`` and the statistical complexity ``C_mu``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from compmech.blackwell import BlackwellSample, blackwell_sample
from compmech.expand import tall_matmul
from compmech.hmm import Process
from compmech.information import LN2, _check_length, entropy_bits
from compmech.msp import iter_belief_levels
from compmech.msp_graph import DEFAULT_TOL, MixedStatePresentation, mixed_state_presentation
from compmech.records import Record
from compmech.stateful import is_stateful

# ---------------------------------------------------------------------------- asymptotic measures
#: Default convergence tolerance (bits) on consecutive myopic-entropy differences
#: ``h(L-1) - h(L)`` before :func:`entropy_rate` takes the limit of the exact ``h(L)``.
MYOPIC_CONVERGENCE_TOL_BITS = 1e-6
#: Default cap on the entries (``nodes x states``) of one level of the myopic propagation in
#: :func:`entropy_rate` (64 MiB of float64 children per level).
MYOPIC_MAX_ENTRIES = 1 << 23


class EntropyRate(NamedTuple):
    """The entropy rate ``h_mu`` and how it was obtained.

    Attributes:
        bits: ``h_mu`` in bits per token.
        stderr_bits: the standard error of a sampled (Blackwell) estimate; 0 for every other
            method (the myopic limit's deterministic error is bounded by ``upper_bound_bits``, see
            :attr:`extrapolation_bits`).
        method: ``"unifilar"`` (exact, ``sum_i pi_i H[P(. | i)]`` over the generator's states),
            ``"msp"`` (exact, same formula over the finite recurrent MSP), ``"myopic_limit"``
            (the limit of the exact myopic entropies ``h(L)``, which had converged, see
            :func:`entropy_rate`) or ``"blackwell"`` (the estimate
            ``E_Blackwell[H[P(. | eta)]]`` from sampled beliefs, used when the ``h(L)`` had not
            converged within the caps, or when asked for).
        num_points: beliefs sampled for the Blackwell estimate (0 when none was computed).
        depth: the largest ``L`` whose exact ``h(L)`` was computed (0 when none was).
        upper_bound_bits: ``h(depth)`` from the stationary start, a rigorous upper bound on
            ``h_mu`` (``h`` is non-increasing); NaN when no ``h(L)`` was computed.
        blackwell_bits: the Blackwell estimate when it was computed (NaN otherwise); equal to
            ``bits`` when ``method == "blackwell"``.
        blackwell_stderr_bits: its standard error (NaN when not computed).
        note: why the Blackwell estimate is the result (the ``h(L)`` had not converged) and a
            warning when the Blackwell estimate lies above the rigorous bound (nothing is
            clipped: both numbers are reported as computed); ``""`` when there is neither.
    """

    bits: float
    stderr_bits: float
    method: str
    num_points: int = 0
    depth: int = 0
    upper_bound_bits: float = float("nan")
    blackwell_bits: float = float("nan")
    blackwell_stderr_bits: float = float("nan")
    note: str = ""

    @property
    def nats(self) -> float:
        """``h_mu`` in nats."""
        return self.bits * LN2

    @property
    def exact(self) -> bool:
        """Whether ``h_mu`` is exact: ``"unifilar"`` or ``"msp"`` (not an extrapolated limit or a
        sampled estimate)."""
        return self.method in ("unifilar", "msp")

    @property
    def extrapolation_bits(self) -> float:
        """``upper_bound_bits - bits`` for the myopic limit (the extrapolated remainder of the
        differences beyond ``depth``, >= 0); 0 for the exact methods, NaN for a Blackwell
        estimate."""
        if self.method == "myopic_limit":
            return self.upper_bound_bits - self.bits
        return 0.0 if self.exact else float("nan")


def _finite_msp(hmm: Process, tol: float, max_states: int) -> MixedStatePresentation | None:
    msp = mixed_state_presentation(hmm, tol=tol, max_states=max_states)
    if msp.truncated or msp.num_recurrent_components != 1:
        return None
    return msp


class MyopicLimit(NamedTuple):
    """The exact myopic entropies from the stationary start and, if they converged, their limit.

    Attributes:
        myopic_bits: ``(depth,)`` ``h(1) .. h(depth)`` (bits).
        converged: whether the stopping rule of :func:`myopic_limit` was met.
        limit_bits: the extrapolated limit (``h(depth)`` when not converged).
        reason: why the propagation stopped without converging (``""`` when converged).
    """

    myopic_bits: np.ndarray
    converged: bool
    limit_bits: float
    reason: str = ""


def myopic_limit(hmm: Process, *, convergence_tol_bits: float = MYOPIC_CONVERGENCE_TOL_BITS,
                 max_length: int = 256, max_nodes: int | None = None,
                 merge_tol: float = 1e-12) -> MyopicLimit:
    """Exact ``h(L)`` level by level from the stationary start until they converge; their limit.

    The start is the process's initial distribution when it is stationary (a non-ergodic
    mixture's ``sum_k w_k pi_k``, whose ``h(L)`` converge to ``sum_k w_k h_k``), else the
    stationary distribution.

    With ``d_L = h(L-1) - h(L)`` (``>= 0``: ``h`` is non-increasing from the stationary start),
    the propagation stops at the first ``L >= 3`` with ``d_L < convergence_tol_bits`` and either
    ``d_L <= 0`` (``h`` flat to round-off) or ``d_L < d_{L-1}`` (small and shrinking). The
    remaining differences are extrapolated as a geometric series with the last ratio
    ``rho = d_L / d_{L-1}`` (Aitken's delta-squared): ``h_mu ~ h(L) - d_L rho / (1 - rho)``
    (nothing is extrapolated when ``d_L <= 0``). The limit is never above ``h(L)``, a rigorous
    upper bound on ``h_mu``; the extrapolation assumes geometric decay of ``d_L``. For
    Mess3 (``d_L`` shrinks by ~0.26 per token) it stops at ``L = 12`` with a correction of
    1.5e-7 bits.

    Args:
        hmm: an ergodic process (HMM or GHMM).
        convergence_tol_bits: the tolerance on ``d_L`` (bits).
        max_length: largest ``L`` computed.
        max_nodes: cap on one level's children before merging (default
            ``MYOPIC_MAX_ENTRIES // S``); an infinite MSP (Mess3: ``V^L`` nodes) stops there.
        merge_tol: max-norm tolerance for merging equal beliefs within a level.

    Returns:
        :class:`MyopicLimit`.
    """
    max_length = _check_length(max_length, "max_length")
    if not convergence_tol_bits > 0:
        raise ValueError(f"convergence_tol_bits must be > 0; got {convergence_tol_bits}")
    if max_nodes is None:
        max_nodes = max(hmm.vocab_size, MYOPIC_MAX_ENTRIES // hmm.num_states)
    emissions = hmm.emission_probabilities  # (S, V)
    levels = iter_belief_levels(hmm, max_length - 1, tol=merge_tol, max_nodes=max_nodes,
                                initial_distribution=_stationary_start(hmm))
    h: list[float] = []
    reason = f"h(L) had not converged by max_length={max_length}"
    try:
        for level in levels:
            next_probs = tall_matmul(level.beliefs, emissions)  # (N, V)
            h.append(float((level.probabilities * entropy_bits(next_probs)).sum()))
            if len(h) >= 3:
                d_prev, d = h[-3] - h[-2], h[-2] - h[-1]
                if d < convergence_tol_bits and (d <= 0 or d < d_prev):
                    tail = d * d / (d_prev - d) if d > 0 else 0.0  # d rho / (1 - rho)
                    return MyopicLimit(np.asarray(h), True, h[-1] - tail)
    except ValueError as err:  # the next level would exceed max_nodes
        reason = f"h(L) had not converged by L={len(h)}: {err}"
    return MyopicLimit(np.asarray(h), False, h[-1], reason)


def _stationary_start(hmm: Process) -> np.ndarray:
    """The process's initial distribution when it is stationary (``eta M = eta``, e.g. a
    non-ergodic mixture's ``sum_k w_k pi_k``), else the stationary distribution (which raises for
    a non-ergodic process): ``h(L)`` is non-increasing only from a stationary start."""
    start = np.asarray(hmm.initial_distribution, dtype=np.float64)
    M = hmm.transition_matrices.sum(axis=0)
    if np.allclose(start @ M, start, rtol=0.0, atol=1e-12):
        return start
    return hmm.stationary_distribution


def _blackwell_estimate(hmm: Process, sample: BlackwellSample | None, num_points: int, seed):
    """``(mean, stderr, num_points)`` of ``H[P(. | eta)]`` over Blackwell beliefs; the standard
    error is the spread of the chains' means over ``sqrt(#chains)`` (batch means, one batch per
    chain, which accounts for the autocorrelation within a chain)."""
    if sample is None:
        sample = blackwell_sample(hmm, num_points, seed)
    C, K, S = sample.beliefs.shape
    per_point = entropy_bits(tall_matmul(sample.points, hmm.emission_probabilities)).reshape(C, K)
    chain_means = per_point.mean(axis=1)
    stderr = float(chain_means.std(ddof=1) / np.sqrt(C)) if C > 1 else np.inf
    return float(per_point.mean()), stderr, int(per_point.size)


def _bound_note(estimate: float, stderr: float, bound: float, depth: int) -> str:
    if not estimate > bound:
        return ""
    return (f"the Blackwell estimate {estimate:.7f} +- {stderr:.1e} bits lies above the rigorous "
            f"upper bound h({depth}) = {bound:.7f} bits by {estimate - bound:.2e} bits "
            f"({(estimate - bound) / stderr:.1f} standard errors); it is reported unclipped")


@dataclass(frozen=True, kw_only=True)
class EntropyRateConfig(Record):
    """How :func:`entropy_rate` obtains ``h_mu`` (the defaults are the library's).

    Attributes:
        method: ``"auto"`` (the first method of :func:`entropy_rate` that applies) or
            ``"blackwell"`` to return the Blackwell estimate alone (e.g. to check it against an
            exact value).
        blackwell: also compute the Blackwell estimate beside an exact or myopic-limit result.
        num_points: Blackwell sample size (beliefs; only used for an estimate).
        seed: seed of the Blackwell sample.
        tol: max-norm merge tolerance of the mixed-state presentation.
        max_states: MSP state cap before falling back to the myopic limit.
        convergence_tol_bits: the stopping rule of :func:`myopic_limit` (bits).
        max_length: the level cap of :func:`myopic_limit` (largest ``L``).
        max_nodes: the node cap of :func:`myopic_limit` (``None``: its default).

    Raises:
        ValueError: an option out of range (named in the message).
    """

    method: str = "auto"
    blackwell: bool = False
    num_points: int = 1_000_000
    seed: int = 0
    tol: float = DEFAULT_TOL
    max_states: int = 10_000
    convergence_tol_bits: float = MYOPIC_CONVERGENCE_TOL_BITS
    max_length: int = 256
    max_nodes: int | None = None

    def __post_init__(self) -> None:
        if self.method not in ("auto", "blackwell"):
            raise ValueError(f"method must be 'auto' or 'blackwell'; got {self.method!r}")
        _check_length(self.num_points, "num_points")
        _check_length(self.max_states, "max_states")
        _check_length(self.max_length, "max_length")
        if self.max_nodes is not None:
            _check_length(self.max_nodes, "max_nodes")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0; got {self.tol}")
        if not self.convergence_tol_bits > 0:
            raise ValueError(f"convergence_tol_bits must be > 0; got {self.convergence_tol_bits}")


def entropy_rate(hmm: Process, config: EntropyRateConfig | None = None, *,
                 msp: MixedStatePresentation | None = None,
                 sample: BlackwellSample | None = None) -> EntropyRate:
    """Entropy rate ``h_mu = lim_L h(L)`` in bits per token.

    ``config.method == "auto"`` (the default) takes the first that applies:

    * Unifilar generator (classical HMMs only): exact, ``h_mu = sum_i pi_i H[P(. | i)]`` with
      ``P(x | i) = sum_j T[x,i,j]``.
    * The MSP closes within ``max_states`` with one recurrent component: exact, the same formula
      over the recurrent MSP states weighted by their stationary distribution.
    * The exact myopic entropies ``h(L)`` (stationary start) converge within ``max_length`` and
      the level cap: their extrapolated limit (:func:`myopic_limit`), ``method="myopic_limit"``,
      never above ``h(depth)`` (``upper_bound_bits``), a rigorous bound. Mess3: 1.1447173 bits.
    * Otherwise: the Blackwell estimate ``h_mu = E_{eta ~ Blackwell}[H[P(. | eta)]]`` from
      ``num_points`` beliefs of :func:`compmech.blackwell.blackwell_sample` (1000 chains), with its
      standard error (batch means, one batch per chain), and the rigorous bound ``h(depth)``
      reached beside it.

    The Blackwell estimate is computed only when it is the result, when ``config.blackwell`` or
    when ``config.method == "blackwell"``; it goes in ``blackwell_bits`` /
    ``blackwell_stderr_bits``. Nothing is clipped: an estimate above ``upper_bound_bits`` is
    returned as computed with a ``note``.

    Args:
        hmm: an ergodic process.
        config: the method and its options (:class:`EntropyRateConfig`; default: its defaults).
        msp: an already built MSP of ``hmm`` to reuse.
        sample: an already drawn :class:`compmech.blackwell.BlackwellSample` of ``hmm`` to reuse.

    Returns:
        :class:`EntropyRate`.

    Example:
        >>> import compmech
        >>> round(compmech.entropy_rate(compmech.get_process("golden_mean")).bits, 6)
        0.666667
        >>> rate = compmech.entropy_rate(compmech.get_process("mess3"))
        >>> rate.method, round(rate.bits, 6), rate.bits <= rate.upper_bound_bits
        ('myopic_limit', 1.144717, True)
    """
    c = EntropyRateConfig() if config is None else config
    if is_stateful(hmm):  # a stateful process: exact through its MSP when that closes
        msp = _finite_msp(hmm, c.tol, c.max_states) if msp is None else msp
        if (c.method == "blackwell" or msp is None or msp.truncated
                or msp.num_recurrent_components != 1):
            raise ValueError(f"entropy_rate of the stateful process {hmm.name!r} needs a finite "
                             "mixed-state presentation with one recurrent part (Blackwell "
                             "sampling needs transition matrices)")
        pi = msp.recurrent_stationary_distribution()
        return EntropyRate(float(pi @ entropy_bits(hmm.token_probabilities(msp.beliefs))), 0.0,
                           "msp")
    if c.method == "blackwell":
        bits, stderr, n = _blackwell_estimate(hmm, sample, c.num_points, c.seed)
        return EntropyRate(bits, stderr, "blackwell", n, blackwell_bits=bits,
                           blackwell_stderr_bits=stderr)
    result = _exact_rate(hmm, msp, c.tol, c.max_states)
    if result is None:
        limit = myopic_limit(hmm, convergence_tol_bits=c.convergence_tol_bits,
                             max_length=c.max_length, max_nodes=c.max_nodes)
        depth, bound = int(limit.myopic_bits.shape[0]), float(limit.myopic_bits[-1])
        if limit.converged:
            result = EntropyRate(limit.limit_bits, 0.0, "myopic_limit", depth=depth,
                                 upper_bound_bits=bound)
        else:
            bits, stderr, n = _blackwell_estimate(hmm, sample, c.num_points, c.seed)
            note = "; ".join(filter(None, [limit.reason, _bound_note(bits, stderr, bound, depth)]))
            return EntropyRate(bits, stderr, "blackwell", n, depth, bound, bits, stderr, note)
    if not c.blackwell:
        return result
    bits, stderr, n = _blackwell_estimate(hmm, sample, c.num_points, c.seed)
    note = ""
    if result.method == "myopic_limit":
        note = _bound_note(bits, stderr, result.upper_bound_bits, result.depth)
    return result._replace(num_points=n, blackwell_bits=bits, blackwell_stderr_bits=stderr,
                           note=note)


def _exact_rate(hmm: Process, msp: MixedStatePresentation | None, tol: float,
                max_states: int) -> EntropyRate | None:
    """The ``"unifilar"`` or ``"msp"`` rate of :func:`entropy_rate`, or ``None`` when neither
    applies."""
    emissions = hmm.emission_probabilities  # (S, V)
    if hmm.is_unifilar:
        pi = hmm.stationary_distribution
        return EntropyRate(float(pi @ entropy_bits(emissions)), 0.0, "unifilar")
    if msp is None:
        msp = _finite_msp(hmm, tol, max_states)
    elif msp.truncated or msp.num_recurrent_components != 1:
        msp = None
    if msp is None:
        return None
    pi = msp.recurrent_stationary_distribution()
    return EntropyRate(float(pi @ entropy_bits(tall_matmul(msp.beliefs, emissions))), 0.0, "msp")


class ExcessEntropy(NamedTuple):
    """Excess entropy ``E = sum_{L >= 1} (h(L) - h_mu)`` from partial sums.

    Attributes:
        bits: the partial sum ``sum_{L <= depth} (h(L) - h_mu)``.
        stderr_bits: ``depth * stderr(h_mu)`` when ``h_mu`` is estimated, else 0.
        depth: the number of terms summed.
        tol: the stopping tolerance on a term ``h(L) - h_mu`` (bits).
        converged: whether a term fell below the tolerance before ``max_length`` or the level cap.
        entropy_rate: the :class:`EntropyRate` used.
        lower_bound_bits: ``sum_{L <= depth} (h(L) - h(depth))``, a rigorous lower bound on ``E``
            that needs no ``h_mu`` (``h`` is non-increasing and ``h(depth) >= h_mu``); tight when
            ``h`` has converged, so it is the better number when ``h_mu`` is only estimated.
        rate_upper_bound_bits: ``h(depth)``, a rigorous upper bound on ``h_mu``.
    """

    bits: float
    stderr_bits: float
    depth: int
    tol: float
    converged: bool
    entropy_rate: EntropyRate
    lower_bound_bits: float
    rate_upper_bound_bits: float


def excess_entropy(hmm: Process, *, tol: float = 1e-6, max_length: int = 256,
                   rate: EntropyRate | None = None, max_nodes: int = 2_000_000,
                   merge_tol: float = 1e-12,
                   rate_config: EntropyRateConfig | None = None) -> ExcessEntropy:
    """Excess entropy ``E = sum_{L >= 1} (h(L) - h_mu)`` in bits (``h(L)`` from the stationary start).

    Terms are added level by level (:func:`~compmech.information.myopic_entropy`'s propagation) until a term
    falls below ``tol`` (``h(L)`` is non-increasing, so all later terms are smaller), ``max_length`` is
    reached or a level would exceed ``max_nodes`` (``converged=False``). When ``h_mu`` is a Blackwell
    estimate with standard error ``s``, a term counts as small once it is below ``tol + 3 s`` and ``h``
    itself has stopped changing (``h(L-1) - h(L) < tol``); the result's standard error is ``depth * s``.

    Args:
        hmm: the process (started from ``hmm.initial_distribution``, normally stationary).
        tol: stopping tolerance on a term (bits).
        max_length: largest ``L`` summed.
        rate: a precomputed :func:`entropy_rate`; computed with ``rate_config`` otherwise.
        max_nodes: cap on the size of one level of the propagation.
        merge_tol: tolerance for merging equal beliefs within a level.
        rate_config: how to compute ``h_mu`` when ``rate`` is not given
            (:class:`EntropyRateConfig`).

    Returns:
        :class:`ExcessEntropy`.
    """
    max_length = _check_length(max_length, "max_length")
    if not tol > 0:
        raise ValueError(f"tol must be > 0; got {tol}")
    if rate is None:
        rate = entropy_rate(hmm, rate_config)
    emissions = hmm.emission_probabilities
    total, depth, converged, previous = 0.0, 0, False, np.inf
    myopic = []
    levels = iter_belief_levels(hmm, max_length - 1, tol=merge_tol, max_nodes=max_nodes)
    try:
        for level in levels:
            h = float((level.probabilities
                       * entropy_bits(tall_matmul(level.beliefs, emissions))).sum())
            myopic.append(h)
            term = h - rate.bits
            total += term
            depth = level.depth + 1
            small = term < tol + 3 * rate.stderr_bits
            if rate.stderr_bits > 0:
                small = small and previous - h < tol
            previous = h
            if small:
                converged = True
                break
    except ValueError:  # the next level would exceed max_nodes
        pass
    lower = float(sum(myopic) - len(myopic) * myopic[-1])
    return ExcessEntropy(total, depth * rate.stderr_bits, depth, float(tol), converged, rate,
                         lower, myopic[-1])


class StatisticalComplexity(NamedTuple):
    """Statistical complexity ``C_mu = H[pi over causal states]`` (bits), or why it is unavailable.

    Attributes:
        bits: ``C_mu``, or ``None`` when the recurrent MSP is not finite within the cap.
        num_causal_states: number of recurrent MSP states (``None`` with ``bits``).
        reason: why ``bits`` is ``None`` (empty string otherwise).
    """

    bits: float | None
    num_causal_states: int | None
    reason: str = ""


def statistical_complexity(hmm: Process, *, tol: float = DEFAULT_TOL, max_states: int = 10_000,
                           msp: MixedStatePresentation | None = None) -> StatisticalComplexity:
    """``C_mu``: entropy (bits) of the stationary distribution over the recurrent MSP states.

    For a synchronising unifilar presentation these are the causal states (the epsilon-machine).
    An infinite MSP (truncated at ``max_states``) has no finite recurrent part to measure, and
    ``bits`` is ``None`` with the reason.

    Args:
        hmm: the process.
        tol: belief merge tolerance.
        max_states: MSP state cap.
        msp: an already built MSP of ``hmm`` to reuse.

    Returns:
        :class:`StatisticalComplexity`.
    """
    if msp is None:
        msp = mixed_state_presentation(hmm, tol=tol, max_states=max_states)
    if msp.truncated:
        return StatisticalComplexity(
            None, None,
            f"the mixed-state presentation did not close within {msp.num_states} states "
            "(infinite MSP); C_mu of the recurrent part is not finite-state computable here",
        )
    if msp.num_recurrent_components != 1:
        return StatisticalComplexity(
            None, None, f"the MSP has {msp.num_recurrent_components} closed components, not one"
        )
    pi = msp.recurrent_stationary_distribution()
    return StatisticalComplexity(float(entropy_bits(pi[msp.recurrent])), msp.num_recurrent)
