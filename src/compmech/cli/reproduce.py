"""``compmech reproduce mess3|rrxor|z1r|tom_quantum --out DIR``: trains, probes and draws with the
published settings and prints a summary table (:mod:`compmech.experiments.reproduce`);
``compmech reproduce bottleneck`` and ``compmech reproduce architectures`` run those experiments.
Existing outputs are never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse

from compmech.cli.common import UsageError, parse_checkpoints, parse_minutes, parse_positive_int, parse_seeds

EXPERIMENTS = ("mess3", "rrxor", "z1r", "tom_quantum", "bottleneck", "architectures")


def register(subparsers) -> None:
    r = subparsers.add_parser(
        "reproduce", help="train, probe and draw a published experiment",
        description="Reproduce Shai et al. (2024): train the paper's model on the process (our "
        "optimiser, a wall-clock budget), probe it with the paper's protocol, draw the figures, and "
        "print the results beside the paper's. `bottleneck` trains Mess3 models with the residual "
        "stream narrowed to widths 1..64 (--minutes per width) and writes a report; "
        "`architectures` trains a transformer, LSTM, GRU and RNN on Mess3 and the three quantum "
        "processes (--minutes per model, default 1) and probes each with both protocols; "
        "rerunning either command resumes it.")
    r.add_argument("experiment", choices=EXPERIMENTS, help="which experiment")
    r.add_argument("--out", required=True, metavar="DIR", help="run directory to create")
    r.add_argument("--minutes", type=parse_minutes, default=None,
                   help="training wall-clock budget (default 2; per width for bottleneck; per "
                   "model for architectures, default 1)")
    r.add_argument("--steps", type=parse_positive_int, default=None,
                   help="train exactly this many optimiser steps instead of a wall-clock budget "
                   "(the same run on any machine and under any load; mess3, rrxor, z1r, "
                   "tom_quantum)")
    r.add_argument("--checkpoints", type=parse_checkpoints, default=None, metavar="all|last|N",
                   help="checkpoints probed for the curve over training (default 12 log-spaced)")
    r.add_argument("--seed", type=int, default=0, help="seed of training and probe")
    r.add_argument("--seeds", type=parse_seeds, default=None, metavar="N|A-B|A,B,..",
                   help="a seed ensemble trained in one compiled program (N = seeds 0..N-1); "
                   "every member probed and drawn, mean +- std across seeds reported")
    r.add_argument("--tiny", action="store_true",
                   help="a seconds-long tiny model and context (to check the pipeline)")
    r.add_argument("--force", action="store_true", help="overwrite DIR")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--workers", type=int, default=1,
                   help="architectures: parallel worker processes (default 1)")
    r.add_argument("--processes", nargs="+", metavar="NAME",
                   help="architectures: rows (default mess3 tom_quantum post_quantum fanizza)")
    r.add_argument("--archs", nargs="+", metavar="ARCH",
                   help="architectures: columns (default transformer lstm gru rnn)")
    r.set_defaults(func=run_reproduce)


def run_reproduce(args: argparse.Namespace) -> int:
    from compmech.experiments.reproduce import DEFAULT_MINUTES, REPRODUCE_CHECKPOINTS, reproduce
    from compmech.probing.summary import summary_lines

    if args.tiny and (args.minutes is not None or args.steps is not None):
        raise UsageError("--tiny trains for a fixed few steps; drop --minutes and --steps")
    if args.steps is not None and (args.minutes is not None or args.seeds is not None
                                   or args.experiment in ("architectures", "bottleneck")):
        raise UsageError("--steps replaces --minutes for a single run of mess3, rrxor, z1r or "
                         "tom_quantum")
    if (args.processes or args.archs or args.workers != 1) and args.experiment != "architectures":
        raise UsageError("--processes, --archs and --workers apply to `reproduce architectures`")
    if args.experiment == "architectures":
        return _run_architectures(args)
    minutes = None if args.tiny else (args.minutes or DEFAULT_MINUTES)
    if args.experiment == "bottleneck":
        if args.seeds is not None:
            raise UsageError("--seeds is not available for bottleneck")
        return _run_bottleneck(args, minutes)
    if args.seeds is not None:
        return _reproduce_ensemble(args, minutes)
    report = reproduce(args.experiment, args.out, minutes=None if args.steps else minutes,
                       steps=args.steps, tiny=args.tiny, force=args.force, seed=args.seed,
                       checkpoints=args.checkpoints or REPRODUCE_CHECKPOINTS,
                       progress=not args.quiet)
    print()
    print("\n".join(summary_lines(report)))
    print(f"total wall time    {report.reproduce_wall_time_s:.0f} s (train + probe + figures)")
    print(f"results in {args.out}/probe.json, figures in {args.out}/figures/")
    return 0


def _reproduce_ensemble(args: argparse.Namespace, minutes: float | None) -> int:
    from compmech.experiments.reproduce import REPRODUCE_CHECKPOINTS, reproduce_ensemble
    from compmech.probing.ensembles import ensemble_summary_lines

    report = reproduce_ensemble(args.experiment, args.out, args.seeds, minutes=minutes,
                                tiny=args.tiny, force=args.force, probe_seed=args.seed,
                                checkpoints=args.checkpoints or REPRODUCE_CHECKPOINTS,
                                progress=not args.quiet)
    print()
    print("\n".join(ensemble_summary_lines(report)))
    print(f"results in {args.out}/probe_ensemble.json, members in {args.out}/seed-*/")
    return 0


def _run_bottleneck(args: argparse.Namespace, minutes: float | None) -> int:
    """Mess3 with the residual stream narrowed to each width (rerunning the command resumes it)."""
    from compmech.experiments.bottleneck import DEFAULT_WIDTHS, run_bottleneck
    from compmech.experiments.reproduce import reproduction_config

    run_bottleneck(
        args.out,
        widths=(1, 2) if args.tiny else DEFAULT_WIDTHS,
        minutes_per_width=minutes,
        steps=60 if args.tiny else None,
        base_config=reproduction_config("mess3", tiny=True) if args.tiny else None,
        seed=args.seed, force=args.force, progress=not args.quiet,
        log=None if args.quiet else print,
    )
    print(f"report in {args.out}/README.md")
    return 0


def _run_architectures(args: argparse.Namespace) -> int:
    """Transformer, LSTM, GRU and RNN on Mess3 and the quantum processes, both probe protocols."""
    from compmech.experiments import architectures

    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1; got {args.workers}")
    summary = architectures.run_architectures(
        args.out, processes=args.processes or tuple(architectures.PROCESSES),
        archs=args.archs or architectures.ARCHS,
        minutes=None if args.tiny else (args.minutes or architectures.DEFAULT_MINUTES),
        tiny=args.tiny, seed=args.seed, workers=args.workers, force=args.force,
        progress=False, log=None if args.quiet else print)
    print(f"{len(summary.rows)} models; report in {args.out}/README.md, figure "
          f"{args.out}/architectures.png")
    return 0 if not summary.failed else 1


__all__ = ["EXPERIMENTS", "register", "run_reproduce"]
