"""Seed ensembles: one vmapped program of N members against N single runs.

For the paper's Mess3 model (or ``--tiny``), times the compiled training chunk of a single run
(batch ``B``) and of an ensemble of ``N`` members (batch ``B`` each, :func:`transformer.train_ensemble`'s
chunk), both on the same devices and with data sampled inside the step, and prints the best-of-R
seconds per optimiser step, tokens/s per member and in all, and the ratio

    cost ratio = t_ensemble / t_single    (target: <= 1.1 x N, i.e. no overhead from batching)

    python benchmarks/bench_ensemble.py [--members 4] [--batch 256] [--steps-per-call 20]
                                        [--calls 3] [--repeats 3] [--tiny]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import compmech
from transformer import ModelConfig, TrainConfig, init_params
from transformer.step import (
    TrainState,
    build_train_chunk,
    data_key,
    init_key,
    member_sharding,
    stack_processes,
)


def _state(config: TrainConfig, init_opt_state, seed: int) -> TrainState:
    params = init_params(config.model, init_key(seed))
    return TrainState(jnp.zeros((), jnp.int32), params, init_opt_state(params),
                      jnp.zeros((), jnp.int32))


def seconds_per_step(config: TrainConfig, members: int, calls: int, repeats: int) -> float:
    """Best wall seconds per optimiser step (all members together when ``members > 0``)."""
    hmm = compmech.get_process("mess3")
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("batch",))
    chunk, init_opt_state = build_train_chunk(config, hmm, mesh, None, members=members)
    stop = jnp.asarray(10**9, jnp.int32)
    total = jnp.asarray(10**6, jnp.int32)
    if members:
        states = [_state(config, init_opt_state, s) for s in range(members)]
        state = jax.device_put(jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states),
                               member_sharding(mesh))
        keys = jnp.stack([data_key(s) for s in range(members)])
        processes = stack_processes([hmm] * members)
        call = lambda st: chunk(st, keys, processes, stop, total)  # noqa: E731
    else:
        state = _state(config, init_opt_state, 0)
        call = lambda st: chunk(st, stop, total)  # noqa: E731
    state, _ = call(state)  # compile
    np.asarray(state.diverged_at)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            state, _ = call(state)
            np.asarray(state.diverged_at)  # the per-call sync of the training loop
        best = min(best, (time.perf_counter() - t0) / (calls * config.steps_per_call))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--batch", type=int, default=256, help="sequences per step per member")
    parser.add_argument("--steps-per-call", type=int, default=20)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="a tiny model (a quick check)")
    args = parser.parse_args(argv)
    model = (ModelConfig(n_layers=1, d_model=16, d_head=8, d_mlp=32, n_ctx=5) if args.tiny
             else ModelConfig())
    config = TrainConfig(model=model, batch_size=args.batch, steps_per_call=args.steps_per_call,
                         steps=10**9)
    n = args.members
    single = seconds_per_step(config, 0, args.calls, args.repeats)
    ensemble = seconds_per_step(config, n, args.calls, args.repeats)
    tokens = config.tokens_per_step
    print(f"device {jax.devices()[0].platform} ({jax.devices()[0].device_kind}), model "
          f"{'tiny' if args.tiny else 'paper Mess3'}, batch {args.batch} per member, "
          f"{args.steps_per_call} steps per call")
    print(f"{'':>22} {'s/step':>10} {'tokens/s in all':>16} {'tokens/s per member':>20}")
    print(f"{'single run':>22} {single:>10.4g} {tokens / single:>16,.0f} {tokens / single:>20,.0f}")
    print(f"{f'ensemble of {n}':>22} {ensemble:>10.4g} {n * tokens / ensemble:>16,.0f} "
          f"{tokens / ensemble:>20,.0f}")
    ratio = ensemble / single
    print(f"cost ratio t_ensemble / t_single = {ratio:.2f} (N = {n}; target <= {1.1 * n:.1f}); "
          f"per member {ratio / n:.2f} x a single run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
