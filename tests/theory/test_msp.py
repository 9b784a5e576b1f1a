"""MSP tree, MSP graph and Blackwell sampling against brute force and hand-derived facts."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compmech
from compmech.information import entropy_bits
from compmech.msp import iter_belief_levels, merge_beliefs

CATALOGUE = ["z1r", "mess3", "rrxor", "even", "golden_mean", "sns", "nond"]


def _hidden_path_oracle(hmm, word):
    """P(word) and the final belief by summing over every hidden-state path (no filtering)."""
    T, pi = hmm.transition_matrices, hmm.initial_distribution
    S = hmm.num_states
    final = np.zeros(S)
    for path in itertools.product(range(S), repeat=len(word) + 1):
        p = pi[path[0]]
        for t, x in enumerate(word):
            p *= T[x, path[t], path[t + 1]]
        final[path[-1]] += p
    total = final.sum()
    return total, (final / total if total > 0 else final)


# ------------------------------------------------------------------------------------ tree
@pytest.mark.parametrize("name", CATALOGUE)
def test_tree_matches_word_enumeration_and_filter(name):
    hmm = compmech.get_process(name)
    depth = 5
    tree = compmech.mixed_state_tree(hmm, depth)
    assert tree.depth == depth
    np.testing.assert_allclose(tree.beliefs[0][0], hmm.initial_distribution, atol=0)
    for d in range(1, depth + 1):
        np.testing.assert_allclose(tree.probabilities[d].sum(), 1.0, atol=1e-12)
        assert (tree.probabilities[d] > 0).all() and np.isfinite(tree.beliefs[d]).all()
    # the deepest level holds exactly the nonzero-probability words, each once, with P(word)
    words, probs = compmech.enumerate_words(hmm, depth)
    index = {tuple(w): p for w, p in zip(words.tolist(), probs, strict=True)}
    tree_words = tree.words(depth)
    assert tree_words.shape[0] == int((probs > 0).sum())
    assert len({tuple(w) for w in tree_words.tolist()}) == tree_words.shape[0]
    expected = np.array([index[tuple(w)] for w in tree_words.tolist()])
    np.testing.assert_allclose(tree.probabilities[depth], expected, rtol=1e-10)
    # beliefs at every level equal the filter's beliefs after the corresponding prefix
    filtered = compmech.filter_beliefs(hmm, tree_words).beliefs  # (N, depth, S)
    node = np.arange(tree_words.shape[0])
    for d in range(depth, 0, -1):
        np.testing.assert_allclose(tree.beliefs[d][node], filtered[:, d - 1], atol=1e-12)
        node = tree.parents[d][node]


@pytest.mark.parametrize("name", ["mess3", "rrxor", "nond"])
def test_tree_matches_hidden_path_sums(name):
    hmm = compmech.get_process(name)
    tree = compmech.mixed_state_tree(hmm, 3)
    words = tree.words(3)
    for k in range(words.shape[0]):
        p, belief = _hidden_path_oracle(hmm, words[k])
        assert tree.probabilities[3][k] == pytest.approx(p, rel=1e-12)
        np.testing.assert_allclose(tree.beliefs[3][k], belief, atol=1e-13)


def test_tree_parent_and_token_links_are_consistent():
    hmm = compmech.get_process("mess3")
    tree = compmech.mixed_state_tree(hmm, 4)
    T = hmm.transition_matrices
    for d in range(1, 5):
        parent_beliefs = tree.beliefs[d - 1][tree.parents[d]]
        unnorm = np.einsum("ns,nst->nt", parent_beliefs, T[tree.tokens[d]])
        z = unnorm.sum(1)
        np.testing.assert_allclose(tree.beliefs[d], unnorm / z[:, None], atol=1e-14)
        np.testing.assert_allclose(
            tree.probabilities[d], tree.probabilities[d - 1][tree.parents[d]] * z, rtol=1e-13
        )


def test_mess3_tree_size_and_zero_probability_words_are_not_expanded():
    assert compmech.mixed_state_tree(compmech.get_process("mess3"), 10).num_nodes == sum(
        3**k for k in range(11)
    )
    # Z1R from the stationary start: words of length L >= 3 are one of 3 phases times the random
    # bits, so only 3 * 2^ceil(L/3)-ish words survive; the tree holds exactly those, no NaN.
    hmm = compmech.get_process("z1r")
    tree = compmech.mixed_state_tree(hmm, 8)
    _, probs = compmech.enumerate_words(hmm, 8)
    assert tree.probabilities[8].shape[0] == int((probs > 0).sum()) < 2**8
    assert all(np.isfinite(b).all() for b in tree.beliefs)


def test_merged_levels_equal_tree_levels_grouped_by_belief():
    hmm = compmech.get_process("rrxor")
    tree = compmech.mixed_state_tree(hmm, 6)
    for level in iter_belief_levels(hmm, 6):
        b, p = merge_beliefs(tree.beliefs[level.depth], tree.probabilities[level.depth], 1e-12)
        order_a = np.lexsort(np.round(level.beliefs, 9).T)
        order_b = np.lexsort(np.round(b, 9).T)
        np.testing.assert_allclose(level.beliefs[order_a], b[order_b], atol=1e-12)
        np.testing.assert_allclose(level.probabilities[order_a], p[order_b], atol=1e-14)


def test_bad_depth_raises():
    with pytest.raises(ValueError, match="depth"):
        compmech.mixed_state_tree(compmech.get_process("even"), -1)


# ----------------------------------------------------------------------------------- graph
def _check_graph_invariants(hmm, msp):
    S = msp.beliefs.shape[1]
    T = hmm.transition_matrices
    # out-probabilities of every expanded state sum to 1; unexpanded ones have none
    out = np.bincount(msp.edge_source, weights=msp.edge_probability, minlength=msp.num_states)
    np.testing.assert_allclose(out[msp.expanded], 1.0, atol=1e-12)
    assert (out[~msp.expanded] == 0).all()
    # each edge is the belief update, and its probability is P(x | eta)
    src = msp.beliefs[msp.edge_source]
    unnorm = np.einsum("ns,nst->nt", src, T[msp.edge_token])
    np.testing.assert_allclose(unnorm.sum(1), msp.edge_probability, atol=1e-13)
    np.testing.assert_allclose(unnorm / unnorm.sum(1, keepdims=True),
                               msp.beliefs[msp.edge_target], atol=msp.tol)
    # unifilar: at most one edge per (state, token)
    pairs = msp.edge_source * hmm.vocab_size + msp.edge_token
    assert np.unique(pairs).shape[0] == pairs.shape[0]
    assert msp.beliefs.shape == (msp.num_states, S)


@pytest.mark.parametrize("name", ["even", "golden_mean", "z1r", "rrxor"])
def test_unifilar_synchronising_msp_recurrent_part_is_the_epsilon_machine(name):
    hmm = compmech.get_process(name)  # these catalogue presentations are minimal and unifilar
    msp = compmech.mixed_state_presentation(hmm)
    _check_graph_invariants(hmm, msp)
    assert not msp.truncated
    assert msp.num_recurrent == hmm.num_states
    assert msp.num_recurrent + msp.num_transient == msp.num_states
    causal = msp.causal_states()
    # causal states are the delta beliefs on the generator's states: an isomorphism
    assert np.allclose(causal.max(1), 1.0) and np.allclose(causal.sum(1), 1.0)
    perm = causal.argmax(1)
    assert sorted(perm.tolist()) == list(range(hmm.num_states))
    eps = msp.recurrent_hmm()
    np.testing.assert_allclose(
        eps.transition_matrices, hmm.transition_matrices[:, perm][:, :, perm], atol=1e-12
    )
    pi_msp = eps.initial_distribution
    np.testing.assert_allclose(pi_msp, hmm.stationary_distribution[perm], atol=1e-12)
    c_mu = compmech.statistical_complexity(hmm, msp=msp)
    assert c_mu.num_causal_states == hmm.num_states
    assert c_mu.bits == pytest.approx(entropy_bits(hmm.stationary_distribution), abs=1e-12)


def test_rrxor_msp_has_36_states_and_whole_msp_is_an_equivalent_hmm():
    hmm = compmech.get_process("rrxor")
    msp = compmech.mixed_state_presentation(hmm)
    assert msp.num_states == 36
    as_hmm = msp.to_hmm()
    for L in (2, 6):
        _, p_orig = compmech.enumerate_words(hmm, L)
        _, p_msp = compmech.enumerate_words(as_hmm, L)
        np.testing.assert_allclose(p_msp, p_orig, atol=1e-13)


def test_even_process_msp_structure_derived_by_hand():
    # From pi = (2/3, 1/3): a 1 leads to (1/2, 1/2), another 1 back to pi; a 0 synchronises to A.
    hmm = compmech.get_process("even")
    msp = compmech.mixed_state_presentation(hmm)
    assert (msp.num_states, msp.num_recurrent, msp.num_transient) == (4, 2, 2)
    transient = msp.beliefs[~msp.recurrent]
    expected = np.array([[2 / 3, 1 / 3], [0.5, 0.5]])
    np.testing.assert_allclose(transient[np.argsort(transient[:, 0])[::-1]], expected, atol=1e-12)


@pytest.mark.parametrize("name", ["mess3", "sns"])
def test_infinite_msp_is_reported_truncated(name):
    hmm = compmech.get_process(name)
    msp = compmech.mixed_state_presentation(hmm, max_states=500)
    assert msp.truncated
    assert msp.num_states == 500
    assert not msp.expanded.all()
    _check_graph_invariants(hmm, msp)
    assert msp.num_recurrent == 0
    with pytest.raises(ValueError, match="truncated"):
        msp.recurrent_hmm()
    with pytest.raises(ValueError, match="truncated"):
        msp.to_hmm()
    c_mu = compmech.statistical_complexity(hmm, msp=msp)
    assert c_mu.bits is None and "did not close" in c_mu.reason


def test_sparse_transition_matrices_match_dense():
    hmm = compmech.get_process("rrxor")
    msp = compmech.mixed_state_presentation(hmm)
    dense = msp.dense_transition_matrices()
    for x in range(hmm.vocab_size):
        np.testing.assert_allclose(msp.transition_matrix(x).toarray(), dense[x], atol=0)
    np.testing.assert_allclose(msp.transition_matrix().toarray(), dense.sum(0), atol=0)


def test_dense_matrix_refused_for_many_states():
    msp = compmech.mixed_state_presentation(compmech.get_process("mess3"), max_states=3000)
    with pytest.raises(ValueError, match="MAX_DENSE_STATES"):
        msp.dense_transition_matrices()


def test_graph_bad_arguments():
    hmm = compmech.get_process("even")
    with pytest.raises(ValueError, match="max_states"):
        compmech.mixed_state_presentation(hmm, max_states=0)
    with pytest.raises(ValueError, match="tol"):
        compmech.mixed_state_presentation(hmm, tol=0.0)


# ------------------------------------------------------------------------------- Blackwell
def test_blackwell_beliefs_are_distributions_with_mean_pi():
    # Stationarity of the belief process: E_Blackwell[eta] = pi.
    hmm = compmech.get_process("mess3", x=0.1, alpha=0.7)
    sample = compmech.blackwell_sample(hmm, 200_000, seed=1)
    pts = sample.points
    assert pts.shape == (200_000, 3) and pts.dtype == np.float64
    np.testing.assert_allclose(pts.sum(1), 1.0, atol=1e-12)
    assert (pts >= 0).all()
    chain_means = sample.beliefs.mean(1)  # (C, S)
    stderr = chain_means.std(0, ddof=1) / np.sqrt(chain_means.shape[0])
    assert (np.abs(pts.mean(0) - hmm.stationary_distribution) < 5 * stderr + 1e-12).all()


def test_blackwell_chains_follow_the_belief_update():
    hmm = compmech.get_process("mess3")
    s = compmech.blackwell_sample(hmm, 300, seed=0, num_chains=3, burn_in=5)
    prev = np.concatenate([s.previous_beliefs[:, None], s.beliefs[:, :-1]], axis=1)
    unnorm = np.einsum("cks,ckst->ckt", prev, hmm.transition_matrices[s.tokens])
    np.testing.assert_allclose(s.beliefs, unnorm / unnorm.sum(-1, keepdims=True), atol=1e-13)


def test_blackwell_is_reproducible_and_seeded():
    hmm = compmech.get_process("mess3")
    a = compmech.blackwell_beliefs(hmm, 5000, seed=3)
    b = compmech.blackwell_beliefs(hmm, 5000, seed=3)
    c = compmech.blackwell_beliefs(hmm, 5000, seed=4)
    assert a.shape == (5000, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="num_points"):
        compmech.blackwell_beliefs(hmm, 0, seed=0)


# ------------------------------------------------------------------------ random stochastic HMMs
def _numpy_word_probabilities(hmm, L):
    """``(V**L,)`` P(word) for all words in lexicographic order by plain matrix products."""
    T, pi = hmm.transition_matrices, hmm.initial_distribution
    vectors = pi[None, :]
    for _ in range(L):  # extend every word by every token: (n, S) -> (n * V, S)
        vectors = np.einsum("ns,xst->nxt", vectors, T).reshape(-1, hmm.num_states)
    return vectors.sum(1)


@settings(max_examples=25, deadline=None)
@given(
    num_states=st.integers(1, 4),
    vocab_size=st.integers(1, 3),
    seed=st.integers(0, 10_000),
    concentration=st.sampled_from([0.05, 0.3, 1.0]),
)
def test_random_hmm_tree_entropies_and_graph(num_states, vocab_size, seed, concentration):
    hmm = compmech.get_process("random_hmm", num_states=num_states, vocab_size=vocab_size,
                               seed=seed, concentration=concentration)
    L = 4
    tree = compmech.mixed_state_tree(hmm, L)
    H = []
    for d in range(1, L + 1):
        p = _numpy_word_probabilities(hmm, d)
        nonzero = p[p > 0]
        np.testing.assert_allclose(np.sort(tree.probabilities[d]), np.sort(nonzero), rtol=1e-9,
                                   atol=1e-300)
        np.testing.assert_allclose(tree.probabilities[d].sum(), 1.0, atol=1e-12)
        H.append(-(nonzero * np.log2(nonzero)).sum())
    np.testing.assert_allclose(compmech.block_entropy(hmm, L), H, atol=1e-10)
    msp = compmech.mixed_state_presentation(hmm, max_states=300)
    _check_graph_invariants(hmm, msp)
    assert msp.num_states <= 300
    assert msp.truncated == (not msp.expanded.all())


def test_max_depth_truncates_and_depths_are_shortest_word_lengths():
    hmm = compmech.get_process("mess3")
    msp = compmech.mixed_state_presentation(hmm, max_depth=3)
    assert msp.truncated and msp.num_states == 1 + 3 + 9 + 27
    np.testing.assert_array_equal(np.bincount(msp.depth), [1, 3, 9, 27])
    assert (~msp.expanded == (msp.depth == 3)).all()
    closed = compmech.mixed_state_presentation(compmech.get_process("rrxor"), max_depth=50)
    assert not closed.truncated and closed.depth.max() < 50


def test_unique_rows_hash_grouping_matches_lexicographic_grouping(monkeypatch):
    from compmech import expand as expand_module

    keys = np.random.default_rng(0).integers(-3, 4, (5000, 3))
    first, inverse = expand_module.unique_rows(keys)
    np.testing.assert_array_equal(keys[first][inverse], keys)
    assert first.shape[0] == np.unique(keys, axis=0).shape[0]
    # a degenerate hash (every row collides) must fall back to the exact lexicographic grouping
    monkeypatch.setattr(expand_module, "_row_hashes", lambda k: np.zeros(k.shape[0], np.uint64))
    first2, inverse2 = expand_module.unique_rows(keys)
    np.testing.assert_array_equal(keys[first2][inverse2], keys)
    assert first2.shape[0] == first.shape[0]
