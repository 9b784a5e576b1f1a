"""The constrained-update decay: the batched fit against a per-group least-squares oracle, a
planted update with a known decay, and the Mess3 values the theory section quotes."""

import itertools

import numpy as np
import pytest

import compmech
from compmech.decay import constrained_decay, constrained_update_losses, discounted_averages


def _oracle_mse(words, targets, weights, V, rho, degree):
    """One plain lstsq per (position, current token), features built monomial by monomial."""
    N, L = words.shape
    w_all = weights / (weights.sum() * L)
    total = 0.0
    exps = [e for e in itertools.product(range(degree + 1), repeat=V - 1) if sum(e) <= degree]
    for t in range(L):
        num = np.array([sum(rho ** (t - s) * np.eye(V)[words[n, s]] for s in range(t + 1))
                        for n in range(N)])
        avg = num / sum(rho**k for k in range(t + 1))
        feats = np.column_stack([np.prod([avg[:, i] ** e[i] for i in range(V - 1)], axis=0)
                                 for e in exps])
        for x in range(V):
            rows = (words[:, t] == x) & (w_all > 0)
            sw = np.sqrt(w_all[rows])[:, None]
            coef = np.linalg.lstsq(sw * feats[rows], sw * targets[rows, t], rcond=None)[0]
            res = targets[rows, t] - feats[rows] @ coef
            total += float(w_all[rows] @ (res**2).sum(1))
    return total


@pytest.mark.parametrize("weighting", ["uniform", "stationary"])
def test_batched_losses_match_per_group_oracle(weighting):
    process = compmech.get_process("mess3", x=0.1, alpha=0.7)
    words = compmech.all_words(3, 5)
    f = compmech.filter_beliefs(process, words)
    weights = np.ones(len(words)) if weighting == "uniform" else np.exp(f.log_probability)
    grid = [0.3, 0.8]
    mse, kl = constrained_update_losses(words, f.beliefs, weights, 3, grid, degree=2,
                                        emission=process.emission_probabilities)
    for k, rho in enumerate(grid):
        assert mse[k] == pytest.approx(_oracle_mse(words, f.beliefs, weights, 3, rho, 2),
                                       rel=1e-8, abs=1e-15)
    assert (kl >= 0).all()


def test_discounted_average_definition():
    words = np.array([[0, 1, 1, 2]])
    a = discounted_averages(words, 3, 0.5)
    expected_last = (0.125 * np.eye(3)[0] + 0.25 * np.eye(3)[1] + 0.5 * np.eye(3)[1]
                     + np.eye(3)[2]) / 1.875
    assert np.allclose(a[0, -1], expected_last, atol=1e-15)
    assert np.allclose(a[0, 0], np.eye(3)[0])


@pytest.mark.parametrize("rho_true", [0.35, 0.7])
def test_planted_update_recovers_its_decay(rho_true):
    """Targets that ARE a cubic of the rho_true-discounted average (coefficients per position and
    token): zero loss at rho_true, and rho_true is the minimiser."""
    V, L, S = 3, 6, 3
    words = compmech.all_words(V, L)
    avg = discounted_averages(words, V, rho_true)
    rng = np.random.default_rng(0)
    coeffs = rng.standard_normal((L, V, 3, S))
    u, v = avg[..., 0], avg[..., 1]
    feats = np.stack([np.ones_like(u), u * v, u**3], axis=-1)  # (N, L, 3)
    per = coeffs[np.arange(L)[None, :], words]  # (N, L, 3, S)
    targets = np.einsum("nlf,nlfs->nls", feats, per)
    grid = np.round(np.arange(1, 21) / 20, 2)
    mse, _ = constrained_update_losses(words, targets, np.ones(len(words)), V, grid, degree=3)
    best = grid[np.argmin(mse)]
    assert best == pytest.approx(rho_true, abs=1e-12)
    assert mse[np.argmin(np.abs(grid - rho_true))] < 1e-20
    assert np.sort(mse)[1] > 1e-6  # every other decay misfits


def test_mess3_weak_emission_decay_is_lambda():
    r = constrained_decay(compmech.get_process("mess3", x=0.05, alpha=0.45), 8)
    assert r.lam == pytest.approx(0.85, abs=1e-12)
    assert abs(r.rho - 0.85) <= 0.05
    assert abs(r.rho_cross_entropy - 0.85) <= 0.05
    assert r.belief_mse.shape == r.rho_grid.shape == r.kl_bits.shape


@pytest.mark.parametrize("weighting", ["uniform", "stationary"])
def test_mess3_informative_emissions_shorten_the_decay(weighting):
    r = constrained_decay(compmech.get_process("mess3", x=0.05, alpha=0.85), 8, weighting=weighting)
    assert 0.45 <= r.rho <= 0.72
    assert r.lam == pytest.approx(0.85, abs=1e-12)
    # lambda is clearly worse than rho* under the criterion
    at_lam = r.belief_mse[np.argmin(np.abs(r.rho_grid - r.lam))]
    assert at_lam > 1.5 * r.belief_mse.min()


def test_impossible_words_are_dropped():
    r = constrained_decay(compmech.get_process("z1r"), 6, rho_grid=[0.5, 1.0], degree=2)
    assert np.isfinite(r.belief_mse).all() and np.isfinite(r.kl_bits).all()


def test_bad_input():
    mess3 = compmech.get_process("mess3")
    with pytest.raises(ValueError, match="weighting"):
        constrained_decay(mess3, 4, weighting="blackwell")
    with pytest.raises(ValueError, match="rho_grid"):
        constrained_decay(mess3, 4, rho_grid=[0.0, 0.5])
    with pytest.raises(ValueError, match="n_ctx"):
        constrained_decay(mess3, 0)
    with pytest.raises(ValueError, match="lexicographic"):
        constrained_update_losses(compmech.all_words(3, 2)[::-1], np.zeros((9, 2, 3)),
                                  np.ones(9), 3, [0.5])
