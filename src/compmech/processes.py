"""Catalogue of processes: plain functions returning :class:`~compmech.hmm.HMM` or
:class:`~compmech.hmm.GHMM`, and registries by name.

Canonical forms and parameter names: the catalogue in ``docs/process-kinds.md``. Each function
checks its parameters and builds ``T[x, i, j]`` (for an HMM, ``P(emit x, go to j | in state i)``).

:data:`PROCESSES` holds the classical HMMs (every entry is a stochastic ``T``), and
:data:`GENERALIZED_PROCESSES` the generalized ones (quantum and post-quantum, signed ``T``);
:func:`get_process` and :func:`process_parameters` look names up in both (:data:`CATALOGUE`).
:mod:`compmech.zoo` and :mod:`compmech.wrappers` add their processes and wrappers
(:data:`WRAPPERS`) with :func:`register_process`; :data:`REFERENCES` says where each comes from.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from compmech.hmm import GHMM, HMM, Process


def _check_probability(name: str, value: float, *, open_interval: bool = False) -> float:
    value = float(value)
    lo_ok = value > 0 if open_interval else value >= 0
    hi_ok = value < 1 if open_interval else value <= 1
    if not (np.isfinite(value) and lo_ok and hi_ok):
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"parameter {name} must be in {interval}; got {value}")
    return value


def z1r(p: float = 0.5) -> HMM:
    """Zero-one-random process: states (S0, S1, SR); emits 0, 1, then a p-biased bit.

    S0 emits 0 and goes to S1; S1 emits 1 and goes to SR; SR emits 0 with probability ``p`` or 1
    with probability ``1 - p`` and goes to S0. Stationary distribution uniform.
    """
    p = _check_probability("p", p)
    T = np.zeros((2, 3, 3))
    T[0, 0, 1] = 1.0
    T[1, 1, 2] = 1.0
    T[0, 2, 0] = p
    T[1, 2, 0] = 1.0 - p
    return HMM(T, name="z1r", params={"p": p}, state_names=("S0", "S1", "SR"))


def mess3(x: float = 0.05, alpha: float = 0.85) -> HMM:
    """Mess3: three states, three tokens, not unifilar; its mixed states form a fractal.

    With ``b = (1 - alpha) / 2`` and ``y = 1 - 2x``:
    ``T[e, i, j] = (y if i == j else x) * (alpha if e == j else b)``.
    Defaults are the values of Shai et al. (2024).
    """
    x = _check_probability("x", x)
    alpha = _check_probability("alpha", alpha)
    if not 0 < x <= 0.5:
        raise ValueError(
            f"parameter x must be in (0, 0.5]: x = 0 freezes the hidden state (not ergodic) and "
            f"x > 0.5 makes 1 - 2x negative; got {x}"
        )
    b = (1.0 - alpha) / 2.0
    y = 1.0 - 2.0 * x
    eye = np.eye(3)
    stay = np.where(eye == 1, y, x)  # (i, j)
    emit = np.where(eye == 1, alpha, b)  # (e, j)
    T = stay[None, :, :] * emit[:, None, :]
    return HMM(T, name="mess3", params={"x": x, "alpha": alpha}, state_names=("A", "B", "C"))


def rrxor(p1: float = 0.5, p2: float = 0.5) -> HMM:
    """Random-random-XOR: two random bits, then their XOR. States (S, 0, 1, T, F)."""
    p1 = _check_probability("p1", p1)
    p2 = _check_probability("p2", p2)
    S, Z, O, TT, F = range(5)
    T = np.zeros((2, 5, 5))
    T[0, S, Z] = p1
    T[1, S, O] = 1.0 - p1
    T[0, Z, F] = p2
    T[1, Z, TT] = 1.0 - p2
    T[0, O, TT] = p2
    T[1, O, F] = 1.0 - p2
    T[1, TT, S] = 1.0
    T[0, F, S] = 1.0
    return HMM(T, name="rrxor", params={"p1": p1, "p2": p2}, state_names=("S", "0", "1", "T", "F"))


def even(p: float = 0.5) -> HMM:
    """Even process: 1s come in blocks of even length. A emits 0 -> A (p) or 1 -> B; B emits 1 -> A."""
    p = _check_probability("p", p, open_interval=True)
    T = np.zeros((2, 2, 2))
    T[0, 0, 0] = p
    T[1, 0, 1] = 1.0 - p
    T[1, 1, 0] = 1.0
    return HMM(T, name="even", params={"p": p}, state_names=("A", "B"))


def golden_mean(p: float = 0.5) -> HMM:
    """Golden mean process: no two consecutive 1s. A emits 0 -> A (p) or 1 -> B; B emits 0 -> A."""
    p = _check_probability("p", p, open_interval=True)
    T = np.zeros((2, 2, 2))
    T[0, 0, 0] = p
    T[1, 0, 1] = 1.0 - p
    T[0, 1, 0] = 1.0
    return HMM(T, name="golden_mean", params={"p": p}, state_names=("A", "B"))


def simple_nonunifilar_source(p: float = 0.5, q: float = 0.5) -> HMM:
    """Simple nonunifilar source (SNS): two states, both emit 1 from A, so the MSP is infinite.

    A emits 1 and stays in A (prob ``p``) or emits 1 and goes to B (prob ``1 - p``);
    B emits 1 and stays in B (prob ``q``) or emits 0 and goes to A (prob ``1 - q``).
    """
    p = _check_probability("p", p, open_interval=True)
    q = _check_probability("q", q, open_interval=True)
    T = np.zeros((2, 2, 2))
    T[1, 0, 0] = p
    T[1, 0, 1] = 1.0 - p
    T[1, 1, 1] = q
    T[0, 1, 0] = 1.0 - q
    return HMM(T, name="sns", params={"p": p, "q": q}, state_names=("A", "B"))


def nond() -> HMM:
    """Nond (Marzen & Crutchfield 2017, "Nearly maximally predictive features"): three states.

    State 0 emits 0 and goes to 2; state 1 emits 1 and goes to 0 or 1 (1/2 each); state 2 emits 1
    and goes to 0, 1 or 2 (1/3 each). Not unifilar; its mixed-state presentation is countably
    infinite (beliefs converge geometrically, so merging within a tolerance makes it finite).
    """
    T = np.zeros((2, 3, 3))
    T[0, 0, 2] = 1.0
    T[1, 1, 0] = 0.5
    T[1, 1, 1] = 0.5
    T[1, 2, :] = 1.0 / 3.0
    return HMM(T, name="nond", params={})


def generalized_golden_mean(p: float = 0.5, num_ones: int = 2) -> HMM:
    """Generalized golden mean: at most ``num_ones`` consecutive 1s (``num_ones = 1`` is golden mean).

    State 0 emits 0 -> 0 (prob ``p``) or 1 -> 1 (prob ``1 - p``); states ``k = 1 .. num_ones - 1``
    emit 1 -> k + 1 or 0 -> 0 with probability 1/2 each; state ``num_ones`` emits 0 -> 0.
    """
    p = _check_probability("p", p, open_interval=True)
    if int(num_ones) != num_ones or num_ones < 1:
        raise ValueError(f"parameter num_ones must be an integer >= 1; got {num_ones}")
    n = int(num_ones)
    T = np.zeros((2, n + 1, n + 1))
    T[0, 0, 0] = p
    T[1, 0, 1] = 1.0 - p
    for k in range(1, n):
        T[1, k, k + 1] = 0.5
        T[0, k, 0] = 0.5
    T[0, n, 0] = 1.0
    return HMM(T, name="generalized_golden_mean", params={"p": p, "num_ones": n})


def random_hmm(num_states: int = 3, vocab_size: int = 2, seed: int = 0,
               concentration: float = 1.0) -> HMM:
    """A random HMM: each state's row over (token, next state) drawn from a Dirichlet.

    Args:
        num_states: ``S >= 1``.
        vocab_size: ``V >= 1``.
        seed: random seed; the same seed gives the same matrices.
        concentration: Dirichlet concentration (small values give sparse, near-unifilar rows).
    """
    for name, value in (("num_states", num_states), ("vocab_size", vocab_size)):
        if int(value) != value or value < 1:
            raise ValueError(f"parameter {name} must be an integer >= 1; got {value}")
    if not concentration > 0:
        raise ValueError(f"parameter concentration must be > 0; got {concentration}")
    S, V = int(num_states), int(vocab_size)
    rng = np.random.default_rng(int(seed))
    rows = rng.dirichlet(np.full(V * S, float(concentration)), size=S)  # (S, V*S)
    T = rows.reshape(S, V, S).transpose(1, 0, 2)
    return HMM(
        T,
        name="random_hmm",
        params={"num_states": S, "vocab_size": V, "seed": int(seed), "concentration": concentration},
    )


def coin(p: float = 0.5) -> HMM:
    """Biased coin: one state, token 0 with probability ``p`` and token 1 with ``1 - p`` (i.i.d.)."""
    p = _check_probability("p", p)
    T = np.array([[[p]], [[1.0 - p]]])
    return HMM(T, name="coin", params={"p": p}, state_names=("A",))


# ------------------------------------------------------------------------ generalized processes
def _check_finite(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"parameter {name} must be finite; got {value}")
    return value


def tom_quantum(alpha: float = 1.0, beta: float = float(np.sqrt(51.0))) -> GHMM:
    """The "Bloch walk" quantum process: 4 tokens, 3 states (a GHMM).

    With ``gamma^2 = 1 / (4 (alpha^2 + beta^2))``, ``c = 1/4``, ``m = (alpha^2 - beta^2) gamma^2``
    and ``o = 2 alpha beta gamma^2``:
    ``T[0] = [[c,0,o],[0,m,0],[o,0,c]]``, ``T[1] = [[c,0,-o],[0,m,0],[-o,0,c]]``,
    ``T[2] = [[c,o,0],[o,c,0],[0,0,m]]``, ``T[3] = [[c,-o,0],[-o,c,0],[0,0,m]]``.
    ``M`` is diagonal, ``r = mu = (1, 0, 0)``: beliefs are ``(1, y, z)``.
    """
    alpha = _check_finite("alpha", alpha)
    beta = _check_finite("beta", beta)
    if alpha**2 + beta**2 == 0:
        raise ValueError("parameters alpha and beta must not both be 0")
    gamma2 = 1.0 / (4.0 * (alpha**2 + beta**2))
    c, m, o = 0.25, (alpha**2 - beta**2) * gamma2, 2.0 * alpha * beta * gamma2
    T = np.array([
        [[c, 0, o], [0, m, 0], [o, 0, c]],
        [[c, 0, -o], [0, m, 0], [-o, 0, c]],
        [[c, o, 0], [o, c, 0], [0, 0, m]],
        [[c, -o, 0], [-o, c, 0], [0, 0, m]],
    ])
    return GHMM(T, right_eigenvector=np.array([1.0, 0.0, 0.0]), name="tom_quantum",
                params={"alpha": alpha, "beta": beta})


def post_quantum(alpha: float = float(np.e), beta: float = 0.5) -> GHMM:
    """The post-quantum example process: 3 tokens, 3 states (a GHMM).

    ``T[0] = outer([1, 1, 0], [1, -1, -1])`` and ``T[k] = [[v,0,0],[0,1,0],[0,ln v,1]]`` with
    ``v = alpha`` for ``k = 1`` and ``v = beta`` for ``k = 2``; all three are then divided by the
    largest ``|eigenvalue|`` of their sum. Requires ``alpha > 1 > beta > 0`` and
    ``alpha + beta != 2``.
    """
    alpha = _check_finite("alpha", alpha)
    beta = _check_finite("beta", beta)
    if not alpha > 1.0 > beta > 0.0:
        raise ValueError(f"parameters must satisfy alpha > 1 > beta > 0; got alpha={alpha}, "
                         f"beta={beta}")
    if abs(alpha + beta - 2.0) < 1e-12:
        raise ValueError(f"parameters must satisfy alpha + beta != 2; got {alpha + beta}")

    def diagonal_token(v: float) -> np.ndarray:
        return np.array([[v, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, np.log(v), 1.0]])

    T = np.stack([np.outer([1.0, 1.0, 0.0], [1.0, -1.0, -1.0]), diagonal_token(alpha),
                  diagonal_token(beta)])
    T = T / np.abs(np.linalg.eigvals(T.sum(axis=0))).max()
    return GHMM(T, name="post_quantum", params={"alpha": alpha, "beta": beta})


def fanizza(alpha: float = 2000.0, lam: float = 0.49) -> GHMM:
    """Fanizza et al.'s process: 2 tokens, 4 states (a GHMM).

    With ``a = (1 - lam cos alpha + lam sin alpha) / (1 - 2 lam cos alpha + lam^2)``,
    ``b = (1 - lam cos alpha - lam sin alpha) / (1 - 2 lam cos alpha + lam^2)``,
    ``p0 = [1 - (2/(1-lam) - a - b)/4, 1/(2(1-lam)), -a/4, -b/4]`` and
    ``w = [1, 1-lam, 1 + lam (sin alpha - cos alpha), 1 - lam (sin alpha + cos alpha)]``:
    ``T[0] = outer(w, p0)``, ``T[1] = lam [[0,0,0,0],[0,1,0,0],[0,0,cos alpha,-sin alpha],
    [0,0,sin alpha,cos alpha]]``. Rows of ``M`` sum to 1, so ``r = 1``.
    """
    alpha = _check_finite("alpha", alpha)
    lam = _check_probability("lam", lam, open_interval=True)
    ca, sa = np.cos(alpha), np.sin(alpha)
    den = 1.0 - 2.0 * lam * ca + lam**2
    a = (1.0 - lam * ca + lam * sa) / den
    b = (1.0 - lam * ca - lam * sa) / den
    p0 = np.array([1.0 - (2.0 / (1.0 - lam) - a - b) / 4.0, 1.0 / (2.0 * (1.0 - lam)),
                   -a / 4.0, -b / 4.0])
    w = np.array([1.0, 1.0 - lam, 1.0 + lam * (sa - ca), 1.0 - lam * (sa + ca)])
    T1 = lam * np.array([[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, ca, -sa], [0, 0, sa, ca]])
    T = np.stack([np.outer(w, p0), T1])
    return GHMM(T, right_eigenvector=np.ones(4), name="fanizza", params={"alpha": alpha, "lam": lam})


PROCESSES: dict[str, Callable[..., HMM]] = {
    "z1r": z1r,
    "mess3": mess3,
    "rrxor": rrxor,
    "even": even,
    "golden_mean": golden_mean,
    "sns": simple_nonunifilar_source,
    "nond": nond,
    "generalized_golden_mean": generalized_golden_mean,
    "random_hmm": random_hmm,
    "coin": coin,
}

#: Generalized (signed) processes by name; kept apart so that every :data:`PROCESSES` entry stays
#: a stochastic HMM.
GENERALIZED_PROCESSES: dict[str, Callable[..., GHMM]] = {
    "tom_quantum": tom_quantum,
    "post_quantum": post_quantum,
    "fanizza": fanizza,
}

#: Every catalogue process, classical and generalized, by name (the zoo and the wrappers are added
#: by :func:`register_process` when :mod:`compmech` is imported).
CATALOGUE: dict[str, Callable[..., Process]] = {**PROCESSES, **GENERALIZED_PROCESSES}

#: Single-state (i.i.d.) entries of :data:`PROCESSES`, building blocks for mixtures and products;
#: error messages list them apart from the HMMs with hidden structure.
IID_PROCESSES = ("coin",)

#: Wrappers by name (:mod:`compmech.wrappers`): each takes a ``process`` and returns an HMM or GHMM.
WRAPPERS: dict[str, Callable[..., Process]] = {}
#: Where a catalogue process comes from (paper or library, with commit), by name.
REFERENCES: dict[str, str] = {
    "mess3": "Marzen & Crutchfield (2017); defaults of Shai et al. (2024), arXiv:2405.15943",
    "rrxor": "Astera-org/simplexity@657aff7 simplexity/generative_processes/transition_matrices.py",
    "tom_quantum": "Riechers, Elliott & Shai (2025), arXiv:2507.07432; Astera-org/simplexity@657aff7",
    "post_quantum": "Riechers, Elliott & Shai (2025), arXiv:2507.07432; Astera-org/simplexity@657aff7",
    "fanizza": "Riechers, Elliott & Shai (2025), arXiv:2507.07432; Astera-org/simplexity@657aff7",
}
#: Names registered by :func:`register_process` (the zoo), listed apart in error messages.
_REGISTERED: list[str] = []


def register_process(name: str, fn: Callable[..., Process], *, generalized: bool = False,
                     wrapper: bool = False, reference: str = "") -> None:
    """Add a process (or a wrapper) to the catalogue; used by :mod:`compmech.zoo` and
    :mod:`compmech.wrappers` at import.

    Args:
        name: catalogue name (must be new).
        fn: builder; every parameter needs a default (``compmech processes`` lists them).
        generalized: a GHMM builder (goes to :data:`GENERALIZED_PROCESSES`, else
            :data:`PROCESSES`).
        wrapper: a wrapper of another process (goes to :data:`WRAPPERS`).
        reference: where the definition comes from (:data:`REFERENCES`).
    """
    if name in CATALOGUE:
        raise ValueError(f"process {name!r} is already in the catalogue")
    (WRAPPERS if wrapper else GENERALIZED_PROCESSES if generalized else PROCESSES)[name] = fn
    CATALOGUE[name] = fn
    if reference:
        REFERENCES[name] = reference
    _REGISTERED.append(name)


def _catalogue_listing() -> str:
    """``"a, b, ...; i.i.d.: coin; generalized (GHMM): ...; zoo: ...; wrappers: ..."`` for error
    messages."""
    hmms = sorted(set(PROCESSES) - set(IID_PROCESSES) - set(_REGISTERED))
    listing = (f"{', '.join(hmms)}; i.i.d.: {', '.join(IID_PROCESSES)}; generalized (GHMM): "
               f"{', '.join(sorted(set(GENERALIZED_PROCESSES) - set(_REGISTERED)))}")
    zoo = sorted(set(_REGISTERED) - set(WRAPPERS))
    if zoo:
        listing += f"; zoo: {', '.join(zoo)}"
    if WRAPPERS:
        listing += f"; wrappers: {', '.join(sorted(WRAPPERS))}"
    return listing


def process_parameters(name: str) -> dict[str, Any]:
    """``{parameter: default}`` for a catalogue process."""
    fn = _lookup(name)
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()}


def get_process(name: str, **params: Any) -> Process:
    """Build a catalogue process by name, e.g. ``get_process("mess3", x=0.1)``.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones) or parameter.
    """
    fn = _lookup(name)
    valid = process_parameters(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        listing = ", ".join(f"{k}={v!r}" for k, v in valid.items()) or "none"
        raise ValueError(
            f"process {name!r} has no parameter {', '.join(unknown)}; valid parameters: {listing}"
        )
    return fn(**params)


def _lookup(name: str) -> Callable[..., Process]:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(
            f"unknown process {name!r}; valid processes: {_catalogue_listing()}"
        ) from None
