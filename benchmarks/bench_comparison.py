"""Benchmark: compare_geometry and the equivalent history on the Mess3 probe's number of points.

compare_geometry (paired resolution, null model, measure diagnostics, dimensions) on 590,490 points
(the 3^10 words x 10 positions of the probe);

The true cloud is 590,490 Blackwell beliefs of Mess3(0.05, 0.85); the predicted cloud adds isotropic
Gaussian noise of 0.02 per in-plane axis (noise RMS 0.028, about the probe's). Prints the best-of-N
wall time (the machine may be shared: the best repeat is the least disturbed one) and CPU time
(on a loaded machine wall time exceeds it by the other processes' share), the peak of
Python/numpy allocations during one call (``tracemalloc``, the extra memory beyond the inputs), the
growth of the process's peak resident set, and the headline numbers.

Usage:
    python benchmarks/bench_comparison.py [--points 590490] [--sigma 0.02] [--repeats 3]

Target: <= 5 s and <= 1 GB extra memory on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

import compmech
from compmech.geometry import tangent_basis


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=590_490)
    parser.add_argument("--sigma", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    true = compmech.blackwell_beliefs(compmech.get_process("mess3"), args.points, seed=0)
    noise = np.random.default_rng(1).normal(size=(args.points, 2)) * args.sigma
    predicted = true + noise @ tangent_basis(3).T
    compmech.compare_geometry(true[:1000], predicted[:1000])  # import scipy, warm caches

    rss_before = peak_rss_mib()
    times, cpu = [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = compmech.compare_geometry(true, predicted)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    rss_growth = peak_rss_mib() - rss_before

    tracemalloc.start()
    compmech.compare_geometry(true, predicted)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"compare_geometry, {args.points:,} points, sigma {args.sigma} per axis")
    print(f"  wall time: best {min(times):.2f} s, median {np.median(times):.2f} s of {args.repeats}; "
          f"CPU time (all threads) best {min(cpu):.2f} s")
    print(f"  extra memory: tracemalloc peak {peak / 2**20:.0f} MiB; "
          f"peak RSS grew by {rss_growth:.0f} MiB")
    print(f"  {result.scales.shape[0]} scales {result.scales[0]:.3g} .. {result.scales[-1]:.3g}; "
          f"noise RMS {result.noise_rms:.4f}; paired resolution {result.resolution:.4f} "
          f"(null model {result.null_resolution:.4f}); measure-comparison resolution "
          f"{result.distribution_resolution:.4f}")

    # the equivalent history of the same kind of error on the probe's own points: every word of
    # length 10, all positions (the lookups are built once over all points)
    hmm = compmech.get_process("mess3")
    words = compmech.all_words(3, 10)
    beliefs = compmech.filter_beliefs(hmm, words).beliefs
    noisy = beliefs + (np.random.default_rng(2).normal(size=words.shape + (2,)) * args.sigma
                       ) @ tangent_basis(3).T
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        history = compmech.equivalent_history(hmm, words, noisy)
        times.append(time.perf_counter() - start)
    print(f"equivalent_history, {words.size:,} points (Markov-k lookups k = 0..10 built once): "
          f"best {min(times):.2f} s; sigma {args.sigma} per axis is {history.tokens:.2f} tokens")


if __name__ == "__main__":
    main()
