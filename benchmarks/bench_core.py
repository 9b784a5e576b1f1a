"""Throughput of the HMM core: sampling with beliefs, filtering, and dataset generation memory.

Run: ``python benchmarks/bench_core.py``. Prints best-of-N wall times after compilation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import compmech


def best_ms(fn, repeats: int = 15) -> float:
    fn()  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def generate_peak_memory(num_tokens: int) -> tuple[float, float]:
    """Peak RSS (MiB) and wall time (s) of `compmech generate` for `num_tokens` Mess3 tokens."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "d.npz")
        code = (
            "import resource, sys, time; from compmech.cli import main; t = time.perf_counter();"
            f"rc = main(['generate', 'mess3', '-n', '{num_tokens // 100}', '-l', '100', '--seed', '0',"
            f" '--out', {out!r}, '--quiet']); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - t)"
        )
        line = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        rss, wall = line.stdout.split()[-2:]
        return float(rss), float(wall)


def main() -> None:
    hmm = compmech.get_process("mess3")
    print(f"Mess3(x=0.05, alpha=0.85); {os.cpu_count()} CPU cores; float64; best of 15 after compilation")
    for n, length in ((10_000, 100), (100_000, 10)):
        ms = best_ms(lambda n=n, length=length: compmech.sample(hmm, n, length, seed=0))
        print(f"sample 1M tokens with aligned beliefs ({n} x {length}): {ms:7.1f} ms "
              f"({n * length / ms / 1e3:.0f} M tokens/s)")
    tokens = compmech.sample(hmm, 10_000, 100, seed=1).tokens
    ms = best_ms(lambda: compmech.filter_beliefs(hmm, tokens))
    print(f"filter_beliefs on (10^4, 100) tokens:           {ms:7.1f} ms")
    ms = best_ms(lambda: compmech.log_probability(hmm, tokens))
    print(f"log_probability on (10^4, 100) tokens:          {ms:7.1f} ms")
    long = compmech.sample(hmm, 1, 1_000_000, seed=2).tokens
    ms = best_ms(lambda: compmech.filter_beliefs(hmm, long), repeats=3)
    print(f"filter_beliefs on one 10^6-token word:          {ms:7.1f} ms")
    ms = best_ms(lambda: compmech.enumerate_words(hmm, 11), repeats=5)
    print(f"enumerate_words(mess3, 11) (177,147 words):     {ms:7.1f} ms")
    if "--no-generate" not in sys.argv:
        rss, wall = generate_peak_memory(100_000_000)
        print(f"compmech generate, 10^8 tokens with beliefs:    peak RSS {rss:.0f} MiB, {wall:.1f} s")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
