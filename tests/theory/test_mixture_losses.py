"""The Bayes-mixture loss on each component's data against a brute-force sum over all words,
computed from the components' own matrices (never the mixture's)."""

import itertools

import numpy as np
import pytest

import compmech
from oracles import word_probability


def _component_tables(T, pi, vocab_map, V_shared):
    """``T`` of a component re-expressed in the shared vocabulary (tokens merged by the map)."""
    out = np.zeros((V_shared,) + T.shape[1:])
    for c, y in enumerate(vocab_map):
        out[y] += T[c]
    return out, pi


def _brute_force(components, weights, n_ctx, bos):
    """Per component: sum over every word of the component's probability times the cross-entropy
    of its own conditional against the mixture's, P_mix(x | w) = sum_j w_j P_j(w x) / sum_j w_j
    P_j(w)."""
    V = components[0][0].shape[0]
    lengths = range(0, n_ctx) if bos else range(1, n_ctx + 1)  # prefix length at each position

    def p(k, word):
        T, pi = components[k]
        return word_probability(T, pi, np.ones(T.shape[1]), word)

    own = np.zeros((len(components), n_ctx))
    bayes = np.zeros((len(components), n_ctx))
    for pos, L in enumerate(lengths):
        for prefix in itertools.product(range(V), repeat=L):
            p_mix = sum(w * p(j, prefix) for j, w in enumerate(weights))
            for k in range(len(components)):
                pk = p(k, prefix)
                if pk == 0:
                    continue
                for x in range(V):
                    cond_k = p(k, prefix + (x,)) / pk
                    if cond_k == 0:
                        continue
                    cond_mix = sum(w * p(j, prefix + (x,)) for j, w in enumerate(weights)) / p_mix
                    own[k, pos] -= pk * cond_k * np.log(cond_k)
                    bayes[k, pos] -= pk * cond_k * np.log(cond_mix)
    return own, bayes


@pytest.mark.parametrize("bos", [False, True])
def test_bayes_mixture_curve_equals_brute_force(bos):
    mess3 = compmech.get_process("mess3", x=0.1, alpha=0.7)
    z1r = compmech.get_process("z1r")
    weights = [0.35, 0.65]
    maps = [[0, 1, 2], [0, 2]]
    mix = compmech.mixture([mess3, z1r], weights, vocab_maps=maps)
    losses = compmech.mixture_component_losses(mix, 4, bos=bos)
    comps = [_component_tables(h.transition_matrices, h.initial_distribution, m, 3)
             for h, m in zip([mess3, z1r], maps, strict=True)]
    own, bayes = _brute_force(comps, weights, 4, bos)
    np.testing.assert_allclose(losses.weights, weights, atol=1e-15)
    np.testing.assert_allclose(losses.own_optimum, own, atol=1e-12)
    np.testing.assert_allclose(losses.bayes_mixture, bayes, atol=1e-12)
    # not knowing the component costs exactly the KL term, and the weighted curves are the
    # mixture's own optimum
    assert (losses.bayes_mixture >= losses.own_optimum - 1e-12).all()
    assert (losses.bayes_mixture - losses.own_optimum).max() > 1e-2
    np.testing.assert_allclose(weights @ losses.bayes_mixture,
                               compmech.optimal_cross_entropy_nats(mix, 4, bos=bos), atol=1e-12)


def test_identical_components_cost_nothing():
    """A mixture of a process with itself: the Bayes-mixture predictor is the component's own."""
    mix = compmech.mixture(["mess3", "mess3"], [0.5, 0.5])
    losses = compmech.mixture_component_losses(mix, 3)
    np.testing.assert_allclose(losses.bayes_mixture, losses.own_optimum, atol=1e-12)
    assert losses.names == ("mess3 #0", "mess3 #1")


def test_not_a_mixture_is_refused():
    with pytest.raises(ValueError, match="not a mixture"):
        compmech.mixture_component_losses(compmech.get_process("mess3"), 3)
    with pytest.raises(ValueError, match="BOS"):
        compmech.mixture_component_losses(compmech.mixture(["mess3", "z1r"], [0.5, 0.5],
                                                           bos=True), 3)


def test_in_context_figure_draws_the_achievable_curve():
    from compmech.figures.clouds import loss_per_position

    mix = compmech.mixture(["mess3", ("mess3", {"x": 0.15, "alpha": 0.6})], [0.3, 0.7])
    theory = compmech.mixture_component_losses(mix, 4)
    opt = compmech.optimal_cross_entropy_nats(mix, 4)
    comps = [(n, b + 0.01, o, b) for n, o, b in
             zip(theory.names, theory.own_optimum, theory.bayes_mixture, strict=True)]
    fig = loss_per_position(opt + 0.01, opt, components=comps)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Bayes-mixture optimum on mess3 #0 (achievable)" in labels
    assert "optimum knowing mess3 #1 (not achievable)" in labels
    old = loss_per_position(opt + 0.01, opt, components=[c[:3] for c in comps])  # old metrics
    assert not any("Bayes-mixture optimum on" in t.get_text()
               for t in old.axes[0].get_legend().get_texts())
