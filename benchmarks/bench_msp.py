"""Benchmark: mixed-state trees and graphs, Blackwell sampling, information measures, geometry.

Run: ``python benchmarks/bench_msp.py [--repeats 5]``. Prints best-of-N wall times (the machine
may be shared: the best repeat is the least disturbed one) and the peak of numpy allocations
(``tracemalloc``) for the MSP tree. ``compmech info mess3 --json`` is timed end to end in a fresh
process (interpreter and JAX start-up included).

Targets (issue 3 / PEERS.md): Mess3(0.05, 0.85) tree to depth 10 (88,573 nodes) <= 25 ms (prior art
2.5 s and 182 s); depth 12 <= 0.3 s with bounded memory; 10^6 Blackwell beliefs <= 1 s;
``compmech info mess3 --json`` <= 10 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import tracemalloc

import compmech
from compmech.asymptotics import excess_entropy
from compmech.blackwell import blackwell_sample
from compmech.dimensions import fractal_dimensions
from compmech.geometry import lyapunov_spectrum
from compmech.information import optimal_cross_entropy_nats
from compmech.msp import iter_tree_levels


def best_seconds(fn, repeats: int) -> float:
    fn()  # warm caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def row(what: str, seconds: float, target: str = "", extra: str = "") -> None:
    value = f"{seconds * 1e3:9.1f} ms" if seconds < 1 else f"{seconds:9.2f} s "
    print(f"| {what:<58} | {value} | {target:<8} | {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    r = args.repeats
    mess3 = compmech.get_process("mess3")

    print("| work | best time | target | notes")
    print("|---|---|---|---")
    for depth, target in ((10, "25 ms"), (12, "0.3 s")):
        t = best_seconds(lambda d=depth: compmech.mixed_state_tree(mess3, d), r)
        n = compmech.mixed_state_tree(mess3, depth).num_nodes
        mem = peak_mib(lambda d=depth: compmech.mixed_state_tree(mess3, d))
        row(f"MSP tree Mess3(0.05, 0.85) depth {depth} ({n:,} nodes)", t, target,
            f"peak numpy memory {mem:.0f} MiB (whole tree kept)")
    stream_mem = peak_mib(lambda: [None for _ in iter_tree_levels(mess3, 12)])
    row("MSP tree Mess3 depth 12, streamed level by level", best_seconds(
        lambda: [None for _ in iter_tree_levels(mess3, 12)], r), "",
        f"peak numpy memory {stream_mem:.0f} MiB (one level at a time)")
    for cap in (10_000, 100_000):
        t = best_seconds(lambda c=cap: compmech.mixed_state_presentation(mess3, max_states=c), r)
        row(f"MSP graph Mess3, cap {cap:,} states (truncated)", t)
    rrxor = compmech.get_process("rrxor")
    row("MSP graph RRXOR (36 states, closes)", best_seconds(
        lambda: compmech.mixed_state_presentation(rrxor), r))
    row("Blackwell beliefs Mess3, 10^6 points (1000 chains, burn-in 200)",
        best_seconds(lambda: blackwell_sample(mess3, 1_000_000, 0), r), "1 s")
    row("optimal_cross_entropy_nats(Mess3, n_ctx=10)",
        best_seconds(lambda: optimal_cross_entropy_nats(mess3, 10), r))
    rate = compmech.entropy_rate(mess3)
    row("entropy_rate Mess3 (limit of the exact h(L), levels to L = 12)",
        best_seconds(lambda: compmech.entropy_rate(mess3), r), "",
        f"{rate.method}, {rate.bits:.7f} bits <= h({rate.depth}) = {rate.upper_bound_bits:.7f}")
    row("excess entropy Mess3 (tol 1e-6 bits, given h_mu)",
        best_seconds(lambda: excess_entropy(mess3, rate=rate), r), "",
        f"depth {excess_entropy(mess3, rate=rate).depth}")
    points = blackwell_sample(mess3, 200_000, 1).points
    row("fractal_dimensions of 2*10^5 Mess3 Blackwell beliefs",
        best_seconds(lambda: fractal_dimensions(points), r))
    row("Lyapunov spectrum Mess3 (100 chains x 1000 tokens, incl. sampling)",
        best_seconds(lambda: lyapunov_spectrum(mess3, num_steps=1000, num_chains=100), r))

    def cli() -> None:
        code = "from compmech.cli import main; raise SystemExit(main(['info', 'mess3', '--json']))"
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)

    row("`compmech info mess3 --json`, fresh process, end to end",
        best_seconds(cli, max(1, min(r, 3))), "10 s")


if __name__ == "__main__":
    main()
