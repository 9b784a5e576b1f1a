"""``compmech train``: a new user's run, resume, errors as one line with exit code 2."""

import json

import pytest

from compmech.cli import main

TINY_FLAGS = ["--n-layers", "1", "--d-model", "16", "--d-head", "8", "--d-mlp", "32", "--n-ctx",
              "5", "--batch-size", "32", "--eval-every", "20", "--steps-per-call", "10",
              "--quiet"]


def test_train_resume_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--process", "mess3", "-p", "x=0.1", "--out", str(out), "--steps", "20",
            *TINY_FLAGS]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "trained 20 steps" in printed and "exact eval loss" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["process"] == "mess3" and config["process_params"] == {"x": 0.1}
    assert config["model"]["d_model"] == 16 and config["model"]["d_vocab"] == 3
    assert config["steps"] == 20 and config["batch_size"] == 32
    assert (out / "checkpoints" / "params_00000000.msgpack").exists()
    # an existing run directory is an error without --resume/--force
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    # resume a finished run: nothing to do, same config
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0
    assert "trained 20 steps" in capsys.readouterr().out
    # --force starts over; --bos widens the vocabulary
    assert main([*args, "--force", "--bos", "--steps", "10"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["bos"] is True and config["model"]["d_vocab"] == 4 and config["steps"] == 10


def test_config_file_then_flags(tmp_path, capsys):
    cfg = {"process": "z1r", "process_params": {"p": 0.4}, "steps": 7, "lr": 0.002,
           "model": {"n_layers": 1, "d_model": 8, "d_head": 4, "d_mlp": 8, "n_ctx": 4}}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    out = tmp_path / "run"
    assert main(["train", "--config", str(path), "--out", str(out), "--steps", "5",
                 "--quiet", "--eval-every", "5"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["process"] == "z1r" and saved["lr"] == 0.002 and saved["steps"] == 5
    assert saved["model"]["d_vocab"] == 2 and saved["model"]["d_model"] == 8


@pytest.mark.parametrize("argv, message", [
    (["train", "--out", "R"], "a process is required"),
    (["train", "--process", "nope", "--out", "R"], "unknown process"),
    (["train", "--process", "mess3", "--out", "R", "--lr", "0"], "lr must be"),
    (["train", "--process", "mess3", "--out", "R", "--act-fn", "tanh"], "invalid choice"),
    (["train", "--process", "mess3", "--out", "R", "--steps", "0"], "steps must be"),
    (["train", "--out", "R", "--resume"], "cannot resume"),
    (["train", "--process", "mess3", "--out", "R", "--config", "missing.json"], "not found"),
    (["train", "--process", "mess3", "--out", "R", "--device", "gpu", "--steps", "1"], "gpu"),
])
def test_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("compmech: error:") and err.count("\n") == 1
    assert message.lower() in err.lower()
    assert not (tmp_path / "R" / "config.json").exists()
