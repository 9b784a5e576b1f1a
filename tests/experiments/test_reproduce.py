"""`compmech reproduce|probe|figures` end to end on a tiny run, and the probe's data alignment."""

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import compmech
from compmech.cli import main
from compmech.experiments.reproduce import reproduction_config
from compmech.probing.config import ProbeConfig
from compmech.probing.data import CONCAT, PROBE_FILE, layer_hooks, probe_data
from compmech.probing.run import probe_run

REPO = Path(__file__).resolve().parents[2]


def _main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("repro") / "mess3"
    code, out, err = _main(["reproduce", "mess3", "--out", str(run_dir), "--tiny", "--quiet",
                            "--checkpoints", "all"])
    assert code == 0, err
    return run_dir, out


def test_reproduce_prints_the_summary_table_with_controls(tiny_run):
    _, out = tiny_run
    for row in ("held-out MSE", "shuffle control", "untrained network", "one-hot",
                "random features", "paper (Shai 2024)", "total wall time"):
        assert row in out


def test_probe_json_has_every_hook_with_baselines_and_the_curve(tiny_run):
    run_dir, _ = tiny_run
    report = json.loads((run_dir / PROBE_FILE).read_text())
    import transformer

    run = transformer.load_run(run_dir)
    assert set(report["hooks"]) == set(layer_hooks(run))
    for hook, r in report["hooks"].items():
        for key in ("mse_test", "rmse_test", "r2_test", "shuffle_mse", "belief_variance"):
            assert np.isfinite(r[key]), (hook, key)
        assert r["rmse_test"] == pytest.approx(np.sqrt(r["mse_test"]))
        assert set(r["baselines"]) == {"untrained", "onehot", "random", "markov_1", "markov_2",
                                       "markov_3"}
        assert len(r["mse_folds"]) == (5 if hook == report["headline_hook"] else 1)
        assert r["n_train_points"] + r["n_test_points"] == report["protocol"]["num_points"]
    head = report["hooks"][report["headline_hook"]]
    assert report["headline_hook"] == "blocks.1.hook_resid_post"
    # the trained probe beats the controls that carry no information about the belief
    assert head["mse_test"] < head["baselines"]["random"]
    assert head["mse_test"] < head["shuffle_mse"]
    # the curve covers every checkpoint; step 0 is the untrained baseline itself
    steps = [c["step"] for c in report["curve"]]
    assert steps == run.checkpoint_steps
    assert report["curve"][0]["mse_test"] == pytest.approx(head["baselines"]["untrained"])
    assert report["curve"][-1]["mse_test"] == pytest.approx(head["mse_test"])
    assert report["protocol"]["num_points"] == 3**5 * 5  # every Mess3 word of length n_ctx = 5
    assert "fractal" not in report  # the old all-scales comparison is no longer part of the probe


def test_figures_exist_and_are_not_empty(tiny_run):
    from PIL import Image

    run_dir, _ = tiny_run
    fig_dir = run_dir / "figures"
    for stem in ("side_by_side", "layers", "shuffle", "loss_per_position", "training", "emergence"):
        for ext in ("png", "pdf"):
            path = fig_dir / f"{stem}.{ext}"
            assert path.is_file() and path.stat().st_size > 5000, path
    report = json.loads((run_dir / PROBE_FILE).read_text())
    with Image.open(fig_dir / "emergence.gif") as gif:
        assert gif.n_frames == sum(c["step"] > 0 for c in report["curve"])
    with Image.open(fig_dir / "side_by_side.png") as png:
        assert png.width > 2 * png.height * 0.8  # two panels side by side


def test_nothing_is_overwritten_without_force(tiny_run):
    run_dir, _ = tiny_run
    before = (run_dir / PROBE_FILE).read_bytes()
    code, _, err = _main(["probe", str(run_dir), "--quiet"])
    assert code == 2 and "--force" in err and err.count("\n") == 1
    assert (run_dir / PROBE_FILE).read_bytes() == before
    code, _, err = _main(["figures", str(run_dir)])
    assert code == 2 and "--force" in err
    code, _, err = _main(["reproduce", "mess3", "--out", str(run_dir), "--tiny"])
    assert code == 2 and "--force" in err


def test_probe_with_force_reprobes_the_last_checkpoint_only(tiny_run, tmp_path):
    import shutil

    run_dir, _ = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    code, out, err = _main(["probe", str(copy), "--checkpoints", "last", "--hooks", CONCAT,
                            "--force", "--quiet"])
    assert code == 0, err
    report = json.loads((copy / PROBE_FILE).read_text())
    assert [c["step"] for c in report["curve"]][0] == 0 and len(report["curve"]) == 2
    assert set(report["hooks"]) == {CONCAT, "blocks.1.hook_resid_post"}
    code, _, err = _main(["figures", str(copy), "--force"])
    assert code == 0, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["probe", "/nonexistent/run"], "not a directory"),
        (["reproduce", "foo", "--out", "x"], "invalid choice"),
        (["reproduce", "mess3", "--out", "x", "--minutes", "-1"], "positive"),
        (["reproduce", "mess3", "--out", "x", "--tiny", "--minutes", "1"], "--tiny"),
        (["reproduce", "mess3", "--out", "x", "--steps", "0"], "positive integer"),
        (["reproduce", "mess3", "--out", "x", "--steps", "10", "--minutes", "1"], "--steps replaces"),
        (["reproduce", "architectures", "--out", "x", "--steps", "10"], "--steps replaces"),
        (["probe", ".", "--checkpoints", "1"], ">= 2"),
    ],
)
def test_bad_arguments_give_one_line_errors(argv, message):
    code, _, err = _main(argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_probe_json_error_for_unknown_hook(tiny_run):
    run_dir, _ = tiny_run
    code, _, err = _main(["probe", str(run_dir), "--hooks", "blocks.9.hook_resid_post", "--force"])
    assert code == 2 and "unknown hooks" in err


# ------------------------------------------------------------------------------- alignment
def _fake_run(hmm, n_ctx, bos):
    mc = SimpleNamespace(n_ctx=n_ctx)
    bos_token = hmm.vocab_size if bos else None

    def model_inputs(words):
        words = np.asarray(words)
        if bos_token is None:
            return words
        return np.concatenate([np.full((words.shape[0], 1), bos_token), words], axis=1)

    return SimpleNamespace(hmm=hmm, model_config=mc, bos_token=bos_token, model_inputs=model_inputs)


@pytest.mark.parametrize("bos", [False, True])
def test_probe_data_labels_each_position_with_the_belief_after_its_tokens(bos):
    hmm = compmech.get_process("mess3")
    data = probe_data(_fake_run(hmm, 4, bos), seed=0)
    words = data.tokens[:, 1:] if bos else data.tokens
    filtered = compmech.filter_beliefs(hmm, words).beliefs
    if bos:
        assert np.all(data.tokens[:, 0] == 3)
        np.testing.assert_allclose(data.beliefs[:, 0], np.broadcast_to(hmm.initial_distribution,
                                                                       (data.num_sequences, 3)))
        np.testing.assert_allclose(data.beliefs[:, 1:], filtered)
    else:
        np.testing.assert_allclose(data.beliefs, filtered)
    assert data.tokens.shape == (3 ** (3 if bos else 4), 4)
    counts = np.bincount(data.folds)
    assert counts.sum() == data.num_sequences and counts.max() - counts.min() <= 1


def test_probe_data_samples_when_enumeration_is_too_large():
    hmm = compmech.get_process("mess3")
    data = probe_data(_fake_run(hmm, 6, True), max_points=100, num_sequences=300, seed=1)
    assert data.protocol == "sampled" and data.weights.shape == (300, 6)
    assert data.weights[:, 0].sum() == pytest.approx(1.0)  # the BOS position: the empty prefix once
    assert data.weights[:, 1].sum() == pytest.approx(1.0)  # all three first tokens seen


def test_reproduction_configs_use_the_published_models():
    mess3 = reproduction_config("mess3", minutes=2)
    assert mess3.process_params == {"x": 0.05, "alpha": 0.85}
    m = mess3.model
    assert (m.n_layers, m.d_model, m.n_heads, m.d_head, m.d_mlp, m.n_ctx, m.d_vocab) == (
        4, 64, 1, 8, 256, 10, 3)
    assert mess3.minutes == 2 and not mess3.bos
    r = reproduction_config("rrxor").model
    assert (r.d_model, r.n_heads, r.d_head, r.d_vocab) == (128, 4, 16, 2)
    assert reproduction_config("z1r").model.d_vocab == 2
    with pytest.raises(ValueError, match="unknown experiment"):
        reproduction_config("golden")


@pytest.mark.parametrize("script, argv", [("reproduce.py", ["mess3", "--help"]),
                                          ("bottleneck.py", ["--help"]),
                                          ("mess3_sweep.py", ["--help"])])
def test_experiment_scripts_call_the_library(script, argv):
    out = subprocess.run([sys.executable, str(REPO / "experiments" / script), *argv],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "--minutes" in out.stdout


def test_sampled_protocol_end_to_end(tiny_run, tmp_path):
    """Above the enumeration limit the probe runs on sampled words, prefixes weighted once."""
    import shutil

    run_dir, _ = tiny_run
    copy = tmp_path / "sampled"
    shutil.copytree(run_dir, copy)
    report = probe_run(copy, ProbeConfig(checkpoints="last", hooks=("blocks.1.hook_resid_post",),
                                         max_points=100, num_sequences=400, split="20/80"),
                       force=True, progress=False)
    proto = report.protocol
    assert proto.inputs == "sampled" and "weighted once" in proto.weighting
    assert proto.num_sequences == 400 and proto.train_fraction == 0.2
    r = report.hooks["blocks.1.hook_resid_post"]
    assert r.mse_test < r.baselines["random"]
    # the typed report round-trips through probe.json
    assert type(report).read(copy / PROBE_FILE) == report


def test_reproduce_with_a_step_budget_trains_exactly_those_steps(monkeypatch):
    from compmech.experiments import reproduce as rp

    seen = {}
    monkeypatch.setattr(rp, "train", lambda config, out, **kw: seen.setdefault("config", config))
    monkeypatch.setattr(rp, "probe_run", lambda *a, **kw: rp.ProbeReport.__new__(rp.ProbeReport))
    monkeypatch.setattr(rp, "make_figures", lambda *a, **kw: [])
    rp.reproduce("mess3", "/nonexistent/empty", rp.ReproduceConfig(minutes=None, steps=37),
                 progress=False)
    assert seen["config"].steps == 37 and seen["config"].minutes is None
    with pytest.raises(ValueError, match="not both"):
        rp.ReproduceConfig(minutes=2.0, steps=37)


def test_reproduce_config_refuses_bad_values_round_trips_and_keeps_the_old_defaults():
    from compmech.experiments import reproduce as rp

    for bad, message in [(dict(minutes=-1.0), "minutes must be a positive number"),
                         (dict(minutes=None, steps=0), "steps must be a positive integer")]:
        with pytest.raises(ValueError, match=message):
            rp.ReproduceConfig(**bad)
    for config in (rp.ReproduceConfig(minutes=None, steps=5, tiny=True, seed=3, checkpoints="all"),
                   rp.ReproduceConfig(checkpoints=4)):
        assert rp.ReproduceConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    # the defaults of the keywords it replaced (reproduce before the config)
    assert rp.ReproduceConfig() == rp.ReproduceConfig(minutes=2.0, steps=None, tiny=False, seed=0,
                                                      checkpoints=12)
    assert rp.DEFAULT_MINUTES == 2.0 and rp.REPRODUCE_CHECKPOINTS == 12


def test_reproduce_ensemble_passes_the_config_to_training_and_every_probe(monkeypatch):
    from compmech.experiments import reproduce as rp

    seen = {}
    monkeypatch.setattr(rp, "train_ensemble",
                        lambda config, seeds, out, **kw: seen.update(config=config, seeds=seeds))
    monkeypatch.setattr(rp, "probe_ensemble", lambda out, config, **kw: seen.update(probe=config)
                        or SimpleNamespace(members=["m0", "m1"]))
    monkeypatch.setattr(rp, "make_figures", lambda run_dir, **kw: seen.setdefault("figures", [])
                        .append((run_dir, kw["seed"])))
    config = rp.ReproduceConfig(minutes=None, steps=41, seed=5, checkpoints="last")
    rp.reproduce_ensemble("z1r", "/nonexistent/empty", [1, 2], config, progress=False)
    assert seen["seeds"] == [1, 2] and seen["config"].steps == 41
    assert seen["config"].seed == 0  # the members train with their own seeds
    assert seen["probe"].seed == 5 and seen["probe"].checkpoints == "last"
    assert seen["figures"] == [("m0", 5), ("m1", 5)]


def test_reproduce_bottleneck_is_wired_to_the_experiment(tmp_path, monkeypatch, capsys):
    from compmech.experiments import bottleneck as experiments

    calls = []
    monkeypatch.setattr(experiments, "run_bottleneck",
                        lambda out, config, **kw: calls.append((out, config, kw)) or {})
    assert main(["reproduce", "bottleneck", "--out", str(tmp_path / "b"), "--minutes", "0.5", "--quiet"]) == 0
    out, config, kw = calls[-1]
    assert out == str(tmp_path / "b")
    assert config.widths == experiments.DEFAULT_WIDTHS and config.minutes_per_width == 0.5
    assert config.steps is None and kw["log"] is None
    assert main(["reproduce", "bottleneck", "--out", str(tmp_path / "t"), "--tiny", "--quiet"]) == 0
    assert calls[-1][1].widths == (1, 2) and calls[-1][1].steps == 60
