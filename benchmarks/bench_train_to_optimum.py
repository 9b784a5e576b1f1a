"""Time to the optimum: train the paper's Mess3 model from scratch with the default recipe under a
wall-clock budget, then report when the exact eval loss came within 1e-3 and 2e-4 nats of the
optimum.

The run evaluates only at step 0 and at the end (so evaluation barely costs training time); the
crossing times come from evaluating the saved log-spaced checkpoints afterwards (exactly, over all
3^10 contexts) against the wall time recorded for each checkpoint in metrics.jsonl.

    python benchmarks/bench_train_to_optimum.py --minutes 2 5 [--out /tmp/bench_runs]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import transformer
from transformer import TrainConfig
from transformer.setup import optimal_loss_nats
from transformer.step import build_evaluator

THRESHOLDS = (1e-3, 2e-4)


def crossing_times(run_dir: Path) -> tuple[list[tuple[int, float, float]], dict[float, float | None]]:
    """``[(step, wall_time, gap)]`` for every checkpoint, and the first wall time below each
    threshold."""
    run = transformer.load_run(run_dir)
    cfg = run.config
    eval_set = transformer.build_eval_set(run.hmm, cfg.model.n_ctx, cfg.bos)
    evaluate = build_evaluator(cfg.model, eval_set)
    optimum = optimal_loss_nats(run.hmm, cfg.model, cfg.bos, eval_set).mean()
    wall = {m["step"]: m["wall_time"] for m in run.metrics}
    rows = []
    last = run.checkpoint_steps[-1]
    for step in run.checkpoint_steps:
        if step in wall and step >= 0.25 * last:
            rows.append((step, wall[step], float(evaluate(run.load_params(step)).loss.mean() - optimum)))
    first = {t: next((w for _, w, g in rows if g <= t), None) for t in THRESHOLDS}
    return rows, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[2.0, 5.0])
    parser.add_argument("--out", default="/tmp/compmech_bench_runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}")
    for minutes in args.minutes:
        out = Path(args.out) / f"mess3_{minutes:g}min"
        config = TrainConfig(minutes=minutes, eval_every=10**7, seed=args.seed,
                             checkpoints_per_decade=12)
        t0 = time.perf_counter()
        result = transformer.train(config, out, force=True, progress=False)
        elapsed = time.perf_counter() - t0
        rows, first = crossing_times(out)
        ev = result.final_eval
        print(f"\nbudget {minutes:g} min: {result.step} steps of batch {config.batch_size} "
              f"({result.tokens_seen:,} tokens) in {elapsed:.1f} s wall "
              f"({result.tokens_per_second:,.0f} tokens/s while training)")
        print(f"  final exact eval loss {ev['eval_loss_mean']:.6f}, optimum "
              f"{ev['optimal_loss_mean']:.6f}, gap {ev['loss_gap']:.2e} nats")
        for t in THRESHOLDS:
            when = first[t]
            print(f"  gap <= {t:.0e} first at checkpoint wall time: "
                  + (f"{when:.1f} s" if when is not None else "not reached"))
        print("  checkpoints (step, wall s, gap): "
              + ", ".join(f"({s}, {w:.0f}, {g:.1e})" for s, w, g in rows[-8:]))


if __name__ == "__main__":
    main()
