"""Hypothesis strategies shared by the tests."""

import numpy as np
from hypothesis import strategies as st


@st.composite
def stochastic_arrays(draw, max_states=4, max_vocab=3, min_entry=0.01):
    """Random valid ``(V, S, S)`` arrays (S in 1..max_states, V in 1..max_vocab) with some exact
    zeros; nonzero entries are at least ``min_entry`` before normalisation."""
    S = draw(st.integers(1, max_states))
    V = draw(st.integers(1, max_vocab))
    T = np.zeros((V, S, S))
    for i in range(S):
        vals = draw(st.lists(st.one_of(st.just(0.0), st.floats(min_entry, 1.0)),
                             min_size=V * S, max_size=V * S))
        row = np.array(vals)
        if row.sum() == 0:
            row[draw(st.integers(0, V * S - 1))] = 1.0
        T[:, i, :] = (row / row.sum()).reshape(V, S)
    return T
