"""Runs that survive the real world: stop signals, concurrent writers, full disks, impossible requests.

The signal and lock tests run `compmech train` in a subprocess and act on it as a user or a cluster
scheduler would (SIGTERM, Ctrl-C, SIGKILL, a second command on the same folder).
"""

import contextlib
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import compmech
import transformer
from compmech import files
from compmech.cli import main
from transformer.rundir import RunDirectory

TINY_TRAIN = ["--process", "mess3", "--steps", "100000", "--batch-size", "16", "--n-layers", "1",
              "--d-model", "8", "--d-head", "4", "--d-mlp", "16", "--n-ctx", "4", "--log-every", "10",
              "--steps-per-call", "5", "--eval-every", "100000", "--warmup-steps", "5",
              "--quiet"]


def _main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _start_training(run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "compmech", "train", "--out", str(run_dir),
                             *TINY_TRAIN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_step(proc: subprocess.Popen, run_dir: Path, step: int, timeout: float = 120) -> None:
    """Wait until ``metrics.jsonl`` has a record at or past ``step``."""
    deadline = time.monotonic() + timeout
    path = run_dir / "metrics.jsonl"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if path.exists():
            lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
            if lines and lines[-1]["step"] >= step:
                return
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("training did not reach the step in time")


def _leaves(tree):
    return jax.tree_util.tree_leaves(tree)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_saves_everything_and_resume_is_bitwise_exact(tmp_path, sig, code):
    run_dir = tmp_path / "run"
    proc = _start_training(run_dir)
    _wait_for_step(proc, run_dir, 20)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.count("\n") == 1 and "--resume" in err and signal.Signals(sig).name in err

    files_ = RunDirectory(run_dir, writer=False)
    state_step = int(files_.read_state()["state"]["step"])
    metrics = files_.read_metrics()
    assert metrics[-1]["step"] == state_step  # a record at that step (marked, if it is a new one)
    assert metrics[-1].get("interrupted", signal.Signals(sig).name) == signal.Signals(sig).name
    assert files_.checkpoint_steps()[-1] == state_step  # a checkpoint at that very step
    steps = [m["step"] for m in metrics]
    assert steps == sorted(set(steps))  # one record per step, in order

    # resume continues from exactly that step, bitwise as an uninterrupted run
    until = state_step + 23
    resumed = transformer.train(None, run_dir, resume=True, progress=False, stop_after=until)
    config = files_.read_config()
    reference = transformer.train(config, tmp_path / "reference", progress=False, stop_after=until)
    assert resumed.step == reference.step == until
    for a, b in zip(_leaves(resumed.params), _leaves(reference.params), strict=True):
        np.testing.assert_array_equal(a, b)
    steps = [m["step"] for m in transformer.load_run(run_dir).metrics]
    assert steps == sorted(set(steps))


def test_a_second_writer_is_refused_and_a_killed_holder_frees_the_lock(tmp_path):
    run_dir = tmp_path / "run"
    proc = _start_training(run_dir)
    try:
        _wait_for_step(proc, run_dir, 10)
        for argv in (["train", "--out", str(run_dir), "--resume", "--quiet"],
                     ["train", "--out", str(run_dir), "--force", *TINY_TRAIN],
                     ["probe", str(run_dir), "--quiet"]):
            code, _, err = _main(argv)
            assert code == 2 and err.count("\n") == 1, err
            assert f"in use by process {proc.pid}" in err and "compmech train" in err
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    # the kernel released the lock with the process: resuming works, and nothing was lost
    before = RunDirectory(run_dir, writer=False)
    state_step = int(before.read_state()["state"]["step"])
    assert before.checkpoint_steps()[-1] <= state_step
    assert before.read_metrics()[-1]["step"] <= state_step
    resumed = transformer.train(None, run_dir, resume=True, progress=False,
                                stop_after=state_step + 10)
    assert resumed.step == state_step + 10
    steps = [m["step"] for m in transformer.load_run(run_dir).metrics]
    assert steps == sorted(set(steps))


def test_lock_file_names_its_holder_and_is_free_after_release(tmp_path):
    with files.directory_lock(tmp_path / "d", "first writer"):
        with pytest.raises(files.LockBusy, match=rf"process {os.getpid()} \(first writer\)"):
            files.directory_lock(tmp_path / "d", "second writer").acquire()
    with files.directory_lock(tmp_path / "d", "second writer") as lock:
        assert lock.held
    assert files.is_empty_folder(tmp_path / "d")  # the lock file alone counts as empty


def test_a_torn_last_metrics_line_is_ignored_with_a_warning(tmp_path):
    run_dir = tmp_path / "run"
    config = transformer.TrainConfig(
        model=transformer.ModelConfig(n_layers=1, d_model=8, d_head=4, d_mlp=16, n_ctx=4),
        steps=40, batch_size=16, log_every=10, eval_every=40, steps_per_call=5, warmup_steps=5)
    transformer.train(config, run_dir, progress=False, stop_after=20)
    with open(run_dir / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 30, "tokens_se')  # a hard kill in the middle of a line
    with pytest.warns(UserWarning, match="torn last line"):
        records = RunDirectory(run_dir).read_metrics()
    assert [r["step"] for r in records][-1] == 20
    with pytest.warns(UserWarning):
        result = transformer.train(None, run_dir, resume=True, progress=False)
    assert result.step == 40
    text = (run_dir / "metrics.jsonl").read_text()
    assert "tokens_se\n" not in text and text.endswith("\n")
    steps = [json.loads(line)["step"] for line in text.splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 40
    # a corrupt line in the middle is an error, not silently dropped
    (run_dir / "metrics.jsonl").write_text('{"step": 0}\nnot json\n{"step": 10}\n')
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        RunDirectory(run_dir).read_metrics()


# ------------------------------------------------------------------------------- full disks
class _FullDisk:
    """A file object that accepts ``limit`` bytes, then fails like a full disk."""

    def __init__(self, fh, limit: int):
        self._fh, self._left = fh, limit

    def write(self, data):
        if len(data) > self._left:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


def test_a_full_disk_while_generating_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch):
    real_fdopen = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda *a, **k: _FullDisk(real_fdopen(*a, **k), 200_000))
    out = tmp_path / "data.npz"
    code, _, err = _main(["generate", "mess3", "--num-sequences", "20000", "--seq-len", "20",
                          "--seed", "0", "--out", str(out), "--quiet"])
    assert code == 2 and err.count("\n") == 1
    assert "No space left on device" in err and str(out) in err
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary remains


def test_an_existing_file_survives_a_failed_overwrite(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    files.write_json(path, {"kept": True})
    real_fdopen = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda *a, **k: _FullDisk(real_fdopen(*a, **k), 3))
    with pytest.raises(files.WriteError, match="No space left"):
        files.write_json(path, {"kept": False})
    assert json.loads(path.read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.fixture
def tiny_filesystem():
    """A 1 MB tmpfs (needs root and mount rights; skipped otherwise)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    where = tempfile.mkdtemp(prefix="compmech-tmpfs-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", where],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        os.rmdir(where)
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield Path(where)
    finally:
        subprocess.run(["umount", where], check=False)
        os.rmdir(where)


def test_a_real_full_disk(tiny_filesystem):
    out = tiny_filesystem / "tree.npz"
    code, _, err = _main(["msp", "mess3", "--depth", "11", "--out", str(out)])
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err
    assert list(tiny_filesystem.iterdir()) == []
    code, _, err = _main(["generate", "mess3", "--num-sequences", "100000", "--seq-len", "10",
                          "--seed", "0", "--out", str(tiny_filesystem / "d.npz"), "--quiet"])
    assert code == 2 and "needs 16.1 MB" in err and "free" in err  # refused before any work
    assert list(tiny_filesystem.iterdir()) == []


# ------------------------------------------------------------------------------- impossible
def test_an_impossible_dataset_is_refused_before_any_work(tmp_path):
    start = time.perf_counter()
    code, _, err = _main(["generate", "mess3", "--num-sequences", "1000000000000", "--seq-len",
                          "1000", "--seed", "0", "--out", str(tmp_path / "x.npz")])
    assert code == 2 and err.count("\n") == 1
    assert "needs 16.0 PB" in err and "free" in err and "1,000,000,000,000,000 tokens" in err
    assert time.perf_counter() - start < 10 and list(tmp_path.iterdir()) == []


def test_a_tree_too_deep_for_memory_is_refused_with_the_estimate():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"mixed-state tree of 'mess3' .* needs about .* of memory"):
        compmech.mixed_state_tree(compmech.get_process("mess3"), 40)
    assert time.perf_counter() - start < 30
    with pytest.raises(ValueError, match=r"3\^40 = .* words is more than .* as int32"):
        compmech.all_words(3, 40)
