"""Attention analysis and patches: the decay fit against planted patterns, the theory's lambda,
patterns and patched forward passes against hand-computed oracles."""

import math

import numpy as np
import pytest
from hypothesis import given, settings

import transformer
from compmech.hmm import HMM
from compmech.mechanisms.attention import (
    AttentionReport,
    decay_pattern,
    distance_profile,
    fit_decay,
    head_attention,
    mean_attention,
    process_positions,
    seed_spread,
    spread_lines,
    theory_rho_star,
    theory_text,
)
from compmech.processes import get_process
from compmech.spectrum import leading_decay_rate, nonunit_eigenvalues
from strategies import stochastic_arrays
from transformer import LinearBottleneckConfig, ModelConfig

TINY = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=4, d_mlp=32, n_ctx=6, d_vocab=3)


def planted(rate, P, parity="all"):
    """``A[t, s] = rate^(t-s) [t - s admitted by parity] / row sum``, built entry by entry (an
    oracle independent of :func:`decay_pattern`)."""
    ok = {"all": lambda k: True, "even": lambda k: k % 2 == 0, "odd": lambda k: k % 2 == 1}[parity]
    A = np.zeros((P, P))
    for t in range(P):
        for s in range(t + 1):
            A[t, s] = rate ** (t - s) if ok(t - s) else 0.0
        if A[t].sum() > 0:
            A[t] /= A[t].sum()
    return A


def _tokens(n, p, vocab, seed):
    return np.random.default_rng(seed).integers(0, vocab, size=(n, p)).astype(np.int32)


# ------------------------------------------------------------------------------ theory
@pytest.mark.parametrize("x", [0.05, 0.2, 1 / 3, 0.45, 0.5])
def test_mess3_nonunit_eigenvalues_are_one_minus_3x(x):
    eig = nonunit_eigenvalues(get_process("mess3", x=x, alpha=0.7))
    np.testing.assert_allclose(eig, [1 - 3 * x] * 2, atol=1e-12)
    assert leading_decay_rate(get_process("mess3", x=x)) == pytest.approx(1 - 3 * x, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(stochastic_arrays())
def test_nonunit_eigenvalues_multiply_to_the_determinant(T):
    # 1 * prod(others) = det(M) and 1 + sum(others) = trace(M)
    hmm = HMM(T, initial_distribution=np.full(T.shape[1], 1.0 / T.shape[1]))
    M = T.sum(0)
    eig = nonunit_eigenvalues(hmm)
    assert eig.shape == (hmm.num_states - 1,)
    assert np.prod(eig) == pytest.approx(np.linalg.det(M), abs=1e-9)
    assert 1 + eig.sum() == pytest.approx(np.trace(M), abs=1e-9)
    assert np.all(np.diff(np.abs(eig)) <= 1e-12)


# ------------------------------------------------------------------------------ the decay model
def test_decay_pattern_is_row_normalised_powers():
    A = decay_pattern(0.6, 5)
    t, s = 4, 1
    assert A[t, s] == pytest.approx(0.6 ** (t - s) / sum(0.6**k for k in range(t + 1)))
    np.testing.assert_allclose(A.sum(1), 1.0)
    assert np.all(np.triu(A, 1) == 0)
    odd = decay_pattern(0.5, 5, "odd")
    assert odd[0].sum() == 0 and odd[3, 3] == 0 and odd[3, 0] == pytest.approx(0.25 / 1.25)
    np.testing.assert_allclose(decay_pattern(1.0, 4)[3], 0.25)  # rho = 1: uniform


def spiked(rate, P, diagonal=6.0, sink=0.5):
    """A planted head: ``rate^(t-s)`` on ``1 <= s < t``, the diagonal ``diagonal`` times the decay's
    value and the first position holding ``sink`` of every row ``t >= 1`` (an attention sink)."""
    A = planted(rate, P)
    for t in range(1, P):
        A[t, t] *= diagonal
        A[t, 1:] *= (1 - sink) / A[t, 1:].sum()
        A[t, 0] = sink
    return A


@pytest.mark.parametrize("rate", [0.85, 0.55, 0.2, 1.3])
def test_fit_recovers_a_planted_decay_despite_diagonal_spike_and_sink(rate):
    A = spiked(rate, 10)
    np.testing.assert_allclose(A.sum(1), 1.0)
    fit = fit_decay(A)
    assert fit.rate == pytest.approx(rate, rel=1e-9)
    assert fit.explained == pytest.approx(1.0, abs=1e-12)
    assert fit.diagonal_log_excess == pytest.approx(math.log(6.0), abs=1e-9)
    assert fit.sink_log_excess > 0.5
    assert fit.num_entries == sum(t - 1 for t in range(3, 10))  # rows with two entries or more
    assert np.allclose(fit.rate_rows, rate, rtol=1e-9) and fit.rate_rows_std < 1e-9


def test_raw_value_fit_with_the_diagonal_would_be_fooled():
    """The spike and the sink pull a raw-value least-squares fit over every causal entry far from
    the planted decay (what the fit used to do); the log fit off the diagonal is not fooled."""
    A, rate = spiked(0.6, 10), 0.6
    grid = np.linspace(0.05, 1.5, 2901)
    causal = np.tril(np.ones((10, 10), bool))
    causal[0] = False
    raw = [float(np.where(causal, (A - decay_pattern(r, 10)) ** 2, 0).sum()) for r in grid]
    assert abs(grid[int(np.argmin(raw))] - rate) > 0.05
    assert fit_decay(A).rate == pytest.approx(rate, rel=1e-9)


@pytest.mark.parametrize("rate, parity", [(0.85, "all"), (0.55, "all"), (0.2, "all"),
                                          (0.35, "even"), (0.6, "odd")])
def test_fit_recovers_the_rate_of_noisy_planted_patterns(rate, parity):
    rng = np.random.default_rng(int(rate * 100))
    clean = planted(rate, 10, parity)
    np.testing.assert_allclose(decay_pattern(rate, 10, parity), clean, atol=1e-14)
    exact = fit_decay(clean, parity)
    assert exact.rate == pytest.approx(rate, rel=1e-9) and exact.explained == pytest.approx(1.0)
    noisy = clean * np.exp(rng.normal(0.0, 0.05, clean.shape))
    fit = fit_decay(noisy, parity)
    assert abs(fit.rate - rate) < 5 * fit.rate_misfit, (fit.rate, fit.rate_misfit)
    assert abs(fit.rate - rate) < 0.05 * rate
    assert 0.8 < fit.explained <= 1.0
    assert len(fit.rate_rows) > 1 and abs(np.median(fit.rate_rows) - rate) < 0.1 * rate


def test_misfit_error_matches_the_spread_under_iid_log_noise():
    """When the geometric model holds and the log noise is iid, the least-squares misfit error
    equals the spread over noise draws (the only case it does; a trained network's pattern has
    no such noise, hence it is reported as a misfit, and seeds give the uncertainty)."""
    rate, clean = 0.7, planted(0.7, 10)
    fits = [fit_decay(clean * np.exp(np.random.default_rng(s).normal(0, 0.05, clean.shape)))
            for s in range(40)]
    z = np.array([(f.rate - rate) / f.rate_misfit for f in fits])
    assert 0.6 < z.std() < 1.6, z.std()
    assert abs(z.mean()) < 0.5


def test_parity_split_patterns_of_a_negative_lambda():
    """Two heads on even and odd distances (a negative lambda's update) are recognised as such."""
    lam = -0.5
    even, odd = planted(abs(lam), 10, "even"), planted(abs(lam), 10, "odd")
    odd[0, 0] = 1.0  # row 0 can only attend to itself
    h_even, h_odd = head_attention(even, 0, 0), head_attention(odd, 0, 1)
    assert h_even.best_parity == "even" and h_odd.best_parity == "odd"
    assert h_even.parity_fits["even"].rate == pytest.approx(0.5, rel=1e-9)
    assert h_odd.parity_fits["odd"].rate == pytest.approx(0.5, rel=1e-9)
    assert h_even.fit.explained < 0.9  # the all-distance decay does not describe it


def test_uniform_pattern_has_rate_one_and_nothing_to_explain():
    uniform = decay_pattern(1.0, 6)
    fit = fit_decay(uniform)
    assert fit.rate == pytest.approx(1.0, abs=1e-12) and fit.explained is None


def _report(rates_by_head):
    heads = [head_attention(planted(r, 8), 0, h) for h, r in enumerate(rates_by_head)]
    return AttentionReport(run_dir="r", process="mess3", process_params={}, model={}, step=1,
                           theory_eigenvalues=[[0.85, 0.0]], theory_lambda=0.85,
                           inputs="enumerated", num_sequences=1, first_position=0, heads=heads)


def test_seed_spread_matches_heads_by_rank():
    reports = [_report([0.5, 0.8]), _report([0.82, 0.6]), _report([0.7, 0.84])]
    spread = seed_spread(reports)
    assert [(d.layer, d.rank) for d in spread] == [(0, 0), (0, 1)]
    np.testing.assert_allclose(spread[0].rates, [0.5, 0.6, 0.7], rtol=1e-9)
    assert spread[0].mean == pytest.approx(0.6) and spread[0].std == pytest.approx(0.1)
    assert spread[1].mean == pytest.approx(0.82) and spread[1].std == pytest.approx(0.02)
    assert seed_spread(reports[:1])[0].std is None
    assert "n/a (one run)" in "\n".join(spread_lines(seed_spread(reports[:1])))
    with pytest.raises(ValueError, match="different layers or heads"):
        seed_spread([_report([0.5]), _report([0.5, 0.6])])


def test_theory_rho_star_beside_lambda():
    hmm = get_process("mess3", x=0.05, alpha=0.85)
    rho, rho_ce, n = theory_rho_star(hmm, 7)
    assert n == 7 and 0.45 <= rho <= 0.72 and 0.45 <= rho_ce <= 0.75
    assert theory_rho_star(hmm, 40)[2] == 10  # capped: 3^10 <= 60000 < 3^11
    report = _report([0.6])
    report.theory_rho_star, report.theory_rho_star_cross_entropy, report.rho_star_n_ctx = rho, rho_ce, n
    assert f"rho* {rho:.3f}" in theory_text(report) and "+0.8500" in theory_text(report)
    assert AttentionReport.from_dict(report.to_dict()).theory_rho_star == rho


def test_distance_profile_oracle():
    A = decay_pattern(0.5, 4)
    prof = distance_profile(A)
    assert prof[0] == pytest.approx(np.mean([A[1, 1], A[2, 2], A[3, 3]]))
    assert prof[2] == pytest.approx(np.mean([A[2, 0], A[3, 1]]))
    assert prof[3] == pytest.approx(A[3, 0])


def test_process_positions_drops_bos_and_renormalises():
    A = decay_pattern(0.5, 5)
    sub = process_positions(A, 1)
    assert sub.shape == (4, 4)
    np.testing.assert_allclose(sub[1:].sum(1), 1.0)
    np.testing.assert_allclose(sub[3], A[4, 1:] / A[4, 1:].sum())


def test_bad_patterns_raise():
    with pytest.raises(ValueError, match=r"\(P, P\)"):
        fit_decay(np.ones((3, 4)))
    with pytest.raises(ValueError, match="parity"):
        fit_decay(np.eye(3), "sometimes")
    with pytest.raises(ValueError, match="> 0"):
        decay_pattern(-0.5, 4)


# ------------------------------------------------------------------------------ the model
@pytest.fixture(scope="module")
def params():
    return transformer.init_params(TINY, 1)


def _layer_norm(x, w, b):
    x = np.asarray(x, np.float64)
    c = x - x.mean(-1, keepdims=True)
    return c / np.sqrt((c * c).mean(-1, keepdims=True) + 1e-5) * np.asarray(w) + np.asarray(b)


def test_attention_patterns_equal_a_hand_computed_softmax(params):
    tokens = _tokens(3, 5, TINY.d_vocab, 0)
    pats = transformer.attention_patterns(params, TINY, tokens)
    assert sorted(pats) == [0, 1] and pats[0].shape == (3, TINY.n_heads, 5, 5)
    p0 = params["blocks_0"]
    x = np.asarray(params["W_E"])[tokens] + np.asarray(params["W_pos"])[:5]
    h = _layer_norm(x, p0["ln1"]["w"], p0["ln1"]["b"])
    qkv = (h @ np.asarray(p0["attn"]["W_QKV"]) + np.asarray(p0["attn"]["b_QKV"]))
    qkv = qkv.reshape(3, 5, 3, TINY.n_heads, TINY.d_head)
    scores = np.einsum("bqhd,bkhd->bhqk", qkv[:, :, 0], qkv[:, :, 1]) / math.sqrt(TINY.d_head)
    scores = np.where(np.tril(np.ones((5, 5), bool)), scores, -np.inf)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(pats[0], expected, atol=2e-6)
    # the ordinary forward pass is unchanged by the sown patterns
    logits, _ = transformer.run_with_cache(params, TINY, tokens)
    np.testing.assert_array_equal(logits, transformer.forward(params, TINY, tokens))


def test_mean_attention_is_the_weighted_average(params):
    tokens = _tokens(7, 6, TINY.d_vocab, 1)
    w = np.random.default_rng(0).dirichlet(np.ones(7))
    pats = transformer.attention_patterns(params, TINY, tokens)
    means = mean_attention(params, TINY, tokens, w, batch_size=3)  # 3 chunks, the last padded
    for layer in (0, 1):
        np.testing.assert_allclose(means[layer], np.einsum("b,bhts->hts", w, pats[layer]),
                                   atol=1e-6)


def test_zero_patches_reproduce_the_forward_pass(params):
    tokens = _tokens(2, 6, TINY.d_vocab, 2)
    logits, cache = transformer.run_with_cache(params, TINY, tokens)
    zero = {h: np.zeros((2, 6, 16), np.float32) for h in transformer.patch_hooks(TINY)}
    plogits, pcache = transformer.run_with_patches(params, TINY, tokens, zero)
    np.testing.assert_allclose(plogits, logits, atol=1e-6)
    assert list(pcache) == list(cache)


def test_patch_at_the_final_layernorm_shifts_logits_by_delta_w_u(params):
    tokens = _tokens(2, 6, TINY.d_vocab, 3)
    delta = np.random.default_rng(0).normal(size=(2, 6, 16)).astype(np.float32)
    logits = transformer.forward(params, TINY, tokens)
    patched, cache = transformer.run_with_patches(params, TINY, tokens,
                                                  {"ln_final.hook_normalized": delta})
    np.testing.assert_allclose(patched - logits, delta @ np.asarray(params["W_U"]), atol=1e-4)
    _, plain = transformer.run_with_cache(params, TINY, tokens)
    np.testing.assert_allclose(cache["ln_final.hook_normalized"],
                               plain["ln_final.hook_normalized"] + delta, atol=1e-6)


def test_patch_of_the_last_block_output_runs_the_final_layernorm(params):
    tokens = _tokens(2, 6, TINY.d_vocab, 4)
    delta = np.zeros((2, 6, 16), np.float32)
    delta[0, 3] = np.random.default_rng(1).normal(size=16)
    _, plain = transformer.run_with_cache(params, TINY, tokens)
    patched, _ = transformer.run_with_patches(params, TINY, tokens,
                                              {"blocks.1.hook_resid_post": delta})
    resid = np.asarray(plain["blocks.1.hook_resid_post"]) + delta
    ln = params["ln_final"]
    expected = (_layer_norm(resid, ln["w"], ln["b"]) @ np.asarray(params["W_U"])
                + np.asarray(params["b_U"]))
    np.testing.assert_allclose(patched, expected, atol=1e-4)


def test_a_patch_at_one_position_changes_only_it_and_later_positions(params):
    tokens = _tokens(1, 6, TINY.d_vocab, 5)
    delta = np.zeros((1, 6, 16), np.float32)
    delta[0, 2] = 3.0 * np.random.default_rng(2).normal(size=16)
    logits = np.asarray(transformer.forward(params, TINY, tokens))
    for hook in ("blocks.0.hook_resid_pre", "blocks.0.hook_resid_mid", "hook_embed"):
        patched = np.asarray(transformer.run_with_patches(params, TINY, tokens, {hook: delta})[0])
        change = np.abs(patched - logits).max(-1)[0]
        np.testing.assert_array_equal(change[:2], 0.0)
        assert change[2] > 1e-3 and change[3:].max() > 1e-5, (hook, change)


def test_bottleneck_patch_of_z_oracle():
    cfg = LinearBottleneckConfig(n_layers=1, d_model=8, d_head=4, d_mlp=16, n_ctx=5,
                                 bottleneck_width=2)
    p = transformer.init_params(cfg, 0)
    tokens = _tokens(2, 5, 3, 6)
    delta = np.random.default_rng(3).normal(size=(2, 5, 2)).astype(np.float32)
    _, cache = transformer.run_with_cache(p, cfg, tokens)
    patched, pcache = transformer.run_with_patches(p, cfg, tokens, {"bottleneck.hook_z": delta})
    z = np.asarray(cache["bottleneck.hook_z"]) + delta
    up = z @ np.asarray(p["up"]["kernel"]) + np.asarray(p["up"]["bias"])
    read = _layer_norm(up, p["ln_out"]["w"], p["ln_out"]["b"])
    expected = read @ np.asarray(p["unembed"]["kernel"]) + np.asarray(p["unembed"]["bias"])
    np.testing.assert_allclose(patched, expected, atol=1e-4)
    np.testing.assert_allclose(pcache["bottleneck.hook_z"], z, atol=1e-6)
    assert sorted(transformer.attention_patterns(p, cfg, tokens)) == [0]


def test_bad_patches_raise_one_line_errors(params):
    tokens = _tokens(2, 6, TINY.d_vocab, 7)
    with pytest.raises(ValueError, match="cannot patch hooks"):
        transformer.run_with_patches(params, TINY, tokens, {"blocks.9.hook_resid_post": 0})
    with pytest.raises(ValueError, match=r"expected \(2, 6, 16\)"):
        transformer.run_with_patches(params, TINY, tokens,
                                     {"hook_embed": np.zeros((2, 6, 3), np.float32)})


def test_cli_mechanisms_reports_the_spread_over_runs(tmp_path, capsys):
    from compmech import cli
    from transformer import TrainConfig

    runs = []
    for seed in (0, 1):
        out = tmp_path / f"run{seed}"
        model = ModelConfig(n_layers=1, d_model=8, n_heads=1, d_head=4, d_mlp=8, n_ctx=6,
                            d_vocab=3)
        cfg = TrainConfig(process="mess3", model=model, steps=10, batch_size=16, warmup_steps=2,
                          eval_every=10, log_every=10, steps_per_call=5, seed=seed)
        transformer.train(cfg, out, progress=False)
        runs.append(str(out))
    assert cli.main(["mechanisms", *runs]) == 0
    text = capsys.readouterr().out
    assert "constrained-update rho*" in text and "misfit" in text
    assert "decay over 2 run(s)" in text and "layer 0 head rank 0: rho" in text
    saved = [AttentionReport.read(f"{r}/mechanisms/attention.json") for r in runs]
    spread = seed_spread(saved)[0]
    assert spread.rates == pytest.approx([s.heads[0].fit.rate for s in saved])
    assert f"{spread.mean:.4f} +- {spread.std:.4f}" in text
