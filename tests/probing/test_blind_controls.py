"""The prediction-blind probe controls against planted representations: one that holds the belief,
one that holds only the next-token prediction, pure noise, and a change of a GHMM's basis."""

import dataclasses

import numpy as np
import pytest

import compmech
from compmech.probing.blind import BlindControls, blind_controls
from oracles import random_basis


def _cloud(process, length=7):
    """Beliefs after every prefix of every possible word, their weights, and a train mask that
    splits by word (every third word trains)."""
    words, probs = compmech.enumerate_words(process, length)
    keep = probs > 0
    beliefs = compmech.filter_beliefs(process, words[keep]).beliefs
    n = int(keep.sum())
    train = np.repeat(np.arange(n) % 3 == 0, length)
    return beliefs.reshape(-1, process.num_states), np.repeat(probs[keep], length), train


def _features(beliefs, width, rng):
    """A belief representation: a random linear embedding of the beliefs into ``width`` dims."""
    return beliefs @ rng.normal(size=(beliefs.shape[1], width))


@pytest.mark.parametrize("name", ["rrxor", "z1r"])
def test_a_belief_representation_passes_every_control(name):
    process = compmech.get_process(name)
    beliefs, weights, train = _cloud(process)
    X = _features(beliefs, 16, np.random.default_rng(0))
    out = blind_controls(X, beliefs, process, train=train, weights=weights)
    assert out.applicable and out.distinguishable
    assert out.dimension == compmech.prediction_blind_subspace(process).dimension
    assert out.share > 0.05 and 0.01 < out.lookup_share <= out.share + 1e-12
    assert out.belief_r2 == pytest.approx(1.0, abs=1e-9)
    assert out.blind_r2 > out.blind_shuffle_r2 + 0.1
    assert out.blind_shuffle_r2 < 0.05
    assert abs(out.blind_log_next_token_r2) < 0.05  # no function of p predicts the residual
    assert out.geometric_shuffle_r2 < out.belief_r2 - 0.05
    assert out.prediction_lookup_r2 < out.belief_r2 - 0.05
    assert out.against_network() == []


def _prediction_table(beliefs, process, width, rng):
    """A lookup-table representation of the prediction: a random vector per distinct P(.|eta)."""
    p = np.round(beliefs @ process.emission_probabilities, 9)
    _, inverse = np.unique(p, axis=0, return_inverse=True)
    table = rng.normal(size=(int(inverse.max()) + 1, width))
    return table[inverse.reshape(-1)]


@pytest.mark.parametrize("name", ["rrxor", "z1r"])
def test_a_prediction_only_representation_is_caught(name):
    """A lookup table of the prediction (any function of p, the strongest prediction-only
    representation) fits the beliefs as far as the prediction determines them; the blind controls
    must come out against it."""
    process = compmech.get_process(name)
    beliefs, weights, train = _cloud(process)
    X = _prediction_table(beliefs, process, 64, np.random.default_rng(1))
    out = blind_controls(X, beliefs, process, train=train, weights=weights)
    assert out.distinguishable
    assert out.blind_r2 < 0.05
    assert abs(out.belief_r2 - out.geometric_shuffle_r2) < 0.05
    against = out.against_network()
    assert "blind probe no better than its shuffle" in against
    assert "geometric shuffle fitted as well as the beliefs" in against


def test_a_linear_prediction_representation_is_caught_by_the_lookup_baseline():
    process = compmech.get_process("rrxor")
    beliefs, weights, train = _cloud(process)
    p = beliefs @ process.emission_probabilities
    X = np.concatenate([p, np.log(np.maximum(p, 1e-12))], axis=1)
    out = blind_controls(X, beliefs, process, train=train, weights=weights)
    assert out.belief_r2 <= out.prediction_lookup_r2 + 1e-9
    assert "beliefs fitted no better than by a lookup on the prediction" in out.against_network()


def test_fanizza_prediction_determines_the_belief_on_its_cloud():
    """fanizza has a 2-dimensional blind subspace, yet on every word of 6 tokens no two beliefs
    share a prediction: a representation of the prediction carries the belief, and the test says
    it cannot tell."""
    process = compmech.get_process("fanizza")
    beliefs, weights, train = _cloud(process, length=6)
    out = blind_controls(beliefs, beliefs, process, train=train, weights=weights)
    assert out.applicable and out.dimension == 2 and out.share > 0.1
    assert not out.distinguishable and out.lookup_share < 1e-20
    assert out.blind_r2 is None and out.geometric_shuffle_r2 is None
    assert out.prediction_lookup_r2 > 0.95  # only unseen predictions on test points miss
    assert out.against_network() == []


def test_noise_is_caught():
    process = compmech.get_process("rrxor")
    beliefs, weights, train = _cloud(process)
    X = np.random.default_rng(2).normal(size=(beliefs.shape[0], 16))
    out = blind_controls(X, beliefs, process, train=train, weights=weights)
    assert out.belief_r2 < 0.05 and out.blind_r2 < 0.05
    assert len(out.against_network()) >= 2


def test_not_applicable_without_a_blind_subspace():
    process = compmech.get_process("mess3")
    beliefs, weights, train = _cloud(process, length=5)
    out = blind_controls(beliefs, beliefs, process, train=train, weights=weights)
    assert isinstance(out, BlindControls) and not out.applicable and out.dimension == 0
    assert out.blind_r2 is None and out.against_network() == []


def test_scores_do_not_depend_on_a_ghmm_presentation():
    process = compmech.get_process("rrxor")
    beliefs, weights, train = _cloud(process, length=6)
    A = random_basis(process.num_states, np.random.default_rng(3))
    changed = compmech.change_basis(process, A)
    X = _features(beliefs, 12, np.random.default_rng(4)) + np.random.default_rng(5).normal(
        scale=0.05, size=(beliefs.shape[0], 12))
    before = blind_controls(X, beliefs, process, train=train, weights=weights)
    after = blind_controls(X, beliefs @ A, changed, train=train, weights=weights)
    assert before.applicable and before.dimension == 3
    for field in ("share", "lookup_share", "belief_r2", "next_token_r2", "log_next_token_r2",
                  "prediction_lookup_r2", "blind_r2",
                  "blind_shuffle_r2", "blind_log_next_token_r2", "geometric_shuffle_r2"):
        assert getattr(after, field) == pytest.approx(getattr(before, field), abs=1e-7), field


def test_bad_input():
    process = compmech.get_process("rrxor")
    beliefs, weights, train = _cloud(process, length=4)
    with pytest.raises(ValueError, match="train must be"):
        blind_controls(beliefs, beliefs, process, train=np.ones(len(beliefs), bool))
    with pytest.raises(ValueError, match="features must be"):
        blind_controls(beliefs[:-1], beliefs, process, train=train)


@pytest.mark.parametrize("name", ["rrxor", "fanizza", "mess3"])
def test_the_probe_reports_the_blind_controls_at_every_hook(tmp_path, name):
    """``compmech probe`` stores the controls per hook (HMM and GHMM), equal to a direct call on
    the same activations and split, and marks Mess3 "not applicable"."""
    import transformer
    from compmech.probing.config import ProbeConfig
    from compmech.probing.data import _features, _train_sets, collect, probe_data, train_folds
    from compmech.probing.report import ProbeReport
    from compmech.probing.run import probe_run
    from compmech.probing.summary import summary_lines

    process = compmech.get_process(name)
    config = transformer.TrainConfig(
        process=name, model=transformer.ModelConfig(n_layers=1, d_model=16, d_head=8, d_mlp=32,
                                                    n_ctx=5, d_vocab=process.vocab_size),
        steps=20, batch_size=32, eval_every=20, log_every=10, steps_per_call=10, warmup_steps=2)
    transformer.train(config, tmp_path / "run", progress=False)
    report = probe_run(tmp_path / "run", ProbeConfig(checkpoints="last", decoders=(),
                                                     geometry=False),
                       force=True, progress=False)
    again = ProbeReport.read(tmp_path / "run" / "probe.json")
    head = report.hooks[report.headline_hook]
    assert again.hooks[report.headline_hook].blind == head.blind  # an exact JSON round trip
    text = "\n".join(summary_lines(report))
    if name == "mess3":
        assert not head.blind.applicable
        assert all(h.blind is None or not h.blind.applicable for h in report.hooks.values())
        assert "not applicable" in text
        return
    run = transformer.load_run(tmp_path / "run")
    data = probe_data(run, seed=0)
    n, P = data.tokens.shape
    data = dataclasses.replace(data, train_folds=train_folds("auto", n * P, 16))  # as the probe
    acts = collect(run, run.load_params(report.step), data, [report.headline_hook])
    direct = blind_controls(
        np.asarray(_features(acts, report.headline_hook, run)).reshape(n * P, -1),
        data.joint_beliefs.reshape(n * P, -1), process,
        train=np.repeat(np.isin(data.folds, _train_sets(data)[0]), P),
        weights=None if data.weights is None else data.weights.reshape(-1))
    assert head.blind.applicable and head.blind.dimension == (3 if name == "rrxor" else 2)
    for field in ("share", "lookup_share", "belief_r2", "prediction_lookup_r2"):
        assert getattr(head.blind, field) == pytest.approx(getattr(direct, field), abs=1e-9)
    assert "prediction-blind" in text
