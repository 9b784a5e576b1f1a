"""The GPU check: on a machine with a GPU, in under 5 minutes, everything that exercises devices.

1. the device-exercising tests (pytest): data parallelism over two devices, ensemble members equal
   to single runs and sharded over devices, and the two-process ``jax.distributed`` run;
2. one ``compmech reproduce mess3 --minutes 1`` (train, probe, figures);
3. an ensemble of 8 seeds (``compmech train --seeds 8``) next to one run of the same config;

and prints the device, tokens/s, seconds per step, the probe's held-out MSE and the time of the
ensemble against one run (target on a GPU: <= 2x). ``--quick`` shrinks everything to a tiny model
and a few steps, to check the script itself on a CPU.

    pip install -e '.[dev,cuda12]'
    python benchmarks/gpu_check.py [--quick] [--out DIR] [--ensemble-steps 300] [--skip-tests]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE_TESTS = ["tests/test_transformer_train.py::test_two_devices_give_the_same_loss_curve",
                "tests/test_ensembles.py::test_each_member_equals_the_single_run_with_its_seed",
                "tests/test_ensembles.py::test_members_shard_over_two_devices_with_the_same_result",
                "tests/test_multihost.py"]
QUICK_TESTS = DEVICE_TESTS[1:2]
TINY_MODEL = ["--n-layers", "1", "--d-model", "16", "--d-head", "8", "--d-mlp", "32",
              "--n-ctx", "5", "--batch-size", "32", "--warmup-steps", "5"]


def _env() -> dict:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _compmech(*args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "compmech", *args], env=_env(), cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"compmech {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0, proc.stdout


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]


def _speed(run_dir: Path, members: int = 1) -> dict:
    """Steps, training wall time (evaluations included), tokens/s and s/step of a run."""
    last = _metrics(run_dir)[-1]
    wall = float(last["wall_time"])
    return {"steps": last["step"], "wall_s": wall,
            "tokens_per_s": members * last["tokens_seen"] / wall, "s_per_step": wall / last["step"]}


def _loop_tokens_per_s(stdout: str) -> float:
    """The training loop's own throughput (compilation and evaluations excluded), as
    ``compmech train`` prints it."""
    match = re.search(r"([\d,]+) tokens/s", stdout)
    return float(match.group(1).replace(",", "")) if match else float("nan")


def run_tests(quick: bool) -> str:
    tests = QUICK_TESTS if quick else DEVICE_TESTS
    proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-p", "no:cacheprovider",
                           *tests], env=_env(), cwd=ROOT, capture_output=True, text=True)
    summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
    return ("passed: " if proc.returncode == 0 else "FAILED: ") + summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (check on a CPU)")
    parser.add_argument("--out", help="working folder (default: a temporary one)")
    parser.add_argument("--ensemble-steps", type=int, default=300)
    parser.add_argument("--skip-tests", action="store_true")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    out = Path(args.out or tempfile.mkdtemp(prefix="gpu_check_"))
    out.mkdir(parents=True, exist_ok=True)

    import jax  # after argparse: --help stays instant

    dev = jax.devices()[0]
    print(f"device: {dev.platform} ({dev.device_kind}), {jax.device_count()} device(s), "
          f"jax {jax.__version__}", flush=True)
    if not args.skip_tests:
        t0 = time.perf_counter()
        print(f"tests: {run_tests(args.quick)} ({time.perf_counter() - t0:.0f} s)", flush=True)

    mess3 = out / "mess3"
    budget = ["--tiny"] if args.quick else ["--minutes", "1"]
    seconds, _ = _compmech("reproduce", "mess3", "--out", str(mess3), "--force", "--quiet",
                           *budget)
    probe = json.loads((mess3 / "probe.json").read_text())
    config = json.loads((mess3 / "config.json").read_text())
    speed = _speed(mess3)
    mse = probe["hooks"][probe["headline_hook"]]["mse_test"]
    print(f"reproduce mess3: {speed['steps']} steps in {speed['wall_s']:.1f} s of training "
          f"({seconds:.0f} s with probe and figures) on {config.get('device_used')}: "
          f"{speed['tokens_per_s']:,.0f} tokens/s, {1e3 * speed['s_per_step']:.2f} ms/step "
          f"(compilation and evaluations included), probe MSE {mse:.3g}", flush=True)

    steps = 20 if args.quick else args.ensemble_steps
    common = ["--process", "mess3", "--steps", str(steps), "--eval-every", str(steps),
              "--quiet", "--force", *(TINY_MODEL if args.quick else [])]
    t_one, out_one = _compmech("train", "--out", str(out / "one"), *common)
    t_ens, out_ens = _compmech("train", "--out", str(out / "ens"), "--seeds", "8", *common)
    one, ens = _speed(out / "one"), _speed(out / "ens" / "seed-0", members=8)
    loop_one, loop_ens = _loop_tokens_per_s(out_one), _loop_tokens_per_s(out_ens)
    tokens = one["tokens_per_s"] * one["wall_s"] / steps  # tokens per step of one run
    print(f"one run:          {steps} steps in {one['wall_s']:.1f} s ({t_one:.0f} s with "
          f"start-up); loop {loop_one:,.0f} tokens/s, {1e3 * tokens / loop_one:.2f} ms/step")
    print(f"ensemble of 8:    {steps} steps in {ens['wall_s']:.1f} s ({t_ens:.0f} s with "
          f"start-up); loop {loop_ens:,.0f} tokens/s in all ({loop_ens / 8:,.0f} per member), "
          f"{1e3 * 8 * tokens / loop_ens:.2f} ms/step")
    print(f"ensemble of 8 / one run: {ens['wall_s'] / one['wall_s']:.2f}x the training time, "
          f"{loop_one * 8 / loop_ens:.2f}x the step time (GPU target <= 2x)")
    print(f"total {time.perf_counter() - t_start:.0f} s (target < 300 s on a GPU); files in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
