"""Benchmark: the default ``compmech probe`` of a run, through the public entry function.

Runs :func:`compmech.probing.run.probe_run` with its defaults (every hook with its controls and
baselines, the headline hook at every checkpoint with its geometry, the nonlinear decoders, the
Markov lookups) on a *copy* of ``--run`` (the run directory itself is never
written), and prints, stage by stage, the wall seconds and CPU seconds (user + system, all threads,
children included) that the probe records in ``probe.json``'s ``timing``, the peak resident set size
(``resource.getrusage``, JAX's footprint included) and the load average before and after. On a
shared machine the wall time grows with the load; the CPU time much less: read both.

Usage:
    python benchmarks/bench_probe.py --run RUN_DIR [--keep DIR] [--checkpoints all|last|N]
        [--curve-words N|all]

Target (issue 22): the 2-minute Mess3 run in <= 20 s on 2 cores, peak memory <= 2 GB.

Measured on the 2-minute Mess3 run (paper model, 25 checkpoints; the shared 2-core VM, every
number under ``nice -n 19`` beside timed trainings, 2026-12-06):

* c8f6911 (load 10-14): 2,053 s wall / 511 s CPU, peak RSS 2.06 GB (sklearn MLP decoders 359 s
  CPU).
* 75ede6a (load 1.7 at start, 9.8 at end): 266 s wall / 170 s CPU, 2.22 GB. CPU s by stage: data
  1.0, forward_trained 7.8, probe_trained 11.3, geometry 6.8, decoders 31.7, lookups 2.3,
  forward_untrained 2.5, baselines 11.5, decoders_untrained 6.1, curve 89.0 (23 intermediate
  checkpoints, each a forward pass of all 59,049 words, 3.7 s, and a geometry comparison).
* wt/speed2, the curve's intermediate checkpoints on a fixed subset of 4,096 words
  (:mod:`compmech.probing.curve`) and the checkpoint template by ``jax.eval_shape`` (load 7.3 at
  start, 11.5 at end): 473 s wall / 107 s CPU, 2.15 GB. CPU s by stage: data 0.7,
  forward_trained 3.7, probe_trained 10.8, geometry 6.9, decoders 36.8, lookups 2.4,
  forward_untrained 2.7, baselines 10.4, decoders_untrained 5.7, curve 26.8 (1.2 s per
  intermediate checkpoint, ~0.8 s of it the geometry comparison). Every last-checkpoint number
  of ``probe.json`` is unchanged, bit for bit.
* plus the memory changes (float32 concatenation chunks, the final LayerNorm's activations freed
  before the decoders, row gathering in smaller chunks; measured stage by stage with
  ``--checkpoints last``): peak RSS through the decoders 1.97 GB (2.14 GB before), 2.09 GB at the
  untrained baselines (six hooks of step-0 activations, 0.9 GB, beside what the process keeps).

* after the merge (2026-12-06 12:57 UTC; every change above; load 2.4-3.3 with a niced test
  suite beside it):
  84 s wall / 109 s CPU, peak RSS 1.96 GB. CPU s by stage: data 0.8, forward_trained 3.9,
  probe_trained 8.4, geometry 6.0, blind 0.03, decoders 33.6, lookups 2.9, forward_untrained 3.8,
  baselines 10.2, decoders_untrained 7.7, curve 31.5.

* ProbeConfig session (2026-12-06 15:30 UTC, quiet machine, nothing beside it; deb8f18 and this
  version run minutes apart, twice each): deb8f18 87.6 / 86.2 s wall, 118 / 117 s CPU, 2.01 /
  1.97 GB; after the session's changes (four runs, 16:00 UTC) 69.3-72.7 s wall, 106-112 s CPU,
  peak RSS 1.92-2.14 GB (at most 1.99 GiB). What changed: the paired statistic by ratios and
  selection (no logarithm per pair; the median's middle values, and the weighted median, found
  between two brackets read off a strided subsample instead of by a partition or sort of all
  4.5M pair ratios), the comparison's predicted and null clouds on two threads, the hooks'
  probes and baselines on two threads (the concatenation alone, after the others), freed memory
  handed back between stages, the decoders' rows standardised in place. CPU s by stage (one run):
  data 0.8, forward_trained 5.4, probe_trained 8.0, geometry 5.7, decoders 35.1, lookups 2.3,
  forward_untrained 3.4, baselines 11.3, decoders_untrained 7.3, curve 27.2. Every probe.json
  number is unchanged except ``scale_factor`` (at most 1 ulp: a ratio instead of a difference of
  logarithms); every probe_points.npz array is identical.

Not met: the target of 20 s (peak memory: 1.92-2.14 GB, at most 1.99 GiB). What remains is the statistics
themselves: 44 geometry comparisons (7 hooks, 10 decoder rows, 3 lookups, 24 curve checkpoints; a
3,000-point pair subsample, ~4.5M pairs per cloud, 0.4-0.7 s wall each), the kNN decoder on the
384-wide concatenation (20,000 x 30,000 points, ~5 s), three MLP fits (~1.3 s each plus ~1.1 s of
compilation per input width), the probes on 590,490 points per hook. Cheaper defaults (a smaller
pair subsample or decoder test set) would change numbers that docs/results.md publishes.
"""

from __future__ import annotations

import argparse
import dataclasses
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

    from compmech.probing.config import ProbeConfig
    from compmech.probing.run import probe_run

    tmp = None if args.keep else tempfile.mkdtemp(prefix="bench_probe_")
    work = copy_run(run_dir, Path(args.keep or tmp) / run_dir.name)
    checkpoints = args.checkpoints if args.checkpoints in ("all", "last") else int(args.checkpoints)
    print(f"# probe benchmark: {run_dir} (copy in {work}), {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at start")
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        config = ProbeConfig(checkpoints=checkpoints)
        if args.curve_words is not None:
            config = dataclasses.replace(
                config, curve_words=None if args.curve_words == "all" else int(args.curve_words))
        report = probe_run(work, config, force=True, progress=False)
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
