"""Benchmark: the default ``compmech probe`` of a run, through the public entry function.

Runs :func:`compmech.probing.run.probe_run` with its defaults (every hook with its controls and
baselines, the headline hook at every checkpoint with its geometry, the nonlinear decoders, the
Markov lookups, the fractal comparison) on a *copy* of ``--run`` (the run directory itself is never
written), and prints, stage by stage, the wall seconds and CPU seconds (user + system, all threads,
children included) that the probe records in ``probe.json``'s ``timing``, the peak resident set size
(``resource.getrusage``, JAX's footprint included) and the load average before and after. On a
shared machine the wall time grows with the load; the CPU time much less: read both.

Usage:
    python benchmarks/bench_probe.py --run RUN_DIR [--keep DIR] [--checkpoints all|last|N]
        [--curve-words N|all]

Target (issue 22): the 2-minute Mess3 run in <= 20 s on 2 cores, peak memory <= 2 GB.

Measured on the 2-minute Mess3 run (paper model, 25 checkpoints; the shared 2-core VM at load
10-14, 2026-12-06): before (c8f6911) 2,053 s wall / 511 s CPU, peak RSS 2.06 GB (sklearn MLP
decoders 359 s CPU); after 430 s wall / 198 s CPU, 2.23 GB. What remains is mostly the curve:
each of its 23 intermediate checkpoints is one forward pass of 59,049 x 10 tokens (about 165
GFLOP, 3.7 s CPU) plus one geometry comparison (0.7-1.3 s CPU).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_gb() -> float:
    """Peak resident set size of this process (GB; ``ru_maxrss`` is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def copy_run(run_dir: Path, dest: Path) -> Path:
    """Copy what the probe reads (config, metrics, checkpoints) into ``dest``; no old probe files."""
    dest.mkdir(parents=True, exist_ok=True)
    skip = {"probe.json", "probe_points.npz", "figures", "train_state.msgpack"}
    for item in run_dir.iterdir():
        if item.name in skip or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=shutil.ignore_patterns("train_state*"))
        else:
            shutil.copy2(item, dest / item.name)
    return dest


def print_timing(timing: dict[str, float]) -> None:
    """One line per stage: wall and CPU seconds."""
    stages = [k for k in timing if k.endswith("_s") and not k.endswith("_cpu_s")]
    width = max(len(k) for k in stages)
    print(f"{'stage':<{width}}  {'wall s':>8}  {'CPU s':>8}")
    for k in stages:
        cpu = timing.get(k[:-2] + "_cpu_s")
        print(f"{k:<{width}}  {timing[k]:8.2f}  {'' if cpu is None else f'{cpu:8.2f}'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained run directory (copied; never written)")
    parser.add_argument("--keep", help="probe the copy in this directory and keep it (default: a "
                                       "temporary directory, deleted afterwards)")
    parser.add_argument("--checkpoints", default="all", help="probe_run's checkpoints (default all)")
    parser.add_argument("--curve-words", default=None, help="probe_run's curve_words: a number of "
                                                            "sequences or 'all' (default: its default)")
    args = parser.parse_args()
    if not args.run:
        print("bench_probe: give --run RUN_DIR (a run written by `compmech train`, e.g. the 2-minute "
              "Mess3 run: compmech train --process mess3 --minutes 2 --out RUN_DIR)", file=sys.stderr)
        sys.exit(2)
    run_dir = Path(args.run)
    if not (run_dir / "config.json").exists():
        print(f"bench_probe: {run_dir} is not a run directory (no config.json)", file=sys.stderr)
        sys.exit(2)

    from compmech.probing.run import probe_run

    tmp = None if args.keep else tempfile.mkdtemp(prefix="bench_probe_")
    work = copy_run(run_dir, Path(args.keep or tmp) / run_dir.name)
    checkpoints = args.checkpoints if args.checkpoints in ("all", "last") else int(args.checkpoints)
    print(f"# probe benchmark: {run_dir} (copy in {work}), {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at start")
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        extra = {} if args.curve_words is None else {
            "curve_words": None if args.curve_words == "all" else int(args.curve_words)}
        report = probe_run(work, checkpoints=checkpoints, force=True, progress=False, **extra)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print_timing(report.timing)
    print(f"probe_run call: {wall:.2f} s wall, {cpu:.2f} s CPU (process_time, this process)")
    print(f"peak RSS: {peak_rss_gb():.2f} GB")
    hook = report.hooks[report.headline_hook]
    print(f"headline {report.headline_hook}: held-out MSE {hook.mse_test:.4g}; "
          f"{len(report.curve)} checkpoints on the curve ({report.protocol.curve})")
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
