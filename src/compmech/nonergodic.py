"""Non-ergodic mixtures with the semantics of the Generative Processes Specification v1.0
(Astera-org/simplexity, ``docs/generative-processes-spec.md`` §5), for components of any kind.

:class:`StatefulMixture`: components (any processes), weights and injective vocabulary maps;
the state is the component posterior ``beta`` followed by the components' states. An observation
impossible under every component leaves the whole state unchanged (§5.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from compmech.stateful import StatefulProcess, as_stateful


class StatefulMixture(StatefulProcess):
    """A non-ergodic mixture under the specification's semantics (§5), for any components.

    State: ``(beta (C,), s^1, .., s^C)`` side by side. ``P(x) = sum_i beta_i 1{x in S_i}
    P_i(phi_i^-1(x) | s^i)``; the update is Bayes' rule on ``beta``, components with ``l_i > 0``
    update, the others keep their state, and ``L = 0`` leaves everything unchanged.

    Args:
        components: processes (HMM, GHMM or stateful).
        weights: ``(C,)`` non-negative, summing to 1.
        vocab_maps: per component an injective list of global tokens.
        name: the process's name.
    """

    def __init__(self, components: Sequence[Any], weights: Any, vocab_maps: Sequence[Any],
                 name: str = "nonergodic", initial_state: Any = None) -> None:
        self.components = tuple(components)
        self._inner = tuple(as_stateful(c) for c in self.components)
        C = len(self._inner)
        w = np.asarray(weights, dtype=np.float64)
        if C == 0 or w.shape != (C,) or (w < 0).any() or abs(w.sum() - 1) > 1e-8:
            raise ValueError(f"weights must be {C} non-negative numbers summing to 1; got {w.tolist()}")
        self.weights = w / w.sum()
        if len(vocab_maps) != C:
            raise ValueError(f"vocab_maps must have one map per component ({C})")
        self.vocab_maps = tuple(np.asarray(m, dtype=np.int64) for m in vocab_maps)
        for i, (m, c) in enumerate(zip(self.vocab_maps, self._inner, strict=True)):
            if m.shape != (c.vocab_size,) or (m < 0).any() or np.unique(m).shape[0] != m.shape[0]:
                raise ValueError(f"vocab map {i} must give {c.vocab_size} distinct global tokens "
                                 f"(>= 0) for the tokens of component {i}; got {m.tolist()}")
        self.vocab_size = int(max(int(m.max()) for m in self.vocab_maps)) + 1
        self.sizes = (C,) + tuple(c.num_states for c in self._inner)
        self._offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.num_states = int(self._offsets[-1])
        # local[i][x] = component i's token for global x, or -1
        self._local = []
        for m in self.vocab_maps:
            loc = np.full(self.vocab_size, -1, dtype=np.int64)
            loc[m] = np.arange(m.shape[0])
            self._local.append(loc)
        self.name = name
        self.params = {"weights": self.weights.tolist()}
        self.initial_distribution = (np.concatenate([self.weights] + [
            c.initial_distribution for c in self._inner]) if initial_state is None else
            np.asarray(initial_state, dtype=np.float64))
        if self.initial_distribution.shape != (self.num_states,):
            raise ValueError(f"initial state must have shape ({self.num_states},)")

    def split(self, states: np.ndarray) -> list[np.ndarray]:
        """``(N, D) -> [beta (N, C), s^1 (N, D_1), ...]``."""
        return [states[:, a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:], strict=True)]

    def _likelihoods(self, parts) -> np.ndarray:
        """``(N, C, V)``: ``l_i(x) = 1{x in S_i} P_i(phi_i^-1(x) | s^i)``."""
        N = parts[0].shape[0]
        out = np.zeros((N, len(self._inner), self.vocab_size))
        for i, (c, s) in enumerate(zip(self._inner, parts[1:], strict=True)):
            out[:, i, self.vocab_maps[i]] = c.token_probabilities(s)
        return out

    def token_probabilities(self, states: np.ndarray) -> np.ndarray:
        parts = self.split(np.asarray(states, dtype=np.float64))
        return np.einsum("nc,ncx->nx", parts[0], self._likelihoods(parts))

    def update(self, states: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        states = np.asarray(states, dtype=np.float64)
        tokens = np.asarray(tokens, dtype=np.int64)
        parts = self.split(states)
        rows = np.arange(states.shape[0])
        ell = self._likelihoods(parts)[rows, :, tokens]  # (N, C)
        L = (parts[0] * ell).sum(axis=1)
        moved = L > 0
        beta = np.where(moved[:, None], parts[0] * ell / np.where(moved, L, 1.0)[:, None], parts[0])
        new = [beta]
        for i, (c, s) in enumerate(zip(self._inner, parts[1:], strict=True)):
            local = self._local[i][tokens]
            go = moved & (ell[:, i] > 0)
            upd = s.copy()
            if go.any():
                upd[go] = c.update(s[go], local[go])
            new.append(upd)
        return np.concatenate(new, axis=1)

    def to_dict(self) -> dict[str, Any]:
        """A ``nonergodic`` object; components in their own ``to_dict`` format (a spec object for
        stateful components, our format for HMMs/GHMMs: :func:`compmech.spec.read_spec` reads
        both; :func:`compmech.spec.spec_dict` gives the strict spec form)."""
        return {"type": "nonergodic", "name": self.name,
                "components": [c.to_dict() for c in self.components],
                "weights": self.weights.tolist(), "vocab_maps": [m.tolist() for m in self.vocab_maps]}

    @property
    def state_names(self) -> tuple:
        return tuple([f"beta{i}" for i in range(len(self.components))] + [
            f"c{i}.{n}" for i, c in enumerate(self._inner) for n in c.state_names])

    def with_initial_distribution(self, state) -> StatefulMixture:
        return StatefulMixture(self.components, self.weights, self.vocab_maps, self.name,
                               initial_state=state)


__all__ = ["StatefulMixture"]
