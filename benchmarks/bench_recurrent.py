"""Training-step throughput of every architecture at the paper's size (data sampled inside the step).

Prints, per architecture (the paper's transformer; LSTM, GRU and tanh RNN of 4 layers of width 64),
the parameter count, the best-of-N time per optimiser step at one batch size (default 1024, data
generation included) and tokens/s (``batch * n_ctx`` predicted tokens per step), on Mess3 with
``n_ctx`` 8 (the architectures grid) unless told otherwise. The step is the training loop's own
compiled chunk (:func:`transformer.step.build_train_chunk`), so the figures are what
``compmech train`` gets.

    python benchmarks/bench_recurrent.py [--batch 1024] [--n-ctx 8] [--archs transformer lstm gru rnn]
"""

from __future__ import annotations

import argparse
import os

import jax
from bench_train import seconds_per_step  # the same timed chunk as the transformer's benchmark

from transformer import ModelConfig, recurrent_config


def model_for(arch: str, n_ctx: int):
    """The grid's model of ``arch`` (Mess3 vocabulary)."""
    if arch == "transformer":
        return ModelConfig(n_ctx=n_ctx, d_vocab=3)
    return recurrent_config(arch, n_ctx=n_ctx, d_vocab=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["transformer", "lstm", "gru", "rnn"])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--n-ctx", type=int, default=8)
    parser.add_argument("--steps-per-call", type=int, default=10)
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"devices: {jax.devices()}  cores: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}")
    print(f"batch {args.batch}, n_ctx {args.n_ctx}, Mess3; best of {args.repeats} x "
          f"{args.calls} calls of {args.steps_per_call} steps")
    print(f"{'arch':>12} {'params':>9} {'ms/step':>9} {'tokens/s':>11}")
    for arch in args.archs:
        model = model_for(arch, args.n_ctx)
        per_step = seconds_per_step(model, args.batch, args.steps_per_call, args.calls,
                                    args.repeats)
        tokens = args.batch * args.n_ctx / per_step
        print(f"{arch:>12} {model.num_params:>9,} {per_step * 1e3:>9.2f} {tokens:>11,.0f}")


if __name__ == "__main__":
    main()
