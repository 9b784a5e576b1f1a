"""The heads experiment: its grid, and a tiny end-to-end run with its report and resume."""

import dataclasses
import json

import pytest

from compmech import cli
from compmech.experiments.heads import (
    ALPHA_SWEEP,
    DEFAULT_ALPHA,
    DEFAULT_HEAD_WIDTH,
    DEFAULT_HEADS,
    DEFAULT_STEPS,
    DEFAULT_X,
    HeadsConfig,
    HeadsSettings,
    HeadsSummary,
    heads_jobs,
    mess3_lambda,
    run_heads,
)
from transformer import ModelConfig, TrainConfig


def tiny_config():
    return TrainConfig(model=ModelConfig(n_layers=1, d_model=4, d_head=2, d_mlp=4, n_ctx=5),
                       steps=10, batch_size=16, eval_every=10, log_every=10, steps_per_call=5,
                       warmup_steps=2, checkpoints_per_decade=1)


def test_heads_grid_holds_the_head_width_fixed():
    jobs = heads_jobs(HeadsConfig(xs=(0.05, 0.45), heads=(1, 2, 4), head_width=8,
                                  minutes_per_job=None, steps=5))
    assert [j.name for j in jobs][:3] == ["mess3_x0.050_h1", "mess3_x0.050_h2", "mess3_x0.050_h4"]
    for j in jobs:
        m = j.train_config["model"]
        assert m["n_layers"] == 1 and m["n_heads"] * m["d_head"] == 8
        assert j.labels["lambda"] == pytest.approx(1 - 3 * j.labels["x"])
        assert j.train_config["process_params"]["alpha"] == 0.85
    assert mess3_lambda(0.45) == pytest.approx(-0.35)
    with pytest.raises(ValueError, match="not divisible"):
        HeadsConfig(xs=(0.05,), heads=(1, 3), head_width=16, steps=5)
    with pytest.raises(ValueError, match="distinct positive"):
        HeadsConfig(xs=(0.05,), heads=(1, 1), steps=5)
    with pytest.raises(ValueError, match="x"):
        HeadsConfig(xs=(0.7,), heads=(1,), steps=5)


def test_heads_config_defaults_validation_and_round_trip():
    """The defaults are the old ``run_heads`` keyword defaults; a bad option is refused in one
    line naming it; the config (and the summary's settings) survive JSON."""
    c = HeadsConfig()
    assert (c.xs, c.heads, c.alpha, c.alphas, c.seeds, c.head_width, c.n_layers, c.minutes_per_job,
            c.steps, c.seed) == (DEFAULT_X, DEFAULT_HEADS, DEFAULT_ALPHA, None, None,
                                 DEFAULT_HEAD_WIDTH, 1, None, DEFAULT_STEPS, 0)
    for bad, name in [(dict(steps=None), "minutes_per_job or steps"), (dict(xs=(0.05, 0.05)), "xs"),
                      (dict(seeds=(1, 1)), "seeds"), (dict(head_width=0), "head_width"),
                      (dict(n_layers=0), "n_layers"), (dict(steps=0), "steps"),
                      (dict(minutes_per_job=0.0), "minutes_per_job"), (dict(alpha=1.5), "alpha")]:
        with pytest.raises(ValueError, match=name) as err:
            HeadsConfig(**bad)
        assert "\n" not in str(err.value)
    c = HeadsConfig(xs=[0.05], heads=[1, 2], alphas=[0.4, 0.5], seeds=[0, 1], minutes_per_job=1.5)
    assert c.xs == (0.05,) and c.alphas == (0.4, 0.5) and c.seeds == (0, 1)
    again = HeadsConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c
    settings = HeadsSettings(**vars(c), model={"d_model": 4})
    assert HeadsSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def test_heads_end_to_end_report_and_resume(tmp_path):
    config = HeadsConfig(xs=(0.45,), heads=(1, 2), head_width=4, minutes_per_job=None, steps=10)
    lines = []
    summary = run_heads(tmp_path, config, base_config=tiny_config(), log=lines.append)
    assert len(summary.rows) == 2 and len(lines) == 1 + 2
    text = (tmp_path / "README.md").read_text()
    assert "| 0.450 | 0.850 | -0.35 |" in text and "x = 0.450 (lambda -0.35)" in text
    assert "rho*" in text and "(one seed: no uncertainty)" in text
    for name in ("heads_loss_probe.png", "heads_attention.png", "heads_decay.png"):
        assert (tmp_path / name).is_file() and f"]({name})" in text
    attention = tmp_path / "runs" / "mess3_x0.450_h2" / "mechanisms" / "attention.json"
    report = json.loads(attention.read_text())
    assert [h["head"] for h in report["heads"]] == [0, 1]
    assert report["theory_lambda"] == pytest.approx(-0.35)
    assert report["theory_rho_star"] is not None and report["rho_star_n_ctx"] == 5
    mtime = attention.stat().st_mtime_ns
    again = run_heads(tmp_path, config, base_config=tiny_config(), log=None)  # finished:
    assert again.environment["computed_now"] == [] and attention.stat().st_mtime_ns == mtime
    # the files keep their field names: experiment.json the options as before, summary.json's
    # settings the old names (and the options) and reads back as the typed summary
    manifest = json.loads((tmp_path / "experiment.json").read_text())
    assert list(manifest) == ["experiment", "xs", "heads", "alpha", "head_width", "n_layers",
                              "seed", "minutes_per_job", "steps", "model", "recipe"]
    assert (manifest["xs"], manifest["heads"], manifest["steps"]) == ([0.45], [1, 2], 10)
    saved = json.loads((tmp_path / "summary.json").read_text())["settings"]
    assert {"xs", "heads", "alpha", "head_width", "n_layers", "model", "alphas", "seeds",
            "attention"} <= set(saved)
    assert saved["xs"] == [0.45] and saved["alphas"] is None and saved["seeds"] is None
    read = HeadsSummary.read(tmp_path / "summary.json").settings
    assert read.to_dict() == summary.settings.to_dict()
    assert dataclasses.replace(read, attention={}) == dataclasses.replace(summary.settings,
                                                                          attention={})
    with pytest.raises(ValueError, match="different settings"):
        run_heads(tmp_path, dataclasses.replace(config, steps=11), base_config=tiny_config(),
                  log=None)


def test_alpha_sweep_grid_and_seeds():
    jobs = heads_jobs(HeadsConfig(xs=(0.05,), heads=(1,), alphas=ALPHA_SWEEP, seeds=(0, 1),
                                  head_width=4, steps=5))
    assert [j.name for j in jobs][:3] == ["mess3_x0.050_a0.400_h1_s0", "mess3_x0.050_a0.400_h1_s1",
                                          "mess3_x0.050_a0.500_h1_s0"]
    assert len(jobs) == 2 * len(ALPHA_SWEEP)
    assert sorted({j.train_config["process_params"]["alpha"] for j in jobs}) == list(ALPHA_SWEEP)
    assert {j.train_config["seed"] for j in jobs} == {0, 1} and all(
        j.seed == j.train_config["seed"] == j.labels["seed"] for j in jobs)
    assert all(j.labels["lambda"] == pytest.approx(0.85) for j in jobs)
    with pytest.raises(ValueError, match="distinct"):
        HeadsConfig(xs=(0.05,), heads=(1,), alphas=(0.4, 0.4), steps=5)
    with pytest.raises(ValueError, match="alpha"):
        HeadsConfig(xs=(0.05,), heads=(1,), alphas=(1.5,), steps=5)


def test_alpha_sweep_end_to_end_on_a_tiny_budget(tmp_path, capsys):
    """The option runs through the CLI (two alphas, two seeds, 10 steps each): the report sets
    each decay beside lambda and rho* with its spread over seeds."""
    out = tmp_path / "sweep"
    from compmech.experiments import heads as heads_module
    base = tiny_config()
    original = heads_module.config_with

    def tiny(config, overrides):  # the CLI's default model, shrunk for the test
        return original(base if config is None else config, overrides)

    heads_module.config_with = tiny
    try:
        assert cli.main(["experiment", "heads", "--out", str(out), "--alphas", "0.45", "0.85",
                         "--seeds", "0,1", "--heads", "1", "--head-width", "2", "--steps",
                         "10", "--quiet"]) == 0
    finally:
        heads_module.config_with = original
    text = (out / "README.md").read_text()
    assert "alpha in [0.45, 0.85]" in text and "seeds [0, 1]" in text
    decay = [line for line in text.splitlines() if line.startswith("- x = 0.050, alpha")]
    assert len(decay) == 2 and all("over 2 seeds" in d and "rho*" in d for d in decay)
    assert (out / "heads_decay.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["alphas"] == [0.45, 0.85] and len(summary["rows"]) == 4
    rho_star = {r["process_params"]["alpha"]:
                summary["settings"]["attention"][r["name"]]["theory_rho_star"]
                for r in summary["rows"]}
    assert rho_star[0.85] < rho_star[0.45]  # even 5-token words shorten the decay
    capsys.readouterr()
    assert cli.main(["experiment", "heads", "--out", str(out), "--alphas", "0.4",
                     "--alpha", "0.5"]) == 2
    assert "not both" in capsys.readouterr().err


def test_cli_heads_options_are_checked(tmp_path, capsys):
    assert cli.main(["experiment", "sweep", "--out", str(tmp_path), "--heads", "1"]) == 2
    assert "heads options" in capsys.readouterr().err
    assert cli.main(["experiment", "heads", "--out", str(tmp_path), "--heads", "3",
                     "--steps", "2"]) == 2
    assert "not divisible" in capsys.readouterr().err
