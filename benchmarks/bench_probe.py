"""Benchmark: the full probe of all 3^10 Mess3 inputs on the paper's model.

Stages timed: the inputs and their beliefs (59,049 words x 10 positions = 590,490 points); the forward
pass of the trained network (last block's output); the probe (OLS with intercept on the 20% training
fold, scored on the 80% test folds), its 5-fold spread and the shuffle control; the untrained network's
forward pass and probe; the one-hot and random-feature baselines. Peak memory is the process's
maximum resident set size (``resource.getrusage``), which includes JAX's own footprint.

Without ``--run`` the "trained" network is a freshly initialised one (the cost does not depend on the
weights); with ``--run RUN_DIR`` the run's last checkpoint and its initialisation are used.

Usage:
    python benchmarks/bench_probe.py [--run runs/mess3] [--repeats 3] [--batch-sizes 256 512 8192]

Target (PEERS.md): <= 15 s and <= 2 GB on 2 CPU cores (prior art: 130-160 s, ~8 GB).
"""

from __future__ import annotations

import argparse
import os
import resource
import time


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def full_probe(run_like, params, params0, seed: int = 0) -> dict[str, float]:
    """One full evaluation; returns the stage timings (s) and the headline numbers."""
    import transformer
    from compmech.probing import run as probing
    from compmech.probing.crossval import cross_validated_probe
    from compmech.probing.inputs import onehot_features, random_features

    hook = transformer.last_hook(run_like.model_config)
    t = {}
    t0 = time.perf_counter()
    data = probing.probe_data(run_like, seed=seed)
    t["inputs+beliefs"] = time.perf_counter() - t0

    s = time.perf_counter()
    acts = probing.collect(run_like, params, data, [hook])[hook]
    t["forward (trained)"] = time.perf_counter() - s
    s = time.perf_counter()
    res = cross_validated_probe(acts, data.beliefs, data.folds, spread=True, shuffle=True,
                                shuffle_seed=seed)
    t["probe + 5-fold spread + shuffle"] = time.perf_counter() - s
    del acts

    s = time.perf_counter()
    acts0 = probing.collect(run_like, params0, data, [hook])[hook]
    t["forward (untrained)"] = time.perf_counter() - s
    s = time.perf_counter()
    untrained = cross_validated_probe(acts0, data.beliefs, data.folds, spread=False, shuffle=False)
    del acts0
    onehot = cross_validated_probe(onehot_features(data.tokens, run_like.model_config.d_vocab),
                                   data.beliefs, data.folds, spread=False, shuffle=False)
    rand = random_features(data.tokens.shape, run_like.model_config.d_model, seed=seed)
    random = cross_validated_probe(rand, data.beliefs, data.folds, spread=False, shuffle=False)
    del rand
    t["baselines (untrained probe, one-hot, random)"] = time.perf_counter() - s
    t["TOTAL"] = time.perf_counter() - t0
    numbers = {"points": data.tokens.size, "mse": res.scores.mse,
               "shuffle": res.shuffle_scores.mse, "untrained": untrained.scores.mse,
               "onehot": onehot.scores.mse, "random": random.scores.mse}
    return t, numbers


class _FreshRun:
    """A stand-in for :class:`transformer.Run`: the paper's model, freshly initialised."""

    def __init__(self):
        import compmech
        import transformer

        self.model_config = transformer.ModelConfig()
        self.hmm = compmech.get_process("mess3")
        self.bos_token = None

    def model_inputs(self, words):
        return words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained run directory (default: a fresh paper model)")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats (after a warm-up)")
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[],
                        help="also time the forward pass alone at these batch sizes")
    args = parser.parse_args()

    import transformer
    from compmech.probing import run as probing

    if args.run:
        run = transformer.load_run(args.run)
        params, params0 = run.load_params(), run.load_params(0)
    else:
        run = _FreshRun()
        params = transformer.init_params(run.model_config, 1)
        params0 = transformer.init_params(run.model_config, 0)

    load = os.getloadavg()[0]
    print(f"# probe benchmark: Mess3, all 3^10 inputs, {os.cpu_count()} CPUs, "
          f"load average {load:.1f} at start, forward batch {probing.FORWARD_BATCH}")
    full_probe(run, params, params0)  # warm-up: compilation
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        timings, numbers = full_probe(run, params, params0)
        for k, v in timings.items():
            best[k] = min(best.get(k, float("inf")), v)
    width = max(len(k) for k in best)
    print(f"{'stage':<{width}}  best of {args.repeats} (s)")
    for k, v in best.items():
        print(f"{k:<{width}}  {v:8.2f}")
    print(f"peak RSS: {peak_rss_gb():.2f} GB")
    print(f"points: {numbers['points']:,}; held-out MSE {numbers['mse']:.3g}, shuffle "
          f"{numbers['shuffle']:.3g}, untrained {numbers['untrained']:.3g}, one-hot "
          f"{numbers['onehot']:.3g}, random {numbers['random']:.3g}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")

    if args.batch_sizes:
        import compmech

        words = compmech.all_words(3, 10)
        hook = transformer.last_hook(run.model_config)
        print("forward pass alone (59,049 x 10 tokens):")
        for bs in args.batch_sizes:
            transformer.collect_activations(params, run.model_config, words[:bs], [hook], bs)
            s = time.perf_counter()
            transformer.collect_activations(params, run.model_config, words, [hook], bs)
            print(f"  batch {bs:>6}: {time.perf_counter() - s:6.2f} s")


if __name__ == "__main__":
    main()
