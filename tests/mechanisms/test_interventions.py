"""Belief interventions: the linear algebra against oracles, a linear toy network where the
intervention must be exact, and a tiny trained transformer where it must beat its controls."""

import json

import jax
import numpy as np
import pytest

import transformer
from compmech import cli
from compmech.inference import all_words, filter_beliefs
from compmech.mechanisms.directions import (
    RTOL,
    covariance_change,
    kl_divergence_bits,
    minimum_norm_change,
    null_space_directions,
    random_directions,
    spread_directions,
)
from compmech.mechanisms.intervention_runs import analyze_interventions, model_readout
from compmech.mechanisms.interventions import (
    ActivationMoments,
    InterventionConfig,
    InterventionInputs,
    ahead_effects,
    condition_changes,
    intervention_effects,
)
from compmech.probing.data import probe_data
from compmech.probing.linear import BeliefProbe
from compmech.processes import get_process
from transformer import ModelConfig, TrainConfig, recurrent_config


def _rank_deficient_probe(S=3, d=7, seed=0):
    """A probe ``W (S, d)`` whose rows sum to zero (rank S - 1), as an OLS probe of beliefs."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(S, d))
    return W - W.mean(0), rng.dirichlet(np.ones(S))


# ------------------------------------------------------------------------------ linear algebra
def test_minimum_norm_change_decodes_the_target_with_the_least_norm():
    W, b = _rank_deficient_probe()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 7))
    target = rng.dirichlet(np.ones(3), size=5)
    delta = minimum_norm_change(W, b, x, target)
    np.testing.assert_allclose((x + delta) @ W.T + b, target, atol=1e-12)
    # oracle: numpy's least-squares solution is the minimum-norm one
    oracle = np.linalg.lstsq(W, (target - x @ W.T - b).T, rcond=None)[0].T
    np.testing.assert_allclose(delta, oracle, atol=1e-12)


def test_null_space_and_random_directions():
    W, _ = _rank_deficient_probe()
    v = null_space_directions(W, 50, seed=0)
    np.testing.assert_allclose(v @ W.T, 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0)
    assert np.linalg.matrix_rank(v) == 7 - 2  # it spans the whole null space
    r = random_directions(4000, 3, seed=1)
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), 1.0)
    assert np.abs(r.mean(0)).max() < 0.05  # no preferred direction
    assert null_space_directions(np.eye(3), 2, seed=0) is None


def test_covariance_change_minimises_the_activation_metric():
    W, b = _rank_deficient_probe(d=5)
    rng = np.random.default_rng(2)
    A = rng.normal(size=(5, 5))
    C = A @ A.T
    x = rng.normal(size=(3, 5))
    target = rng.dirichlet(np.ones(3), size=3)
    delta = covariance_change(W, b, x, target, C)
    np.testing.assert_allclose((x + delta) @ W.T + b, target, atol=1e-10)
    # any other solution delta + n (W n = 0) has a larger C^-1 norm
    cinv = np.linalg.inv(C)
    for n in null_space_directions(W, 3, seed=3):
        for i in range(3):
            assert delta[i] @ cinv @ delta[i] < (delta[i] + n) @ cinv @ (delta[i] + n)
    d = spread_directions(np.diag([1.0, 0, 0, 0, 0]), 3, seed=0)  # only axis 0 varies
    np.testing.assert_allclose(np.abs(d[:, 0]), 1.0)


def test_kl_divergence_in_bits():
    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
    q = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.2, 0.4, 0.4]])  # a third (BOS) column
    np.testing.assert_allclose(kl_divergence_bits(p, q), [1.0, 0.0, 0.8 * np.log2(2.0)])
    with pytest.raises(ValueError, match="expected"):
        kl_divergence_bits(p, q[:, :1])


# ------------------------------------------------------------------------------ options and inputs
def test_intervention_config_defaults_validation_and_round_trip():
    """The defaults are the old keyword defaults (``seed=0``, ``rtol=RTOL``); a bad value is
    refused in one line naming the option; the config survives JSON."""
    assert InterventionConfig() == InterventionConfig(seed=0, rtol=RTOL)
    for bad, name in [(dict(seed=-1), "seed"), (dict(seed=1.5), "seed"), (dict(seed=True), "seed"),
                      (dict(rtol=1.0), "rtol"), (dict(rtol=-1e-9), "rtol"),
                      (dict(rtol=float("nan")), "rtol")]:
        with pytest.raises(ValueError, match=name) as err:
            InterventionConfig(**bad)
        assert "\n" not in str(err.value)
    c = InterventionConfig(seed=7, rtol=1e-6)
    assert InterventionConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_the_config_options_reach_the_changes():
    """``seed`` moves only the controls' directions; ``rtol`` decides the probe's rank (a cut-off
    above the smaller singular value leaves a rank-1 probe that cannot reach the target)."""
    W, b = _rank_deficient_probe()
    rng = np.random.default_rng(4)
    x, target = rng.normal(size=(6, 7)), rng.dirichlet(np.ones(3), size=6)
    inputs = InterventionInputs(x, target, target)
    probe = BeliefProbe.from_coefficients(W, b)
    one, two = (condition_changes(inputs, probe, target, InterventionConfig(seed=s))
                for s in (1, 2))
    np.testing.assert_array_equal(one.deltas["intervened"], two.deltas["intervened"])
    assert not np.allclose(one.deltas["random"], two.deltas["random"])
    assert not np.allclose(one.deltas["null_space"], two.deltas["null_space"])
    np.testing.assert_allclose((x + one.deltas["intervened"]) @ W.T + b, target, atol=1e-12)
    u, s, vt = np.linalg.svd(W)
    cut = condition_changes(inputs, probe, target, InterventionConfig(rtol=0.5 * (s[0] + s[1]) / s[0]))
    delta = cut.deltas["intervened"]
    # oracle: the rank-1 pseudo-inverse, v_0 u_0^T / s_0, applied to the residual
    oracle = ((target - x @ W.T - b) @ u[:, 0] / s[0])[:, None] * vt[0]
    np.testing.assert_allclose(delta, oracle, atol=1e-12)
    assert np.abs((x + delta) @ W.T + b - target).max() > 1e-3  # the dropped direction is missed


def test_inputs_and_probes_are_checked():
    W, b = _rank_deficient_probe()
    with pytest.raises(ValueError, match="intercept"):
        BeliefProbe.from_coefficients(W, b[:2])
    with pytest.raises(ValueError, match="coef"):
        BeliefProbe.from_coefficients(W[0], b)
    hmm = get_process("mess3")
    eta = np.full((4, 3), 1 / 3)
    inputs = InterventionInputs(np.zeros((4, 7)), eta, eta)  # no next tokens
    with pytest.raises(ValueError, match="next_tokens"):
        ahead_effects(inputs, BeliefProbe.from_coefficients(W, b), hmm, lambda d: d)
    with pytest.raises(ValueError, match="not fitted"):
        intervention_effects(inputs, BeliefProbe(), hmm.emission_probabilities, lambda d: d)


# ------------------------------------------------------------------------------ linear toy network
class LinearToy:
    """A network whose read-out is exactly linear in the belief: activations
    ``x = c + Q K U^T (eta - u)`` (``Q (d, S-1)`` orthonormal, ``U (S, S-1)`` an orthonormal basis of
    the simplex's tangent, ``K`` invertible), next-token distribution
    ``q(x) = (u + U K^-1 Q^T (x - c)) E`` = ``P(. | eta)`` on the image of the beliefs."""

    def __init__(self, hmm, d=9, seed=0):
        rng = np.random.default_rng(seed)
        S = hmm.num_states
        basis = np.linalg.qr(np.concatenate([np.ones((S, 1)), rng.normal(size=(S, S - 1))], 1))[0]
        self.U = basis[:, 1:]  # orthogonal to the ones vector
        self.Q = np.linalg.qr(rng.normal(size=(d, S - 1)))[0]
        self.K = rng.normal(size=(S - 1, S - 1)) + 2 * np.eye(S - 1)
        self.c = rng.normal(size=d)
        self.u = np.full(S, 1.0 / S)
        self.E = hmm.emission_probabilities

    def features(self, beliefs):
        return self.c + (beliefs - self.u) @ self.U @ self.K.T @ self.Q.T

    def readout(self, x):
        eta = self.u + (x - self.c) @ self.Q @ np.linalg.inv(self.K).T @ self.U.T
        return eta @ self.E


@pytest.fixture(scope="module")
def toy_setup():
    hmm = get_process("mess3")
    beliefs = filter_beliefs(hmm, all_words(3, 5)).beliefs.reshape(-1, 3)
    toy = LinearToy(hmm)
    X = toy.features(beliefs)
    probe = BeliefProbe().fit(X, beliefs)
    rng = np.random.default_rng(0)
    idx, tgt = rng.choice(len(beliefs), 400), rng.choice(len(beliefs), 400)
    return hmm, toy, X[idx], beliefs[idx], beliefs[tgt], probe, X


def test_linear_toy_intervention_reaches_the_target_prediction_exactly(toy_setup):
    hmm, toy, x, beliefs, targets, probe, X = toy_setup
    eff = intervention_effects(InterventionInputs(x, beliefs, targets), probe,
                               hmm.emission_probabilities, lambda dl: toy.readout(x + dl),
                               InterventionConfig(seed=0),
                               moments=ActivationMoments(X.mean(0), np.cov(X.T)))
    assert eff.kl_bits["intervened"].max() < 1e-12
    assert eff.kl_bits["intervened_cov"].max() < 1e-12
    assert eff.own_kl_bits.max() < 1e-12  # the toy predicts its belief exactly
    assert eff.decode_error.max() < 1e-10
    # the controls: the target is far from the input, a random change of the same norm does not
    # reach it, and a change the probe cannot see leaves the output exactly as it was
    assert eff.kl_bits["none"].mean() > 0.1
    assert eff.kl_bits["random"].mean() > 0.05
    assert eff.null_output_change.max() < 1e-12
    np.testing.assert_allclose(eff.kl_bits["null_space"], eff.kl_bits["none"], atol=1e-12)
    assert eff.random_output_change.mean() > 1e-2


# ------------------------------------------------------------------------------ a trained model
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("intervene") / "run"
    # with a BOS token (id 3): the pairs skip the BOS position, the attention fit drops its column
    model = ModelConfig(n_layers=1, d_model=16, n_heads=1, d_head=8, d_mlp=32, n_ctx=6, d_vocab=4)
    cfg = TrainConfig(process="mess3", model=model, steps=300, batch_size=64, lr=1e-2, bos=True,
                      warmup_steps=20, eval_every=300, log_every=100, steps_per_call=50, seed=0)
    transformer.train(cfg, out, progress=False)
    return out


def test_intervention_on_a_trained_model_beats_the_random_control(trained_run):
    run = transformer.load_run(trained_run)
    hook = run.last_hook()
    report, effects, pairs = analyze_interventions(run, hooks=[hook], num_pairs=300, seed=0)
    h = report.hooks[hook]
    m = h.mean_kl_bits
    assert h.decode_error < 1e-6
    assert m.intervened < m.random and m.intervened < m.none
    assert m.intervened_cov < 0.5 * m.random_cov and m.intervened_cov < 0.5 * m.none
    assert h.fraction_cov_below_random > 0.7
    # pairs are held-out points with targets distinct from the input's belief
    assert pairs.sequence.shape == (300,) and np.all(
        np.abs(pairs.targets - pairs.beliefs).max(1) > 1e-9)
    assert pairs.position.min() >= 1  # never the BOS position
    # the inputs are held-out sequences, and the recorded beliefs are theirs
    assert np.all(probe_data(run, seed=0).folds[pairs.sequence] != 0)


def test_cli_mechanisms_and_intervene(trained_run, capsys):
    assert cli.main(["mechanisms", str(trained_run)]) == 0
    out = capsys.readouterr().out
    assert "theory lambda +0.8500" in out
    report = json.loads((trained_run / "mechanisms" / "attention.json").read_text())
    assert report["heads"][0]["fit"]["rate"] > 0 and report["first_position"] == 1
    assert len(report["heads"][0]["profile"]) == 5  # the BOS position dropped
    assert (trained_run / "mechanisms" / "attention_vs_distance.png").is_file()
    assert cli.main(["mechanisms", str(trained_run)]) == 2  # exists: refused without --force
    assert "--force" in capsys.readouterr().err
    hook = "blocks.0.hook_resid_post"
    assert cli.main(["intervene", str(trained_run), "--hooks", hook, "--pairs", "50",
                     "--quiet"]) == 0
    saved = json.loads((trained_run / "mechanisms" / "interventions.json").read_text())
    assert list(saved["hooks"]) == [hook] and saved["num_pairs"] == 50
    assert (trained_run / "mechanisms" / "intervention_probabilities.png").is_file()
    assert cli.main(["intervene", str(trained_run), "--hooks", "nope", "--force"]) == 2
    assert "cannot intervene" in capsys.readouterr().err


# ------------------------------------------------------------------------------ the patch contract
@pytest.fixture(params=["rnn", "lstm", "gru"])
def tiny_rnn(request):
    """A registered recurrent model (one layer of width 5), meeting the patch contract of
    :class:`transformer.registry.Architecture`."""
    cfg = recurrent_config(request.param, n_layers=1, d_hidden=5, n_ctx=6, d_vocab=3)
    params = jax.tree_util.tree_map(lambda a: a + 0.3, transformer.init_params(cfg, 0))
    return cfg, params


def test_a_recurrent_model_meeting_the_contract_takes_interventions(tiny_rnn):
    cfg, params = tiny_rnn
    tokens = np.random.default_rng(0).integers(0, 3, size=(4, 6)).astype(np.int32)
    logits, cache = transformer.run_with_cache(params, cfg, tokens)
    zero = {"layers.0.hook_hidden": np.zeros((4, 6, 5), np.float32)}
    np.testing.assert_allclose(transformer.run_with_patches(params, cfg, tokens, zero)[0], logits,
                               atol=1e-6)
    delta = np.zeros((4, 6, 5), np.float32)
    delta[:, 2] = 0.7
    patched, pcache = transformer.run_with_patches(params, cfg, tokens,
                                                   {"layers.0.hook_hidden": delta})
    change = np.abs(np.asarray(patched) - np.asarray(logits)).max(axis=(0, 2))
    assert np.all(change[:2] == 0) and change[2] > 1e-3 and change[3] > 1e-4  # carried on
    np.testing.assert_allclose(pcache["layers.0.hook_hidden"][:, 2],
                               cache["layers.0.hook_hidden"][:, 2] + 0.7, atol=1e-6)
    # the intervention read-out: the next-token distribution at the patched position
    position = np.array([2, 2, 4, 5], np.int32)
    readout = model_readout(params, cfg, "layers.0.hook_hidden", tokens, position)
    d = np.random.default_rng(1).normal(size=(4, 5))
    full = np.zeros((4, 6, 5), np.float32)
    full[np.arange(4), position] = d
    expected = jax.nn.softmax(transformer.run_with_patches(
        params, cfg, tokens, {"layers.0.hook_hidden": full})[0][np.arange(4), position], axis=-1)
    np.testing.assert_allclose(readout(d), expected, atol=1e-6)
    with pytest.raises(ValueError, match="no attention patterns"):
        transformer.attention_patterns(params, cfg, tokens)


def test_condition_values_are_one_field_per_condition_and_keep_the_json_keys():
    from compmech.mechanisms.intervention_records import BlindValues, ConditionValues
    from compmech.mechanisms.interventions import BLIND_CONDITIONS, CONDITIONS

    assert tuple(ConditionValues().to_dict()) == CONDITIONS
    assert tuple(BlindValues().to_dict()) == BLIND_CONDITIONS
    kl = {c: np.full(4, float(i)) for i, c in enumerate(CONDITIONS)}
    kl["null_space"] = np.full(4, np.nan)  # not run: no number, not NaN
    v = ConditionValues.of(kl, np.mean)
    assert v.intervened == 1.0 and v.null_space is None and v.value("ceiling") == 7.0
    assert ConditionValues.from_dict(v.to_dict()) == v
    with pytest.raises(ValueError, match="unknown condition"):
        v.value("blind")
