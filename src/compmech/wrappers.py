"""Wrappers: new processes made from any process (HMM, GHMM, mixture or product), each an exact
finite presentation, so every theory function, ``generate``, ``train`` and ``probe`` takes them.

* :func:`leaky`: ``T'[x] = (1 - eps) T[x] + (eps / V) r rho``; with probability ``eps`` a uniform
  token is emitted and the state resets to ``rho`` (default the stationary state).
* :func:`noisy_channel`: each token is replaced by a uniform token with probability ``eps``:
  ``T'[y] = sum_x B[x, y] T[x]``, ``B = (1 - eps) I + eps / V`` (jointly over a product's
  composite tokens), or per factor of a product (``B`` the Kronecker product of the factors'
  channels, the product structure kept).
* :func:`binary_encoded`: each token emitted as its ``n = ceil(log2 V)`` big-endian bits; the
  state moves only after a whole word.
* :func:`inflated_vocabulary`: each token ``x`` becomes one of ``K`` tokens ``k V + x`` (a
  uniform, stateless noise prefix ``k``, the most significant digit); the optimal loss rises by
  exactly ``ln K`` nats per token.

Each wrapper's ``process`` argument is anything :func:`compmech.compose.resolve_process` accepts
(a process, a catalogue name, ``(name, params)``, a JSON file or a dict), so the wrappers are
catalogue entries too: ``get_process("noisy_channel", process="mess3", epsilon=0.1)``. The
catalogue defaults of the wrapped process and parameters are illustrative choices of ours.

Sources: the leak follows adamimos/epsilon-transformers@3691e19c (``quantum_rrxor``'s epsilon)
and ealt/generators transition_matrices/augmentations.py (``leak_toward``); the noisy channel
Astera-org/simplexity simplexity/generative_processes/noisy_channel.py (joint blur over composite
tokens for factored processes); binary encoding simplexity binary_encoded_process.py; the inflated
vocabulary begelb/simplexity@40757507 simplexity/generative_processes/inflated_vocabulary_process.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compmech.compose import product_tokens, resolve_process
from compmech.hmm import GHMM, HMM, Process
from compmech.processes import _check_probability, register_process
from compmech.validation import EIGENVECTOR_TOL


def _entry(process: Process) -> dict[str, Any]:
    return {"process": process.name, "params": dict(process.params)}


def _build(base: Process, T: np.ndarray, *, name: str, params: dict, initial, token_names,
           keep_structure: bool) -> Process:
    """The wrapped process: ``T`` on ``base``'s states (its state names and right eigenvector),
    started at ``initial`` (``None``: stationary), with ``base``'s factor structure when
    ``keep_structure``. An HMM when ``base`` is classical and ``T`` is stochastic with ``r = 1``,
    else a GHMM."""
    right = base.right_eigenvector
    common = dict(initial_distribution=initial, name=name, params=params,
                  token_names=token_names, state_names=base.state_names,
                  structure=base.structure if keep_structure else None)
    if base.kind == "hmm" and (T >= 0).all() and np.array_equal(right, np.ones(T.shape[1])):
        return HMM(T, **common)
    return GHMM(T, right_eigenvector=right, **common)


def _starts_stationary(process: Process) -> bool:
    return process.is_ergodic and np.allclose(process.initial_distribution,
                                              process.stationary_distribution, rtol=0, atol=1e-13)


# --------------------------------------------------------------------------------------- leaky
def _reset_vector(base: Process, reset: Any) -> np.ndarray:
    r = base.right_eigenvector
    S = base.num_states
    if isinstance(reset, str):
        if reset == "stationary":
            return base.stationary_distribution  # raises for a non-ergodic process
        if reset == "uniform":
            norm = float(np.ones(S) @ r)
            if abs(norm) < EIGENVECTOR_TOL:
                raise ValueError("reset='uniform' needs sum(r) != 0; give the reset vector")
            return np.ones(S) / norm
        raise ValueError(f"reset must be 'stationary', 'uniform' or a vector; got {reset!r}")
    rho = np.asarray(reset, dtype=np.float64)
    if rho.shape != (S,) or not np.isfinite(rho).all():
        raise ValueError(f"reset must be {S} finite numbers; got {np.asarray(reset).tolist()}")
    if abs(float(rho @ r) - 1.0) > EIGENVECTOR_TOL:
        raise ValueError(f"reset vector must satisfy rho r = 1 (r the right eigenvector); "
                         f"rho r = {float(rho @ r):.12g}")
    return rho


def leaky(process: Any = "mess3", epsilon: float = 0.05, reset: Any = "stationary") -> Process:
    """Leakage (any process): with probability ``epsilon`` emit a uniform token and reset the state.

    The state resets to ``rho`` (default the stationary state).

    ``T'[x] = (1 - eps) T[x] + (eps / V) outer(r, rho)`` with ``rho r = 1``, so ``M' r = r`` and,
    for ``rho = mu`` (the stationary state, the default), ``mu M' = mu``: the stationary state is
    unchanged. A GHMM stays a GHMM (a valid reset state keeps every word probability >= 0).

    Args:
        process: the process to wrap (see the module docstring).
        epsilon: leak probability in [0, 1]; 0 returns the same matrices.
        reset: ``"stationary"``, ``"uniform"`` (``1 / sum(r)`` on every basis vector; for an HMM
            the uniform distribution over states, the leak of simplexity's ``leaky_rrxor``) or an
            ``(S,)`` vector with ``rho r = 1``.

    Returns:
        an HMM when the input is one and ``rho >= 0``, else a GHMM. Sequences start where the
        wrapped process starts, except that a stationary start stays stationary.
    """
    base = resolve_process(process)
    epsilon = _check_probability("epsilon", epsilon)
    rho = _reset_vector(base, reset)
    V = base.vocab_size
    T = (1.0 - epsilon) * base.transition_matrices + (epsilon / V) * np.outer(
        base.right_eigenvector, rho)[None]
    keeps_start = epsilon == 0 or isinstance(reset, str) and reset == "stationary"
    initial = base.initial_distribution if keeps_start or not _starts_stationary(base) else None
    params = {"process": _entry(base), "epsilon": epsilon,
              "reset": reset if isinstance(reset, str) else rho.tolist()}
    return _build(base, T, name=f"leaky_{base.name}", params=params, initial=initial,
                  token_names=base.token_names, keep_structure=epsilon == 0)


# ------------------------------------------------------------------------------- noisy channel
def channel_matrix(process: Process, epsilon: float, per_factor: bool = False) -> np.ndarray:
    """``(V, V)`` ``B[x, y] = P(observe y | emitted x)`` of :func:`noisy_channel`.

    Joint: ``B = (1 - eps) I + eps / V``. Per factor (a product only): ``B[x, y] =
    prod_f ((1 - eps) [x_f = y_f] + eps / V_f)`` with ``x_f`` the factor tokens of the composite
    token (:func:`compmech.compose.product_tokens`, so it follows the composite-token convention).
    """
    epsilon = _check_probability("epsilon", epsilon)
    V = process.vocab_size
    if not per_factor:
        return (1.0 - epsilon) * np.eye(V) + epsilon / V
    structure = process.structure
    if structure is None or structure.kind != "product":
        raise ValueError(f"per_factor=True needs a product process; {process.name!r} is not one")
    digits = product_tokens(process, np.arange(V))  # (V, F)
    sizes = np.asarray(structure.vocab_sizes, dtype=np.float64)
    same = digits[:, None, :] == digits[None, :, :]  # (V, V, F)
    return np.prod((1.0 - epsilon) * same + epsilon / sizes, axis=-1)


def noisy_channel(process: Any = "mess3", epsilon: float = 0.1, per_factor: bool = False) -> Process:
    """Noisy channel: each token is replaced by a uniform token with probability ``epsilon``.

    The replacement may be the same token.

    ``T'[y] = sum_x B[x, y] T[x]`` (:func:`channel_matrix`), so ``P'(y | eta) = (1 - eps) P(y |
    eta) + eps / V`` at every belief ``eta`` while ``M = sum_y T'[y]``, ``r`` and the stationary
    state are unchanged. For a product, ``per_factor=False`` blurs the composite token (as the
    group's library does for factored processes) and ``per_factor=True`` each factor's token
    independently, which keeps the product structure (and factored beliefs).

    Args:
        process: the process to wrap (see the module docstring).
        epsilon: replacement probability in [0, 1]; 0 returns the same matrices.
        per_factor: blur each factor of a product separately.
    """
    base = resolve_process(process)
    B = channel_matrix(base, epsilon, per_factor)
    T = np.tensordot(B, base.transition_matrices, axes=(0, 0))  # sum_x B[x, y] T[x] (BLAS)
    keep = epsilon == 0 or per_factor
    params = {"process": _entry(base), "epsilon": float(epsilon), "per_factor": bool(per_factor)}
    return _build(base, T, name=f"noisy_{base.name}", params=params,
                  initial=base.initial_distribution, token_names=base.token_names,
                  keep_structure=keep)


# ------------------------------------------------------------------------------ binary encoding
def _prefix_nodes(num_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Depth and value of the ``2^n - 1`` prefixes shorter than a word (node ``2^k - 1 + v``)."""
    depth = np.concatenate([np.full(2**k, k) for k in range(num_bits)])
    value = np.concatenate([np.arange(2**k) for k in range(num_bits)])
    return depth, value


def binary_encoded(process: Any = "mess3") -> Process:
    """Binary encoding: each token emitted as its big-endian bits; the state moves after a word.

    A word has ``n = ceil(log2 V)`` bits, most significant first; the wrapped state moves only
    when a word is complete.

    States are pairs (wrapped state ``s``, prefix ``p`` of fewer than ``n`` bits), index
    ``s (2^n - 1) + node(p)``. In the linear form every bit but the last carries ``s`` along
    (``L_b[(s, p), (s, pb)] = 1``) and the last applies ``T[x]`` for ``x = pb``
    (``L_b[(s, p), (s', root)] = T[x, s, s']``; codes ``x >= V`` have probability 0), so the bits
    of a word ``w`` multiply to ``T[w]``; ``r'(s, p) = sum_{x extends p} (T[x] r)_s``. A classical
    HMM is returned in its stochastic form ``D^-1 L_b D`` (``D = diag(r')``, states with
    ``r' = 0`` dropped): from ``(s, p)`` bit ``b`` has probability ``r'(s, pb) / r'(s, p)``.
    Sequences start at a word boundary in the wrapped process's start (the process is periodic in
    the bit position, so its stationary distribution mixes the phases and is not the start).

    Args:
        process: the process to wrap, ``V >= 2``.
    """
    base = resolve_process(process)
    V, S = base.vocab_size, base.num_states
    if V < 2:
        raise ValueError(f"binary encoding needs a vocabulary of at least 2 tokens; "
                         f"{base.name!r} has {V}")
    n = int(np.ceil(np.log2(V)))
    P = 2**n - 1
    depth, value = _prefix_nodes(n)
    T = base.transition_matrices
    E = base.emission_probabilities  # (S, V)
    codes = np.zeros((S, 2**n))
    codes[:, :V] = E
    span = 2 ** (n - depth)  # codes under a node: value * span .. (value + 1) * span - 1
    under = (np.arange(2**n)[None, :] // span[:, None]) == value[:, None]  # (P, 2^n)
    r_new = (codes @ under.T.astype(np.float64)).reshape(S * P)  # r'(s, p), index s P + node
    L = np.zeros((2, S, P, S, P))
    s = np.arange(S)
    inner = np.flatnonzero(depth < n - 1)
    for b in (0, 1):  # two bits, not a per-token loop
        child = 2 ** (depth[inner] + 1) - 1 + 2 * value[inner] + b
        L[b, s[:, None], inner[None, :], s[:, None], child[None, :]] = 1.0
        last = np.flatnonzero(depth == n - 1)
        x = 2 * value[last] + b
        ok = x < V
        L[b, :, last[ok], :, 0] = T[x[ok]]  # (k, S, S') into [s, last node k, s', root]
    L = L.reshape(2, S * P, S * P)
    start = np.zeros((S, P))
    start[:, 0] = base.initial_distribution
    start = start.reshape(S * P)
    prefixes = [""] + [format(v, f"0{k}b") for k, v in zip(depth[1:], value[1:], strict=True)]
    names = [f"{a}|{p}" for a in base.state_names for p in prefixes]
    params = {"process": _entry(base)}
    if base.kind == "hmm":
        keep = r_new > 0
        d = r_new[keep]
        Tb = L[:, keep][:, :, keep] * (d[None, :] / d[:, None])[None]
        return HMM(Tb, initial_distribution=start[keep] * d, name=f"binary_{base.name}",
                   params=params, state_names=[m for m, k in zip(names, keep, strict=True) if k],
                   token_names=("0", "1"))
    return GHMM(L, initial_distribution=start, right_eigenvector=r_new, name=f"binary_{base.name}",
                params=params, state_names=names, token_names=("0", "1"))


# ------------------------------------------------------------------------- inflated vocabulary
def inflated_vocabulary(process: Any = "mess3", factor: int = 2) -> Process:
    """Inflated vocabulary: each token split into ``factor`` tokens by a stateless noise prefix.

    Token ``x`` becomes ``k V + x`` for a uniform prefix ``k < K = factor`` (the most significant
    digit): ``T'[k V + x] = T[x] / K``.

    The state dynamics see only ``x``, so every conditional ``P'(k V + x | past) = P(x | past') /
    K`` and the optimal cross-entropy rises by exactly ``ln K`` nats at every position.

    Args:
        process: the process to wrap.
        factor: ``K >= 1`` (``K = 1`` returns the same matrices).
    """
    base = resolve_process(process)
    if isinstance(factor, bool) or int(factor) != factor or factor < 1:
        raise ValueError(f"parameter factor must be an integer >= 1; got {factor}")
    K = int(factor)
    T = np.tile(base.transition_matrices / K, (K, 1, 1))  # index k V + x
    tokens = [f"{k}:{t}" for k in range(K) for t in base.token_names] if K > 1 else base.token_names
    return _build(base, T, name=f"inflated_{base.name}", params={"process": _entry(base),
                                                                "factor": K},
                  initial=base.initial_distribution, token_names=tokens, keep_structure=K == 1)


REFERENCES = {
    "leaky": "ealt/generators transition_matrices/augmentations.py (leak_toward); "
             "adamimos/epsilon-transformers@3691e19c (quantum_rrxor epsilon)",
    "noisy_channel": "Astera-org/simplexity@79ba6202 simplexity/generative_processes/"
                     "noisy_channel.py",
    "binary_encoded": "Astera-org/simplexity@4f5702b6 simplexity/generative_processes/"
                      "binary_encoded_process.py",
    "inflated_vocabulary": "begelb/simplexity@40757507 simplexity/generative_processes/"
                           "inflated_vocabulary_process.py",
}

for _name, _fn in (("leaky", leaky), ("noisy_channel", noisy_channel),
                   ("binary_encoded", binary_encoded), ("inflated_vocabulary", inflated_vocabulary)):
    register_process(_name, _fn, wrapper=True, reference=REFERENCES[_name])

__all__ = ["binary_encoded", "channel_matrix", "inflated_vocabulary", "leaky", "noisy_channel"]
