"""Generalized HMMs, mixtures and products through training, evaluation, probing and the command
line: the trainer samples them, the exact evaluation has their optimum (and, for a mixture, each
component's), and the probe reads their beliefs (GHMM plane coordinates, component posteriors,
factor beliefs with the angles between their subspaces)."""

import contextlib
import io
import json

import numpy as np
import pytest

import compmech
import transformer
from compmech.cli import main
from compmech.probing.config import ProbeConfig
from compmech.probing.data import probe_data
from compmech.probing.linear import BeliefProbe
from compmech.probing.run import probe_run
from compmech.probing.targets import (
    encoding_angles_deg,
    encoding_pattern,
    factor_targets,
    subspace_angles_deg,
)
from transformer import ModelConfig, TrainConfig

MESS3_B = ("mess3", {"x": 0.15, "alpha": 0.6})


def _main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def tiny(process_kw: dict, n_ctx: int = 4, steps: int = 60) -> TrainConfig:
    vocab = TrainConfig(**process_kw).build_hmm().vocab_size
    return TrainConfig(**process_kw, model=ModelConfig(n_layers=1, d_model=16, d_head=8, d_mlp=32,
                                                       n_ctx=n_ctx, d_vocab=vocab),
                       steps=steps, batch_size=64, eval_every=steps, log_every=20,
                       steps_per_call=10, warmup_steps=5, lr=1e-2)


# ----------------------------------------------------------------------------- training data
def test_the_trainer_samples_a_ghmm_with_its_word_probabilities():
    """Training batches of tom_quantum (drawn inside the compiled step, float32) have the process's
    word frequencies: a 4-sigma test on every 3-token word."""
    import jax
    import jax.numpy as jnp

    from compmech.hmm import normaliser
    from transformer.data import sample_batch

    hmm = compmech.get_process("tom_quantum")
    T = jnp.asarray(hmm.transition_matrices, jnp.float32)
    init = jnp.asarray(hmm.initial_distribution, jnp.float32)
    r = jnp.asarray(normaliser(hmm), jnp.float32)
    inputs, targets = sample_batch(T, init, jax.random.key(0), 200_000, 3, None, right_eigenvector=r)
    words = np.concatenate([np.asarray(inputs), np.asarray(targets)[:, -1:]], axis=1)
    code = (words * 4 ** np.arange(2, -1, -1)).sum(1)
    counts = np.bincount(code, minlength=64)
    _, probs = compmech.enumerate_words(hmm, 3)
    n = counts.sum()
    assert np.all(np.abs(counts - n * probs) <= 4 * np.sqrt(n * probs * (1 - probs)) + 1)


@pytest.mark.parametrize("name", ["tom_quantum", "post_quantum", "fanizza"])
def test_training_on_a_ghmm_approaches_its_optimum_and_never_beats_it(tmp_path, name):
    result = transformer.train(tiny({"process": name}, steps=80), tmp_path / name, progress=False)
    ev = result.final_eval
    gap = np.array(ev["eval_loss"]) - np.array(ev["optimal_loss"])
    assert ev["eval_exact"] and (gap > -1e-4).all()
    first = transformer.load_run(tmp_path / name).metrics[0]
    assert ev["loss_gap"] < 0.5 * first["loss_gap"]  # it learns


# ----------------------------------------------------------------------------- mixtures
@pytest.fixture(scope="module")
def mixture_run(tmp_path_factory):
    mix = compmech.mixture(["mess3", MESS3_B], [0.3, 0.7])
    run_dir = tmp_path_factory.mktemp("mix") / "run"
    transformer.train(tiny({"hmm": mix.to_dict()}), run_dir, progress=False)
    return mix, run_dir


def test_mixture_eval_has_each_components_optimum(mixture_run):
    """The in-context curves: each component's optimum equals that process's own myopic entropies
    (an independent computation), and the mixture's optimum lies above the weighted components'."""
    mix, run_dir = mixture_run
    last = [m for m in transformer.load_run(run_dir).metrics if "eval_loss" in m][-1]
    assert last["component_names"] == ["mess3 #0", "mess3 #1"]
    for k, proc in enumerate([compmech.get_process("mess3"),
                              compmech.get_process(MESS3_B[0], **MESS3_B[1])]):
        own = compmech.optimal_cross_entropy_nats(proc, 4)
        np.testing.assert_allclose(last["component_optimal_loss"][k], own, rtol=0, atol=1e-12)
    mixture_opt = np.array(last["optimal_loss"])
    np.testing.assert_allclose(mixture_opt, compmech.optimal_cross_entropy_nats(mix, 4), atol=1e-12)
    weighted = 0.3 * np.array(last["component_optimal_loss"][0]) + \
        0.7 * np.array(last["component_optimal_loss"][1])
    assert (mixture_opt >= weighted - 1e-12).all()  # not knowing the component costs
    # the loss on the mixture is the weighted loss on its components (same inputs, same model)
    per_comp = np.array(last["component_eval_loss"])
    np.testing.assert_allclose(0.3 * per_comp[0] + 0.7 * per_comp[1], last["eval_loss"], atol=1e-6)
    # the achievable curve on each component's data: the Bayes-mixture predictor's loss
    theory = compmech.mixture_component_losses(mix, 4)
    np.testing.assert_allclose(last["component_bayes_loss"], theory.bayes_mixture, atol=1e-12)
    np.testing.assert_allclose(0.3 * np.array(last["component_bayes_loss"][0])
                               + 0.7 * np.array(last["component_bayes_loss"][1]), mixture_opt,
                               atol=1e-12)
    # (a model may beat the Bayes-mixture curve on one component's data at the cost of another's;
    # only the weighted sum, the mixture's loss, is bounded by it)
    assert (0.3 * per_comp[0] + 0.7 * per_comp[1] >= mixture_opt - 1e-6).all()


def test_mixture_probe_reads_the_component_posterior(mixture_run):
    mix, run_dir = mixture_run
    report = probe_run(run_dir, ProbeConfig(checkpoints="last"), force=True, progress=False)
    assert set(report.factors) == {"component_posterior", "component_belief_0", "component_belief_1"}
    for scores in report.factors["component_posterior"].values():
        assert scores["mse_test"] < scores["shuffle_mse"]
    assert report.factor_angles_deg is None
    code, _, err = _main(["figures", str(run_dir), "--force"])
    assert code == 0, err


def test_factor_targets_of_a_mixture_are_the_bayesian_posterior():
    mix = compmech.mixture(["mess3", MESS3_B], [0.3, 0.7])
    words = compmech.all_words(3, 3)
    beliefs = compmech.filter_beliefs(mix, words).beliefs
    targets = factor_targets(mix, beliefs, None)
    # independent: P(k | w) = w_k P_k(w) / sum_j w_j P_j(w) from each component's own probabilities
    lp = np.stack([compmech.log_probability(compmech.get_process("mess3"), words[:, :t])
                   for t in (1, 2, 3)], -1)
    lq = np.stack([compmech.log_probability(compmech.get_process("mess3", **MESS3_B[1]),
                                            words[:, :t]) for t in (1, 2, 3)], -1)
    a, b = 0.3 * np.exp(lp), 0.7 * np.exp(lq)
    np.testing.assert_allclose(targets["component_posterior"].values[..., 0], a / (a + b), atol=1e-12)


# ----------------------------------------------------------------------------- products
def test_subspace_angles_against_known_subspaces():
    def probe(coef):
        p = BeliefProbe()
        p.coef_, p.intercept_ = np.asarray(coef, float), np.zeros(len(coef))
        return p

    e = np.eye(4)
    assert subspace_angles_deg(probe(e[:2]), probe(e[2:])) == pytest.approx([90, 90])
    assert subspace_angles_deg(probe(e[:2]), probe(e[:2] * 3)) == pytest.approx([0, 0], abs=1e-6)
    tilted = np.array([[1, 0, 0, 0], [0, np.cos(0.3), np.sin(0.3), 0]])
    assert subspace_angles_deg(probe(e[:2]), probe(tilted)) == pytest.approx([0, np.degrees(0.3)],
                                                                             abs=1e-6)


def test_encoding_angles_see_orthogonal_storage_that_oblique_decoders_hide():
    """Haufe et al. (2014): two factors stored on orthogonal axes, x = (y1 + n, y2 + n, n) with a
    shared nuisance n. Least-squares decoders subtract n and meet at 60 degrees; the encoding
    patterns C W^T find the axes the factors move (90 degrees)."""
    rng = np.random.default_rng(0)
    y1, y2, n = rng.standard_normal((3, 20_000))
    x = np.stack([y1 + n, y2 + n, n], axis=-1)
    p1 = BeliefProbe().fit(x, y1[:, None])
    p2 = BeliefProbe().fit(x, y2[:, None])
    np.testing.assert_allclose(p1.coef_[0], [1, 0, -1], atol=1e-9)  # noiseless: exact decoders
    assert subspace_angles_deg(p1, p2) == pytest.approx([60.0], abs=1e-6)
    assert encoding_angles_deg(p1, p2, x) == pytest.approx([90.0], abs=1.0)
    pattern = encoding_pattern(p1, x)[:, 0]
    assert abs(pattern[0]) > 20 * max(abs(pattern[1]), abs(pattern[2]))  # y1's own axis
    # weights and the (N, P, d) layout of the pipeline give the same patterns
    w = rng.uniform(0.5, 1.5, size=x.shape[0])
    np.testing.assert_allclose(encoding_pattern(p1, x.reshape(100, 200, 3), w.reshape(100, 200)),
                               encoding_pattern(p1, x, w), atol=1e-12)
    # a factor stored along a shared direction is not called orthogonal
    p3 = BeliefProbe().fit(np.stack([y1 + n, y1 + y2 + n, n], -1), y2[:, None])
    x3 = np.stack([y1 + n, y1 + y2 + n, n], -1)
    p1b = BeliefProbe().fit(x3, y1[:, None])
    assert encoding_angles_deg(p1b, p3, x3)[0] < 60


def test_product_probe_reports_factor_beliefs_and_their_angles(tmp_path):
    prod = compmech.product(["mess3", "z1r"])
    run_dir = tmp_path / "prod"
    transformer.train(tiny({"hmm": prod.to_dict()}, n_ctx=3), run_dir, progress=False)
    report = probe_run(run_dir, ProbeConfig(checkpoints="last"), force=True, progress=False)
    assert set(report.factors) == {"factor_belief_0", "factor_belief_1"}
    (angles,) = report.factor_angles_deg.values()
    assert len(angles) == 2 and all(0 <= a <= 90 for a in angles)  # mess3 reads 2 dims of 3


# ----------------------------------------------------------------------------- probe targets
def test_a_ghmm_is_probed_in_belief_plane_coordinates():
    hmm = compmech.get_process("tom_quantum")

    class FakeRun:
        model_config = ModelConfig(n_ctx=3, d_vocab=4)
        bos_token = None

        def __init__(self):
            self.hmm = hmm

        @staticmethod
        def model_inputs(words):
            return words

    data = probe_data(FakeRun(), seed=0)
    beliefs = compmech.filter_beliefs(hmm, data.tokens).beliefs
    assert data.beliefs.shape[-1] == 2 and "plane" in data.target
    np.testing.assert_allclose(data.beliefs, compmech.belief_plane_coordinates(
        beliefs, hmm.right_eigenvector), atol=1e-12)
    # an isometry of the plane: distances between beliefs are kept
    flat, coords = beliefs.reshape(-1, 3), data.beliefs.reshape(-1, 2)
    d_belief = np.linalg.norm(flat[:50, None] - flat[None, :50], axis=-1)
    d_coord = np.linalg.norm(coords[:50, None] - coords[None, :50], axis=-1)
    np.testing.assert_allclose(d_coord, d_belief, atol=1e-12)


def test_reproduce_tom_quantum_end_to_end(tmp_path):
    code, out, err = _main(["reproduce", "tom_quantum", "--out", str(tmp_path / "q"), "--tiny",
                            "--quiet", "--checkpoints", "last"])
    assert code == 0, err
    report = json.loads((tmp_path / "q" / "probe.json").read_text())
    assert report["process"] == "tom_quantum" and "plane" in report["protocol"]["target"]
    head = report["hooks"][report["headline_hook"]]
    assert head["mse_test"] < head["shuffle_mse"]
    assert (tmp_path / "q" / "figures" / "side_by_side.png").stat().st_size > 5000


# ----------------------------------------------------------------------------- command line
def test_the_cli_knows_every_kind_of_process(tmp_path):
    code, out, _ = _main(["processes", "--json"])
    assert code == 0 and {"tom_quantum", "post_quantum", "fanizza", "coin"} <= set(json.loads(out))
    code, out, err = _main(["info", "tom_quantum", "--json", "--num-points", "20000", "--depth", "4"])
    assert code == 0, err
    info = json.loads(out)
    assert info["kind"] == "ghmm" and len(info["right_eigenvector"]) == 3
    assert info["synchronization_profile_bits"] is None and info["entropy_rate_bits"] > 0
    code, _, err = _main(["generate", "fanizza", "--num-sequences", "50", "--seq-len", "6",
                          "--seed", "0", "--out", str(tmp_path / "f.npz"), "--quiet"])
    assert code == 0, err
    spec = tmp_path / "mix.json"
    spec.write_text(json.dumps({"kind": "mixture", "components": ["mess3", "z1r"],
                                "weights": [0.5, 0.5], "vocab_maps": [[0, 1, 2], [0, 1]]}))
    code, out, err = _main(["info", "--hmm-file", str(spec), "--json", "--basic"])
    assert code == 0, err
    info = json.loads(out)
    assert info["ergodic"] is False and info["stationary_distribution"] is None
    assert info["structure"]["kind"] == "mixture"
    code, _, err = _main(["train", "--hmm-file", str(spec), "--out", str(tmp_path / "run"),
                          "--steps", "20", "--batch-size", "16", "--n-layers", "1", "--d-model", "8",
                          "--d-head", "4", "--d-mlp", "16", "--n-ctx", "3", "--quiet"])
    assert code == 0, err
    last = transformer.load_run(tmp_path / "run").metrics[-1]
    assert len(last["component_eval_loss"]) == 2
