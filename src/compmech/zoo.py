"""The process zoo: named processes of the group's libraries and of recent papers, each built from
its published definition and registered in the catalogue (:mod:`compmech.processes`).

Every function returns an :class:`~compmech.hmm.HMM` (``T[x, i, j] = P(x, j | i)``) or a
:class:`~compmech.hmm.GHMM` and states where its matrices come from in :data:`REFERENCES` (shown by
``compmech processes``). Numbers are transcribed from the cited files and papers; the constructions
are ours.

* :func:`quantum_rrxor` (GHMM, 4 x 4 over 2 tokens, Bloch basis) and :func:`leaky_rrxor`.
* :func:`mr_name`, :func:`days_of_week`, :func:`matching_parens`, :func:`cycle`.
* The Arch, Wing and Strata families of Balcells et al. (2026), "Large Language Models Develop
  Belief State Geometry In-Context", arXiv:2609.17376: :func:`arch`, :func:`wing`, :func:`strata`.

Not here: ``shuriken``. No public definition of a process of that name was found (searched: the
group's library Astera-org/simplexity including all its branches, adamimos/epsilon-transformers,
ealt/generators, the paper's repository andrewjlee0/belief-state-geometry-in-context, and the web
pages and documentation indexes), so none is invented.
"""

from __future__ import annotations

import numpy as np

from compmech.hmm import GHMM, HMM
from compmech.processes import _check_finite, _check_probability, register_process, rrxor

SIMPLEXITY = "Astera-org/simplexity@657aff777cd7d7a6edfadd1f846bbf62028caeec"
BALCELLS = ("Balcells, Lee, Rastogi, Riechers, Shai & Poncini (2026), arXiv:2609.17376, App. C.1; "
            "matrices from andrewjlee0/belief-state-geometry-in-context@93cbf52b src/hmm/definitions.py,"
            " main-text parametrization from configs/hmm_configs.py")


# --------------------------------------------------------------------------------- quantum RRXOR
def _pauli_basis() -> np.ndarray:
    """``(4, 2, 2)`` the generalized Bloch basis ``B = (I, sigma_x, sigma_y, sigma_z) / 2``."""
    return np.array([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]],
                     [[1, 0], [0, -1]]], dtype=complex) / 2.0


def quantum_rrxor_kraus(phi: float, theta: float) -> np.ndarray:
    """``(2, 2, 2)`` the Kraus operators ``K_x = D_x R_y(phi)`` of :func:`quantum_rrxor`.

    ``R_y(phi) = [[cos(phi/2), -sin(phi/2)], [sin(phi/2), cos(phi/2)]]``,
    ``D_0 = diag(cos(theta/2), -i sin(theta/2))``, ``D_1 = diag(-i sin(theta/2), cos(theta/2))``;
    ``sum_x K_x^dagger K_x = I``.
    """
    c, s = np.cos(phi / 2.0), np.sin(phi / 2.0)
    rotation = np.array([[c, -s], [s, c]], dtype=complex)
    ct, st = np.cos(theta / 2.0), np.sin(theta / 2.0)
    D = np.array([np.diag([ct, -1j * st]), np.diag([-1j * st, ct])])
    return D @ rotation[None]


def quantum_rrxor(phi: float = 1.0, theta: float = float(np.pi / 3), epsilon: float = 0.0) -> GHMM:
    """Quantum RRXOR: a qubit memory read by Kraus operators; a 4 x 4 GHMM over 2 tokens.

    The GHMM is written in the Bloch basis.

    Each step rotates the memory by ``R_y(phi)`` and reads it with the instrument ``D_x`` (see
    :func:`quantum_rrxor_kraus`): ``rho -> K_x rho K_x^dagger`` with probability
    ``tr(K_x rho K_x^dagger)``. In the basis ``B = (I, sigma_x, sigma_y, sigma_z) / 2`` a state
    ``rho = sum_i eta_i B_i`` is the row vector ``eta = (1, b_x, b_y, b_z)`` (``b`` its Bloch
    vector), and ``T[x, i, j] = 2 Re tr(B_j K_x B_i K_x^dagger)``, so ``eta T[x]`` is the
    coefficient vector of ``K_x rho K_x^dagger``. ``r = (1, 0, 0, 0)`` (the trace) and the
    stationary state is the fully mixed ``mu = (1, 0, 0, 0)`` (the channel is unital).

    ``epsilon`` adds the source's leakage, ``T_eps[x] = (1 - eps) T[x] + (eps / 2) r mu``: with
    probability ``eps`` a uniform token is emitted and the memory resets to ``mu``
    (:func:`compmech.wrappers.leaky` with the stationary reset).

    The next-token distribution ``P(0 | eta) = eta T[0] r`` is one linear function of the Bloch
    vector, so two of the three belief-plane directions are prediction-blind. ``theta = 0`` (or
    ``pi``) is a projective readout (a classical two-state Markov chain) and ``theta = pi / 2`` an
    uninformative one (fair coin); the source docstring's "theta -> 0 is uninformative, theta -> pi
    the classical limit" does not match its own ``D_x`` (``tests/test_zoo.py`` checks both limits).

    Source: adamimos/epsilon-transformers@3691e19c epsilon_transformers/process/transition_matrices.py
    (``quantum_rrxor(phi, theta, epsilon)``); defaults ``phi = 1.0``, ``theta = pi / 3`` are that
    repository's "default parameters" (scripts/visualize_quantum_rrxor.py). The name is the
    source's: the process is not a quantisation of :func:`~compmech.processes.rrxor`.
    """
    phi = _check_finite("phi", phi)
    theta = _check_finite("theta", theta)
    epsilon = _check_probability("epsilon", epsilon)
    K = quantum_rrxor_kraus(phi, theta)
    B = _pauli_basis()
    # T[x, i, j] = 2 tr(B_j K_x B_i K_x^dagger)
    T = 2.0 * np.einsum("jab,xbc,icd,xad->xij", B, K, B, K.conj()).real
    r = np.array([1.0, 0.0, 0.0, 0.0])
    if epsilon > 0:
        T = (1.0 - epsilon) * T + (epsilon / 2.0) * np.outer(r, r)[None]
    return GHMM(T, right_eigenvector=r, name="quantum_rrxor",
                params={"phi": phi, "theta": theta, "epsilon": epsilon},
                state_names=("I", "X", "Y", "Z"))


def leaky_rrxor(p1: float = 0.5, p2: float = 0.5, epsilon: float = 0.1) -> HMM:
    """Leaky RRXOR: ``T_eps[x] = (1 - eps) T_rrxor[x] + (eps / 10) 1 1^T`` (5 states, 2 tokens).

    With probability ``eps`` the process emits a uniform token and jumps to a *uniformly* drawn
    state (the source's leak, ``ones((2, 5, 5)) / 10``), which is not RRXOR's stationary
    distribution ``(2, 1, 1, 1, 1) / 6``; :func:`compmech.wrappers.leaky` with
    ``reset="uniform"`` gives the same matrices, its default resets to the stationary state.

    Source: Astera-org/simplexity@657aff7 simplexity/generative_processes/transition_matrices.py
    (``leaky_rrxor``); defaults from tests/generative_processes/test_transition_matrices.py.
    """
    base = rrxor(p1, p2)
    epsilon = _check_probability("epsilon", epsilon)
    V, S = base.vocab_size, base.num_states
    T = (1.0 - epsilon) * base.transition_matrices + epsilon / (V * S)
    return HMM(T, name="leaky_rrxor", params={**base.params, "epsilon": epsilon},
               state_names=base.state_names)


# --------------------------------------------------------------------------- simplexity classics
def mr_name(p: float = 0.4, q: float = 0.25) -> HMM:
    """Mr. Name ("Mr. Dursley / Mr. Wonka"): 4 tokens = 4 states (Mr., Something, Blah, name).

    ``Mr.`` emits ``name`` -> name; ``name`` emits Something or Blah (1/2 each) and goes there;
    Something emits ``Mr.`` (``q``), Something (``1 - p - q``) or Blah (``p``) and Blah emits
    ``Mr.`` (``q``), Something (``p``) or Blah (``1 - p - q``), each going to the state of its token.
    With ``p = 0.4, q = 0.25`` the stationary distribution is ``(1, 2, 2, 1) / 6``.

    Source: Astera-org/simplexity@657aff7 transition_matrices.py (``mr_name``); the defaults are the
    library's test values and its in-context-learning configuration (wonka_dursley.yaml).
    """
    p = _check_probability("p", p)
    q = _check_probability("q", q)
    if p + q > 1:
        raise ValueError(f"parameters p and q must satisfy p + q <= 1; got p + q = {p + q}")
    MR, SOMETHING, BLAH, NAME = range(4)
    T = np.zeros((4, 4, 4))
    T[NAME, MR, NAME] = 1.0
    T[SOMETHING, NAME, SOMETHING] = T[BLAH, NAME, BLAH] = 0.5
    for state, other in ((SOMETHING, BLAH), (BLAH, SOMETHING)):
        T[MR, state, MR] = q
        T[state, state, state] = 1.0 - p - q
        T[other, state, other] = p
    names = ("Mr.", "Something", "Blah", "name")
    return HMM(T, name="mr_name", params={"p": p, "q": q}, state_names=names, token_names=names)


DAYS = ("M", "Tu", "W", "Th", "F", "Sa", "Su")


def days_of_week() -> HMM:
    """Days of the week: 7 states (the day), 11 tokens (the 7 days, Tmrw, Yest, Wknd, Wkdy).

    From day ``d`` (unnormalised weights, then each row divided by its total 15): the next day's
    token, going there, weight 5; each other day's token, going to that day, weight 1; Tmrw -> the
    next day, 1; Yest -> the previous day, 1; Wkdy -> a uniform weekday, 1; Wknd -> a uniform
    weekend day, 1. So ``P(next day's token) = 1/3`` and every other token has probability 1/15.

    Source: Astera-org/simplexity@657aff7 transition_matrices.py (``days_of_week``).
    """
    T = np.zeros((11, 7, 7))
    day = np.arange(7)
    T[day, :, day] = 1.0  # token d from anywhere goes to d
    T[day[(day + 1) % 7], day, (day + 1) % 7] = 5.0  # the next day's own token
    T[7, day, (day + 1) % 7] = 1.0  # Tmrw
    T[8, day, (day - 1) % 7] = 1.0  # Yest
    T[9, :, 5:] = 1.0 / 2.0  # Wknd
    T[10, :, :5] = 1.0 / 5.0  # Wkdy
    T = T / T.sum(axis=(0, 2), keepdims=True)
    return HMM(T, name="days_of_week", params={}, state_names=DAYS,
               token_names=DAYS + ("Tmrw", "Yest", "Wknd", "Wkdy"))


def matching_parens(open_probs: tuple = (1.0, 0.5, 0.5)) -> HMM:
    """Matching parentheses: the state is the nesting depth ``0 .. len(open_probs)``; 2 tokens.

    Tokens ``(`` (0) and ``)`` (1).

    At depth ``k < D`` the process opens (token 0, depth ``k + 1``) with probability
    ``open_probs[k]`` and otherwise closes (token 1, depth ``k - 1``); depth 0 must open
    (``open_probs[0] = 1``) and depth ``D`` always closes. The default's stationary distribution is
    ``(1, 2, 2, 1) / 6``.

    Source: Astera-org/simplexity@657aff7 transition_matrices.py (``matching_parens``); default
    from its tests.
    """
    probs = np.asarray(open_probs, dtype=np.float64).ravel()
    if probs.size < 1 or not np.isfinite(probs).all() or (probs <= 0).any() or (probs > 1).any():
        raise ValueError(f"open_probs must be a non-empty list of numbers in (0, 1]; got "
                         f"{list(np.atleast_1d(open_probs))}")
    if probs[0] != 1.0:
        raise ValueError(f"open_probs[0] must be 1 (depth 0 cannot close); got {probs[0]}")
    depths = np.append(probs, 0.0)  # the deepest level always closes
    T = np.stack([np.diag(depths[:-1], k=1), np.diag(1.0 - depths[1:], k=-1)])
    return HMM(T, name="matching_parens", params={"open_probs": probs.tolist()},
               state_names=tuple(f"d{k}" for k in range(depths.size)), token_names=("(", ")"))


def cycle(n: int = 4, p: float = 0.5) -> HMM:
    """Cycle: a random walk on ``n`` states that emits where it is (``n`` tokens).

    State ``i`` emits token ``i`` and steps to ``i + 1`` (prob ``p``) or ``i - 1`` (``1 - p``),
    modulo ``n``. ``n = 1`` is a constant process and ``n = 2`` the deterministic alternation
    (``p`` ignored). The default ``n = 4`` is ours (the source has none).

    Source: ealt/generators@00da4f5d transition_matrices/classical.py (``cycle(n, p=0.5)``).
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"parameter n must be an integer >= 1; got {n}")
    n = int(n)
    p = _check_probability("p", p)
    i = np.arange(n)
    T = np.zeros((n, n, n))
    if n == 1:
        T[0, 0, 0] = 1.0
    elif n == 2:
        T[i, i, 1 - i] = 1.0
    else:
        T[i, i, (i + 1) % n] = p
        T[i, i, (i - 1) % n] += 1.0 - p
    return HMM(T, name="cycle", params={"n": n, "p": p})


# ------------------------------------------------------------------------- Balcells et al. 2026
def _check_persistence(alpha: float) -> float:
    alpha = _check_probability("alpha", alpha)
    if alpha == 1.0:
        raise ValueError("parameter alpha must be < 1 (alpha = 1 never changes state: not ergodic)")
    return alpha


def arch(alpha: float = 0.99) -> HMM:
    """Arch: 4 states, 3 tokens; ``alpha`` is the probability of keeping the state.

    With ``b = (1 - alpha) / 3`` (rows: from state, columns: to state)::

        T[0] = alpha diag(0.8, 0.2, 0.4, 0.6)
        T[1] = [[0, 0, 0, 0], [0, 0.4 alpha, 0, 0.4 b], [0, 0, 0.3 alpha, 0], [0, 0, 0, 0.16 alpha]]
        T[2] = [[0.2 alpha, b, b, b], [b, 0.4 alpha, b, 0.6 b], [b, b, 0.3 alpha, b],
                [b, b, b, 0.24 alpha]]

    The emission matrix has one left-null direction in the belief plane (the paper's delta).
    Default: the paper's main-text parametrization (its family sweeps alpha = 0.90 .. 0.99).
    """
    a = _check_persistence(alpha)
    b = (1.0 - a) / 3.0
    T = np.array([
        np.diag([0.8 * a, 0.2 * a, 0.4 * a, 0.6 * a]),
        [[0, 0, 0, 0], [0, 0.4 * a, 0, 0.4 * b], [0, 0, 0.3 * a, 0], [0, 0, 0, 0.16 * a]],
        [[0.2 * a, b, b, b], [b, 0.4 * a, b, 0.6 * b], [b, b, 0.3 * a, b], [b, b, b, 0.24 * a]],
    ])
    return HMM(T, name="arch", params={"alpha": a}, token_names=("F", "Q", "V"))


def wing(alpha: float = 0.98, x: float = 0.4) -> HMM:
    """Wing: 3 states, 2 tokens; ``alpha`` keeps the state, ``x`` is the middle state's 0 rate.

    With ``b = (1 - alpha) / 2``::

        T[0] = [[0, b, 0], [0, x alpha, b / 2], [b, 0, 0]]
        T[1] = [[alpha, 0, b], [b, (1 - x) alpha, b / 2], [0, b, alpha]]

    Default: the paper's main-text parametrization (family: alpha = 0.90 .. 0.99, x = 0.4).
    """
    a = _check_persistence(alpha)
    x = _check_probability("x", x)
    b = (1.0 - a) / 2.0
    T = np.array([
        [[0, b, 0], [0, x * a, 0.5 * b], [b, 0, 0]],
        [[a, 0, b], [b, (1.0 - x) * a, 0.5 * b], [0, b, a]],
    ])
    return HMM(T, name="wing", params={"alpha": a, "x": x}, token_names=("F", "Q"))


def strata(alpha: float = 0.97, t0: float = 0.38, t1: float = 0.54) -> HMM:
    """Strata: 3 states, 2 tokens; only persisting states 0 and 1 emit token 0 (rates t0, t1).

    While the state persists (prob ``alpha``) state 0 emits token 0 with probability ``t0``, state
    1 with ``t1`` and state 2 never; every change of state emits token 1.

    With ``b = (1 - alpha) / 2``::

        T[0] = diag(t0 alpha, t1 alpha, 0)
        T[1] = [[(1 - t0) alpha, b, b], [b, (1 - t1) alpha, b], [b, b, alpha]]

    Default: the paper's main-text parametrization (family: alpha = 0.90 .. 0.99, t0 = 0.38,
    t1 = 0.54).
    """
    a = _check_persistence(alpha)
    t0 = _check_probability("t0", t0)
    t1 = _check_probability("t1", t1)
    b = (1.0 - a) / 2.0
    T = np.array([
        np.diag([t0 * a, t1 * a, 0.0]),
        [[(1.0 - t0) * a, b, b], [b, (1.0 - t1) * a, b], [b, b, a]],
    ])
    return HMM(T, name="strata", params={"alpha": a, "t0": t0, "t1": t1}, token_names=("F", "Q"))


#: Where each zoo process comes from (shown by ``compmech processes``).
REFERENCES = {
    "quantum_rrxor": "adamimos/epsilon-transformers@3691e19c epsilon_transformers/process/"
                     "transition_matrices.py (Riechers & Crutchfield 2021; Riechers, Elliott & "
                     "Shai 2025, arXiv:2507.07432)",
    "leaky_rrxor": f"{SIMPLEXITY} simplexity/generative_processes/transition_matrices.py",
    "mr_name": f"{SIMPLEXITY} transition_matrices.py; in-context learning, arXiv:2505.18373",
    "days_of_week": f"{SIMPLEXITY} transition_matrices.py",
    "matching_parens": f"{SIMPLEXITY} transition_matrices.py",
    "cycle": "ealt/generators@00da4f5d transition_matrices/classical.py",
    "arch": BALCELLS,
    "wing": BALCELLS,
    "strata": BALCELLS,
}

_HMMS = {"leaky_rrxor": leaky_rrxor, "mr_name": mr_name, "days_of_week": days_of_week,
         "matching_parens": matching_parens, "cycle": cycle, "arch": arch, "wing": wing,
         "strata": strata}

for _name, _fn in _HMMS.items():
    register_process(_name, _fn, reference=REFERENCES[_name])
register_process("quantum_rrxor", quantum_rrxor, generalized=True,
                 reference=REFERENCES["quantum_rrxor"])

__all__ = ["arch", "cycle", "days_of_week", "leaky_rrxor", "matching_parens", "mr_name",
           "quantum_rrxor", "quantum_rrxor_kraus", "strata", "wing"]
