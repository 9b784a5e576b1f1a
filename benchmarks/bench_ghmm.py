"""Sampling and filtering speed of generalized HMMs next to the classical kernels, same sizes.

Run: ``python benchmarks/bench_ghmm.py [--repeats N]``. For each process (Mess3, the classical
reference; tom_quantum and post_quantum, normalised by ``eta T[x] r``; fanizza, a GHMM whose
``r = 1`` takes the classical path) it prints the min / median / max wall time after compilation of

* ``compmech.sample`` of 10^6 tokens with aligned beliefs (10^4 x 100, float64),
* ``compmech.filter_beliefs`` on (10^4, 100) tokens (float64),
* ``compmech.filter_beliefs`` on one 10^6-token word,
* the trainer's traceable ``sample_jax`` (jitted, float32) on a 1024 x 65 batch,

and the ratio of each median to Mess3's and to a classical ``random_hmm`` of the same size (same
``S`` and ``V``, so the ratio isolates the GHMM normalisation from the cost of a bigger model).
The target is GHMM within 2x of classical. Numbers on a shared machine vary; the spread
(min..max) is printed with each figure.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import compmech
from compmech.hmm import normaliser
from compmech.inference import sample_jax

PROCESSES = ("mess3", "tom_quantum", "post_quantum", "fanizza")


def size_matched(process):
    """A classical HMM with the process's number of states and tokens."""
    return compmech.get_process("random_hmm", num_states=process.num_states,
                                vocab_size=process.vocab_size, seed=0)


def timings_ms(fn, repeats: int) -> np.ndarray:
    """Wall times (ms) of ``repeats`` calls after one warm-up (compilation) call."""
    jax.block_until_ready(fn())
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        out.append(1e3 * (time.perf_counter() - start))
    return np.array(out)


def cases(process, repeats: int) -> dict[str, np.ndarray]:
    tokens = compmech.sample(process, 10_000, 100, seed=1).tokens
    long = compmech.sample(process, 1, 1_000_000, seed=2).tokens
    r = normaliser(process)
    f32 = jnp.float32
    T32 = jnp.asarray(process.transition_matrices, f32)
    eta32 = jnp.asarray(process.initial_distribution, f32)
    r32 = None if r is None else jnp.asarray(r, f32)
    sampler = jax.jit(lambda key: sample_jax(T32, eta32, key, 1024, 65, right_eigenvector=r32))
    keys = iter(jax.random.split(jax.random.key(0), repeats + 1))
    return {
        "sample 10^6 tokens + beliefs (10^4 x 100)": timings_ms(
            lambda: compmech.sample(process, 10_000, 100, seed=0), repeats),
        "filter_beliefs (10^4, 100)": timings_ms(
            lambda: compmech.filter_beliefs(process, tokens), repeats),
        "filter_beliefs one 10^6-token word": timings_ms(
            lambda: compmech.filter_beliefs(process, long), max(3, repeats // 3)),
        "sample_jax float32 jitted (1024 x 65)": timings_ms(lambda: sampler(next(keys)), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPU cores, load average {load:.1f}; ms after compilation, "
          f"median [min..max] of {args.repeats}")
    results, matched = {}, {}
    for name in PROCESSES:
        process = compmech.get_process(name)
        results[name] = cases(process, args.repeats)
        if name != "mess3":
            matched[name] = cases(size_matched(process), args.repeats)
    reference = results["mess3"]
    for case in reference:
        print(f"\n{case}")
        for name in PROCESSES:
            t = results[name][case]
            line = (f"  {name:<13} {np.median(t):8.1f} [{t.min():7.1f}..{t.max():7.1f}]  "
                    f"x{np.median(t) / np.median(reference[case]):.2f} of mess3")
            if name in matched:
                m = matched[name][case]
                line += (f", x{np.median(t) / np.median(m):.2f} of a classical HMM of its size "
                         f"({np.median(m):.1f} [{m.min():.1f}..{m.max():.1f}])")
            print(line)


if __name__ == "__main__":
    main()
