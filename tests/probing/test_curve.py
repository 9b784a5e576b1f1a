"""The curve over training on a fixed subset of the words (:mod:`compmech.probing.curve`).

Oracles: the full-data weighted means the Horvitz-Thompson weights must estimate (exactly in
expectation over seeds, closely for one seed), a planted heavy-weight case that a uniform subsample
gets wrong, the true beliefs as features (R^2 exactly 1 on the subset), and the every-word curve of
the same small trained run, which the subset curve must follow within a stated tolerance.
"""

import dataclasses

import numpy as np
import pytest

import compmech
from compmech.probing.curve import curve_sample, curve_subset
from compmech.probing.data import ProbeData, _probe
from compmech.probing.inputs import probe_inputs, sequence_folds


def _data(n_ctx=6, weighting="uniform", seed=0) -> ProbeData:
    hmm = compmech.get_process("mess3")
    inputs = probe_inputs(hmm, n_ctx, weighting=weighting)
    n = inputs.tokens.shape[0]
    return ProbeData(inputs.tokens.astype(np.int32), inputs.beliefs, inputs.weights,
                     sequence_folds(n, 5, seed=seed), inputs.protocol, seed,
                     joint_beliefs=inputs.beliefs, weighting=weighting)


def _weighted_mean(values, weights):
    w = np.ones(values.shape[:2]) if weights is None else weights
    return (w[..., None] * values).sum(axis=(0, 1)) / w.sum()


def test_unweighted_subset_is_a_stratified_simple_random_sample():
    data = _data()
    N = data.num_sequences  # 729 words
    index, weights = curve_sample(data, 200, seed=3)
    assert np.all(np.diff(index) > 0)  # sorted, distinct: no sequence drawn twice
    assert abs(index.size - 200) <= 5
    # each fold keeps its share of the sequences (proportional allocation, rounded)
    for f in range(5):
        expected = 200 * np.sum(data.folds == f) / N
        assert abs(np.sum(data.folds[index] == f) - expected) <= 0.5 + 1e-9
    # Horvitz-Thompson weights: sum to 1, equal within a fold (equal inclusion probabilities)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    for f in range(5):
        w = weights[data.folds[index] == f]
        np.testing.assert_allclose(w, w.flat[0], rtol=1e-12)
    again, _ = curve_sample(data, 200, seed=3)
    np.testing.assert_array_equal(index, again)  # seeded
    other, _ = curve_sample(data, 200, seed=4)
    assert not np.array_equal(index, other)


def test_every_word_when_the_subset_would_cover_them():
    data = _data(weighting="probability")
    for words in (None, data.num_sequences, 10 * data.num_sequences):
        index, weights = curve_sample(data, words, seed=0)
        np.testing.assert_array_equal(index, np.arange(data.num_sequences))
        np.testing.assert_allclose(weights, data.weights / data.weights.sum(), rtol=1e-12)
    with pytest.raises(ValueError, match="curve_words"):
        curve_sample(data, 0, seed=0)


@pytest.mark.parametrize("weighting", ["uniform", "probability"])
def test_horvitz_thompson_weights_estimate_the_full_means_without_bias(weighting):
    """Averaged over seeds, the subset's weighted mean belief equals the full data's weighted mean
    (the estimator is unbiased); for one seed it is close."""
    data = _data(n_ctx=6, weighting=weighting)
    full = _weighted_mean(data.beliefs, data.weights)
    estimates = []
    for seed in range(200):
        index, weights = curve_sample(data, 60, seed=seed)
        assert weights.sum() == pytest.approx(1.0, abs=1e-12) and np.all(weights >= 0)
        estimates.append(_weighted_mean(data.beliefs[index], weights))
    estimates = np.array(estimates)
    stderr = estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))
    assert np.all(np.abs(estimates.mean(axis=0) - full) < 4 * stderr + 1e-12)
    assert np.all(np.abs(estimates[0] - full) < 0.05)


def test_heavy_sequences_are_drawn_and_counted_not_missed():
    """Adversarial: a handful of sequences carry 90% of the weight and hold beliefs unlike the
    rest. A uniform subsample of 5% of the words usually misses them (its weighted mean is then
    off by ~0.9 of the gap); the probability-proportional draws always take them, with the
    multiplicity their weight calls for, and the weighted mean comes out right."""
    data = _data(n_ctx=6)
    N, P = data.tokens.shape
    heavy = np.array([3, 100, 400, 650])
    weights = np.full((N, P), 0.1 / ((N - heavy.size) * P))
    weights[heavy] = 0.9 / (heavy.size * P)
    beliefs = np.zeros((N, P, 3))
    beliefs[..., 0] = 1.0
    beliefs[heavy] = [0.0, 0.0, 1.0]
    data = dataclasses.replace(data, weights=weights, beliefs=beliefs, joint_beliefs=beliefs)
    index, w = curve_sample(data, 36, seed=0)
    assert np.all(np.isin(heavy, index))
    assert w[np.isin(index, heavy)].sum() == pytest.approx(0.9, abs=0.03)
    np.testing.assert_allclose(_weighted_mean(beliefs[index], w), [0.1, 0.0, 0.9], atol=0.03)


def test_true_beliefs_on_the_subset_are_fitted_exactly():
    """The subset keeps beliefs and tokens aligned: the beliefs themselves as features give a
    held-out R^2 of 1 (and zero error) on the subset's own split, weighted or not."""
    for weighting in ("uniform", "probability"):
        data = _data(n_ctx=6, weighting=weighting)
        figure = np.arange(10)
        sub = curve_subset(data, 150, seed=1, figure_points=figure)
        assert not sub.everything and sub.num_sequences <= 150
        np.testing.assert_array_equal(sub.data.tokens, data.tokens[sub.index])
        res = _probe(sub.data.beliefs.astype(np.float32), sub.data)
        assert res.scores.r2 == pytest.approx(1.0, abs=1e-6)
        assert res.scores.mse < 1e-10
        # the compared points are held-out points of the subset, named in both numberings
        P = data.tokens.shape[1]
        np.testing.assert_array_equal(sub.points, sub.index[sub.local_points // P] * P
                                      + sub.local_points % P)
        assert not np.isin(data.folds[sub.points // P], np.arange(data.train_folds)).any()
        np.testing.assert_allclose(data.beliefs.reshape(-1, 3)[sub.points],
                                   sub.data.beliefs.reshape(-1, 3)[sub.local_points])


# --------------------------------------------------------------- the curve of a small trained run
#: Largest relative difference allowed between the subset curve's held-out MSE and the every-word
#: curve's at an intermediate checkpoint (512 of 2,187 words: the subset's probe trains on ~720
#: points for 17 coefficients, which alone raises its held-out MSE by ~2.4%; measured up to 6%).
MSE_TOLERANCE = 0.10


@pytest.fixture(scope="module")
def curves(tmp_path_factory):
    """One small Mess3 run (n_ctx 7: 2,187 words) probed twice: every checkpoint on every word,
    and the intermediate checkpoints on 512 of them."""
    import transformer
    from compmech.experiments.reproduce import reproduction_config
    from compmech.probing.config import ProbeConfig
    from compmech.probing.run import probe_run

    cfg = reproduction_config("mess3", tiny=True)
    cfg = cfg.replace(model=dataclasses.replace(cfg.model, n_ctx=7), steps=150)
    run_dir = tmp_path_factory.mktemp("curve") / "mess3"
    transformer.train(cfg, run_dir, progress=False)
    head = transformer.load_run(run_dir).last_hook()
    config = ProbeConfig(hooks=(head,), decoders=())
    full = probe_run(run_dir, dataclasses.replace(config, curve_words=None), force=True,
                     progress=False)
    subset = probe_run(run_dir, dataclasses.replace(config, curve_words=512), force=True,
                       progress=False)
    return run_dir, full, subset


def test_subset_curve_follows_the_every_word_curve(curves):
    _, full, subset = curves
    assert [c.step for c in full.curve] == [c.step for c in subset.curve]
    assert len(full.curve) >= 5
    # the ends and every last-checkpoint number are the full probe's, bit for bit
    assert subset.curve[0] == full.curve[0] and subset.curve[-1] == full.curve[-1]
    assert subset.hooks == full.hooks and subset.geometry == full.geometry
    assert all(c.num_sequences == 2187 for c in full.curve)
    assert subset.curve[0].num_sequences == subset.curve[-1].num_sequences == 2187
    middle = list(zip(full.curve[1:-1], subset.curve[1:-1], strict=True))
    for a, b in middle:
        assert 500 <= b.num_sequences <= 512
        assert abs(b.mse_test / a.mse_test - 1) <= MSE_TOLERANCE, (a.step, a.mse_test, b.mse_test)
        # geometry: the same grid scale or the next one (a factor sqrt(2)), the same history
        ratio = b.geometry.resolution / a.geometry.resolution
        assert 2**-0.5 - 1e-3 <= ratio <= 2**0.5 + 1e-3, (a.step, ratio)
        assert abs(b.geometry.equivalent_history - a.geometry.equivalent_history) <= 0.2
    # the subset's probe trains on fewer points: on average it is not better than the full one
    assert np.mean([b.mse_test / a.mse_test for a, b in middle]) >= 0.99
    assert "512" in subset.protocol.curve and "every checkpoint" in full.protocol.curve


def test_subset_curve_frames_are_drawn_on_their_own_points(curves):
    """``probe_points.npz`` names the curve's points; every checkpoint's predictions are there, the
    last one's equal to the headline probe's at those points; the emergence figure draws them."""
    from compmech.figures import run as figures_run
    from compmech.probing.data import POINTS_FILE

    run_dir, _, subset = curves
    with np.load(run_dir / POINTS_FILE) as pts:
        arrays = {k: pts[k] for k in pts.files}
    n = arrays["curve_point_index"].shape[0]
    assert arrays["curve_true"].shape == (n, 3) and 0 < n <= arrays["point_index"].shape[0]
    for c in subset.curve[1:]:
        assert arrays[f"checkpoint/{c.step}"].shape == (n, 3)
    # the geometry of an intermediate checkpoint is that of the stored predictions
    c = subset.curve[len(subset.curve) // 2]
    assert c.geometry.num_points == n
    rms = np.sqrt(((arrays[f"checkpoint/{c.step}"] - arrays["curve_true"]) ** 2).sum(1).mean())
    assert c.geometry.noise_rms == pytest.approx(rms, rel=1e-4)
    written = figures_run.make_figures(run_dir, force=True, progress=False)
    assert any(p.name == "emergence.gif" for p in written)


def test_the_forward_pass_compiles_once_for_every_checkpoint(curves):
    import transformer
    from transformer.activations import _compiled_hooks

    run_dir, _, subset = curves
    run = transformer.load_run(run_dir)
    assert _compiled_hooks(run.model_config, (subset.headline_hook,))._cache_size() == 1


def test_the_command_line_default_is_the_library_default():
    from compmech.cli import probe as probe_cli
    from compmech.probing import curve

    assert probe_cli.CURVE_WORDS == curve.CURVE_WORDS
    assert probe_cli._parse_curve_words("all") is None
    assert probe_cli._parse_curve_words("512") == 512
