"""Training-step throughput of the paper's Mess3 model (data sampled inside the step).

Prints, for each batch size, the best-of-N time per optimiser step (data generation included),
tokens/s (``batch * n_ctx`` predicted tokens per step) and the FLOP utilisation against a measured
fp32 matmul peak of this machine (train FLOPs = 3 x forward matmul FLOPs).

    python benchmarks/bench_train.py [--batches 64 256 1024] [--steps-per-call 50] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import compmech
from transformer import ModelConfig, TrainConfig, init_params
from transformer.step import TrainState, build_train_chunk


def matmul_peak_gflops(n: int = 1024, repeats: int = 10) -> float:
    """Best fp32 GFLOP/s of an n x n matmul (the machine's practical peak)."""
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = min(_time(lambda: f(a).block_until_ready()) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def seconds_per_step(model, batch: int, steps_per_call: int, calls: int, repeats: int) -> float:
    """Best seconds per optimiser step of ``model`` (any registered architecture's config) over
    ``repeats`` runs of ``calls`` compiled chunks, Mess3 data sampled inside the step."""
    config = TrainConfig(model=model, batch_size=batch, steps_per_call=steps_per_call,
                         steps=10**9)
    hmm = compmech.get_process("mess3")
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("batch",))
    chunk, init_opt_state = build_train_chunk(config, hmm, mesh, None)
    params = init_params(config.model, 0)
    state = TrainState(jnp.zeros((), jnp.int32), params, init_opt_state(params),
                       jnp.zeros((), jnp.int32))
    stop = jnp.asarray(10**9, jnp.int32)
    total = jnp.asarray(10**6, jnp.int32)
    state, _ = chunk(state, stop, total)  # compile
    int(state.step)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            state, losses = chunk(state, stop, total)
            int(state.diverged_at)  # the per-call sync the training loop does
        best = min(best, (time.perf_counter() - t0) / (calls * steps_per_call))
    assert np.isfinite(np.asarray(losses)).all()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--steps-per-call", type=int, default=50)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg = ModelConfig()
    peak = matmul_peak_gflops()
    print(f"devices: {jax.devices()}  cores: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}")
    print(f"fp32 matmul peak (1024^2, best of 10): {peak:.1f} GFLOP/s")
    print(f"paper model: {cfg.num_params:,} params, {cfg.flops_per_token():,.0f} fwd FLOPs/token")
    print(f"{'batch':>6} {'ms/step':>9} {'tokens/s':>11} {'GFLOP/s':>9} {'util':>6}")
    for batch in args.batches:
        # keep the work per repeat roughly constant
        calls = max(1, args.calls * 256 // batch) if batch < 256 else args.calls
        per_step = seconds_per_step(ModelConfig(), batch, args.steps_per_call, calls, args.repeats)
        tokens = batch * cfg.n_ctx / per_step
        gflops = 3 * cfg.flops_per_token() * tokens / 1e9
        print(f"{batch:>6} {per_step * 1e3:>9.2f} {tokens:>11,.0f} {gflops:>9.1f} "
              f"{gflops / peak:>6.0%}")


if __name__ == "__main__":
    main()
