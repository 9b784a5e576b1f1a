"""The heads experiment: its grid, and a tiny end-to-end run with its report and resume."""

import json

import pytest

from compmech import cli
from compmech.pipeline.heads import heads_jobs, mess3_lambda, run_heads
from transformer import ModelConfig, TrainConfig


def tiny_config():
    return TrainConfig(model=ModelConfig(n_layers=1, d_model=4, d_head=2, d_mlp=4, n_ctx=3),
                       steps=10, batch_size=16, eval_every=10, log_every=10, steps_per_call=5,
                       warmup_steps=2, checkpoints_per_decade=1)


def test_heads_grid_holds_the_head_width_fixed():
    jobs = heads_jobs((0.05, 0.45), (1, 2, 4), head_width=8, minutes_per_job=None, steps=5)
    assert [j.name for j in jobs][:3] == ["mess3_x0.050_h1", "mess3_x0.050_h2", "mess3_x0.050_h4"]
    for j in jobs:
        m = j.train_config["model"]
        assert m["n_layers"] == 1 and m["n_heads"] * m["d_head"] == 8
        assert j.labels["lambda"] == pytest.approx(1 - 3 * j.labels["x"])
        assert j.train_config["process_params"]["alpha"] == 0.85
    assert mess3_lambda(0.45) == pytest.approx(-0.35)
    with pytest.raises(ValueError, match="not divisible"):
        heads_jobs((0.05,), (1, 3), head_width=16, steps=5)
    with pytest.raises(ValueError, match="distinct positive"):
        heads_jobs((0.05,), (1, 1), steps=5)
    with pytest.raises(ValueError, match="x"):
        heads_jobs((0.7,), (1,), steps=5)


def test_heads_end_to_end_report_and_resume(tmp_path):
    kwargs = dict(xs=(0.45,), heads=(1, 2), head_width=4, minutes_per_job=None, steps=10,
                  base_config=tiny_config())
    lines = []
    summary = run_heads(tmp_path, log=lines.append, **kwargs)
    assert len(summary.rows) == 2 and len(lines) == 1 + 2
    text = (tmp_path / "README.md").read_text()
    assert "| 0.450 | -0.35 | 2 |" in text and "x = 0.450 (lambda -0.35)" in text
    for name in ("heads_loss_probe.png", "heads_attention.png"):
        assert (tmp_path / name).is_file() and f"]({name})" in text
    attention = tmp_path / "runs" / "mess3_x0.450_h2" / "mechanisms" / "attention.json"
    report = json.loads(attention.read_text())
    assert [h["head"] for h in report["heads"]] == [0, 1]
    assert report["theory_lambda"] == pytest.approx(-0.35)
    mtime = attention.stat().st_mtime_ns
    again = run_heads(tmp_path, log=None, **kwargs)  # finished: nothing retrained or refitted
    assert again.environment["computed_now"] == [] and attention.stat().st_mtime_ns == mtime


def test_cli_heads_options_are_checked(tmp_path, capsys):
    assert cli.main(["experiment", "sweep", "--out", str(tmp_path), "--heads", "1"]) == 2
    assert "heads options" in capsys.readouterr().err
    assert cli.main(["experiment", "heads", "--out", str(tmp_path), "--heads", "3",
                     "--steps", "2"]) == 2
    assert "not divisible" in capsys.readouterr().err
