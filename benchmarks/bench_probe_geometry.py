"""Benchmark: what the scale-by-scale geometry adds to `compmech probe`.

Stages timed, on the sizes the probe uses for Mess3 (synthetic inputs of the same shapes, so no
trained run is needed): one ``compare_geometry`` of 30,000 held-out points (done once per probed
checkpoint and per hook at the last checkpoint); and each decoder
(linear, kNN, 2-layer MLP) trained on 20,000 points of 64 and of 320 features (last layer and the
concatenation of 5 residual hooks of the paper's model) and predicting 30,000 points. Features are
an injective nonlinear image of Blackwell beliefs plus noise columns.

Usage:
    python benchmarks/bench_probe_geometry.py [--decoders linear knn mlp]

Re-measure on a quiet machine: the figures on the results page (docs/results.md) were taken on 2
shared cores under load.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoders", nargs="+", default=["linear", "knn", "mlp"])
    parser.add_argument("--test-points", type=int, default=30_000)
    parser.add_argument("--train-points", type=int, default=20_000)
    args = parser.parse_args()

    import compmech
    from compmech.probing import decoders as dec

    hmm = compmech.get_process("mess3")

    n = args.train_points + args.test_points
    beliefs = compmech.blackwell_beliefs(hmm, n, seed=0)
    noise = np.random.default_rng(1).normal(size=(n, 2)) @ compmech.geometry.tangent_basis(3).T
    t0 = time.perf_counter()
    c = compmech.compare_geometry(beliefs[:args.test_points],
                                  beliefs[:args.test_points] + 0.01 * noise[:args.test_points])
    print(f"compare_geometry, {args.test_points:,} points: {time.perf_counter() - t0:.2f} s "
          f"(paired resolution {c.resolution:.3g}, null {c.null_resolution:.3g})")

    rng = np.random.default_rng(2)
    for width in (64, 320):
        x = beliefs @ compmech.geometry.tangent_basis(3)
        W = rng.normal(size=(2, width))
        feats = (np.tanh(3.0 * (x - x.mean(0)) @ W) + 0.01 * rng.normal(size=(n, width)))[:, None]
        train = np.arange(args.test_points, n)
        test = np.arange(args.test_points)
        for kind in args.decoders:
            t0 = time.perf_counter()
            fit = dec.decode(kind, feats, beliefs, train, test, 1, seed=0)
            print(f"decoder {kind:<6} width {width:>3}: {time.perf_counter() - t0:6.2f} s "
                  f"(held-out MSE {fit.mse:.2e})")


if __name__ == "__main__":
    main()
