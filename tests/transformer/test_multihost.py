"""Multi-host training, as docs/training.md documents it: two processes on this machine, one CPU device
each, joined by ``jax.distributed`` (coordinator on 127.0.0.1, CPU collectives over gloo), run the
same ``compmech train`` command. The loss curve must equal a one-process run with the same global
batch, and only process 0 may write."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

TRAIN = ["--process", "mess3", "--steps", "20", "--batch-size", "32", "--n-layers", "1",
         "--d-model", "16", "--d-head", "8", "--d-mlp", "32", "--n-ctx", "5", "--warmup-steps", "5",
         "--eval-every", "20", "--log-every", "5", "--steps-per-call", "5", "--micro-batch-size",
         "8", "--seed", "1", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_") and k != "XLA_FLAGS"}
    env.update(JAX_PLATFORMS="cpu", **extra)
    return env


def _curve(run_dir) -> list[tuple[int, float]]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    return [(m["step"], m["train_loss"]) for m in lines if m["step"] > 0]


def _train(out, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "compmech", "train", "--out", str(out), *TRAIN],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_processes_train_like_one_and_only_process_0_writes(tmp_path):
    port = _free_port()
    procs = [_train(tmp_path / f"host{pid}", _env(
        JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2",
        JAX_PROCESS_ID=str(pid), JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo")) for pid in (0, 1)]
    single = _train(tmp_path / "single", _env())
    outputs = []
    for proc in [*procs, single]:
        try:
            outputs.append(proc.communicate(timeout=400))
        except subprocess.TimeoutExpired:
            for p in (*procs, single):
                p.kill()
            raise
    for proc, (_, err) in zip([*procs, single], outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    # process 1 was told to write elsewhere and wrote nothing (not even the folder)
    assert not (tmp_path / "host1").exists()
    config = json.loads((tmp_path / "host0" / "config.json").read_text())
    assert config["device_used"] == "cpu x2"  # the mesh spans both processes' devices
    many, one = np.array(_curve(tmp_path / "host0")), np.array(_curve(tmp_path / "single"))
    assert many.shape == one.shape and one[-1, 0] == 20 and len(one) >= 6
    np.testing.assert_array_equal(many[:, 0], one[:, 0])
    assert np.ptp(one[:, 1]) > 1e-3  # the loss moves, so equal curves are not trivially equal
    np.testing.assert_allclose(many[:, 1], one[:, 1], rtol=2e-5)
    # both processes report the same final evaluation (the parameters are replicated)
    finals = [out.strip().splitlines()[-1] for out, _ in outputs[:2]]
    assert finals[0] == finals[1]
