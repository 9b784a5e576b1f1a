"""``compmech reproduce EXPERIMENT --out DIR``: ``mess3``, ``rrxor``, ``z1r``, ``tom_quantum`` train,
probe and draw with the published settings and print a summary table
(:mod:`compmech.experiments.reproduce`); ``bottleneck``, ``architectures``, ``icl``, ``factored``
and ``quantum`` run those experiments (:mod:`compmech.experiments`). Existing outputs are never
overwritten without ``--force``; rerunning an experiment resumes it.
"""

from __future__ import annotations

import argparse

from compmech.cli.common import (
    UsageError,
    add_quiet_argument,
    add_seed_argument,
    add_seeds_argument,
    parse_checkpoints,
    parse_minutes,
    parse_positive_int,
)

EXPERIMENTS = ("mess3", "rrxor", "z1r", "tom_quantum", "bottleneck", "architectures", "icl",
               "factored", "quantum")


def register(subparsers) -> None:
    r = subparsers.add_parser(
        "reproduce", help="train, probe and draw a published experiment",
        description="Reproduce Shai et al. (2024): train the paper's model on the process (our "
        "optimiser, a wall-clock budget), probe it with the paper's protocol, draw the figures, and "
        "print the results beside the paper's. `bottleneck` trains Mess3 models with the residual "
        "stream narrowed to widths 1..64 (--minutes per width) and writes a report; "
        "`architectures` trains a transformer, LSTM, GRU and RNN on Mess3 and the three quantum "
        "processes (--minutes per model, default 1) and probes each with both protocols; "
        "`icl` trains on three non-ergodic mixtures (the Dursley/Wonka mixture of arXiv "
        "2505.18373 and two Mess3 mixtures) and measures in-context loss against the Bayes-mixture "
        "optimum, power-law and exponential fits, and induction scores over training (--minutes "
        "in all, default 12); "
        "`factored` (arXiv 2602.02385) trains one model per noisy-channel strength and the chain "
        "variant of a product of Mess3 and tom_quantum factors and measures, over training, the "
        "last layer's explained variance against the factored and joint predictions, per-factor "
        "probe R^2 and the factors' subspace orthogonality (--minutes in total, default 30); "
        "`quantum` reproduces Riechers, Elliott & Shai 2025 (the 16 networks of `architectures`, "
        "the authors' probe protocol, random-network and Markov-3 baselines, cross-architecture "
        "CKA; --minutes for the whole command, default 30, or --steps per model); "
        "rerunning any of these commands resumes it.")
    r.add_argument("experiment", choices=EXPERIMENTS, help="which experiment")
    r.add_argument("--out", required=True, metavar="DIR", help="run directory to create")
    r.add_argument("--minutes", type=parse_minutes, default=None,
                   help="training wall-clock budget in minutes (default 2; per width for "
                   "bottleneck; per model for architectures, default 1; for all runs of icl, "
                   "default 12; in total for factored, default 30; for the whole command for "
                   "quantum, default 30)")
    r.add_argument("--steps", type=parse_positive_int, default=None,
                   help="train exactly this many optimiser steps instead of a wall-clock budget "
                   "(the same run on any machine and under any load; mess3, rrxor, z1r, "
                   "tom_quantum, icl; per model for factored and quantum; default: none, "
                   "--minutes decides)")
    r.add_argument("--checkpoints", type=parse_checkpoints, default=None, metavar="all|last|N",
                   help="checkpoints probed for the curve over training (default: 12 log-spaced)")
    add_seed_argument(r, "the initialisation, the training data and the probe (with --seeds, "
                      "mess3, rrxor, z1r and tom_quantum: the probe only, each member training "
                      "with its own seed; icl, factored and quantum refuse --seed with --seeds: "
                      "each model is trained and analysed with its own seed)", default=None,
                      default_text="0")
    add_seeds_argument(r, "several training seeds, mean +- std across them reported: mess3, "
                       "rrxor, z1r and tom_quantum train them as one ensemble in one compiled "
                       "program, every member probed and drawn; icl, factored and quantum train "
                       "one model per seed (not bottleneck or architectures)", "none, one run of "
                       "--seed")
    r.add_argument("--tiny", action="store_true",
                   help="a seconds-long tiny model and context (to check the pipeline)")
    r.add_argument("--force", action="store_true", help="overwrite DIR")
    add_quiet_argument(r)
    r.add_argument("--workers", type=int, default=1,
                   help="architectures, quantum: parallel worker processes (default: %(default)s)")
    r.add_argument("--processes", nargs="+", metavar="NAME",
                   help="architectures, quantum: rows (default mess3 tom_quantum post_quantum fanizza; "
                   "quantum --tiny: fanizza)")
    r.add_argument("--archs", nargs="+", metavar="ARCH",
                   help="architectures, quantum: columns (default transformer lstm gru rnn)")
    r.add_argument("--random-networks", type=parse_positive_int, default=None, metavar="N",
                   help="quantum: randomly initialised networks per (process, architecture), "
                   "split over the seeds' jobs (default 32, with --tiny 2; the authors used 1,000)")
    r.add_argument("--noise", choices=("joint", "per_factor"), default="joint",
                   help="factored: the noisy channel blurs the composite token (joint, default: "
                   "breaks conditional independence) or each factor's token (per_factor)")
    r.add_argument("--paper", action="store_true",
                   help="factored: write the paper's setup as TrainConfig files in DIR/paper/ "
                   "(not run)")
    r.set_defaults(func=run_reproduce)


def run_reproduce(args: argparse.Namespace) -> int:
    from compmech.experiments.reproduce import (
        DEFAULT_MINUTES,
        REPRODUCE_CHECKPOINTS,
        ReproduceConfig,
        reproduce,
    )
    from compmech.probing.summary import summary_lines

    if (args.paper or args.noise != "joint") and args.experiment != "factored":
        raise UsageError("--paper and --noise apply to `reproduce factored`")
    _check_seeds(args)
    if args.experiment == "quantum":
        return _run_quantum(args)
    if args.random_networks is not None:
        raise UsageError("--random-networks applies to `reproduce quantum`")
    if args.experiment == "icl":
        return _run_icl(args)
    if args.tiny and (args.minutes is not None or args.steps is not None):
        raise UsageError("--tiny trains for a fixed few steps; drop --minutes and --steps")
    if args.steps is not None and args.experiment != "factored" and (
            args.minutes is not None or args.seeds is not None
            or args.experiment in ("architectures", "bottleneck")):
        raise UsageError("--steps replaces --minutes for a single run of mess3, rrxor, z1r or "
                         "tom_quantum")
    if (args.processes or args.archs or args.workers != 1) and args.experiment != "architectures":
        raise UsageError("--processes, --archs and --workers apply to `reproduce architectures`")
    if args.experiment == "architectures":
        return _run_architectures(args)
    if args.experiment == "factored":
        return _run_factored(args)
    minutes = None if args.tiny else (args.minutes or DEFAULT_MINUTES)
    if args.experiment == "bottleneck":
        return _run_bottleneck(args, minutes)
    if args.seeds is not None:
        return _reproduce_ensemble(args, minutes)
    config = ReproduceConfig(minutes=None if args.steps else minutes, steps=args.steps,
                             tiny=args.tiny, seed=args.seed,
                             checkpoints=args.checkpoints or REPRODUCE_CHECKPOINTS)
    report = reproduce(args.experiment, args.out, config, force=args.force,
                       progress=not args.quiet)
    print()
    print("\n".join(summary_lines(report)))
    print(f"total wall time    {report.reproduce_wall_time_s:.0f} s (train + probe + figures)")
    print(f"results in {args.out}/probe.json, figures in {args.out}/figures/")
    return 0


def _check_seeds(args: argparse.Namespace) -> None:
    """``--seeds`` where the reproduction takes several seeds; ``--seed`` beside it only where it
    still seeds something (the probe of a mess3-like ensemble). Sets ``args.seed`` (0 when not
    given)."""
    if args.seeds is not None:
        if args.experiment in ("bottleneck", "architectures"):
            raise UsageError(f"--seeds is not available for {args.experiment}")
        if args.paper:
            raise UsageError("--paper writes the configs of one seed (--seed); drop --seeds")
        if args.seed is not None and args.experiment in ("icl", "factored", "quantum"):
            raise UsageError(f"give either --seed or --seeds, not both: with --seeds every model "
                             f"of `reproduce {args.experiment}` is trained and analysed with its "
                             "own seed")
    if args.seed is None:
        args.seed = 0


def _reproduce_ensemble(args: argparse.Namespace, minutes: float | None) -> int:
    from compmech.experiments.reproduce import (
        REPRODUCE_CHECKPOINTS,
        ReproduceConfig,
        reproduce_ensemble,
    )
    from compmech.probing.ensembles import ensemble_summary_lines

    config = ReproduceConfig(minutes=minutes, tiny=args.tiny, seed=args.seed,
                             checkpoints=args.checkpoints or REPRODUCE_CHECKPOINTS)
    report = reproduce_ensemble(args.experiment, args.out, args.seeds, config, force=args.force,
                                progress=not args.quiet)
    print()
    print("\n".join(ensemble_summary_lines(report)))
    print(f"results in {args.out}/probe_ensemble.json, members in {args.out}/seed-*/")
    return 0


def _run_bottleneck(args: argparse.Namespace, minutes: float | None) -> int:
    """Mess3 with the residual stream narrowed to each width (rerunning the command resumes it)."""
    from compmech.experiments.bottleneck import DEFAULT_WIDTHS, BottleneckConfig, run_bottleneck
    from compmech.experiments.reproduce import reproduction_config

    config = BottleneckConfig(
        widths=(1, 2) if args.tiny else DEFAULT_WIDTHS,
        minutes_per_width=minutes,
        steps=60 if args.tiny else None,
        base_config=reproduction_config("mess3", tiny=True) if args.tiny else None,
        seed=args.seed)
    run_bottleneck(args.out, config, force=args.force, progress=not args.quiet,
                   log=None if args.quiet else print)
    print(f"report in {args.out}/README.md")
    return 0


def _run_icl(args: argparse.Namespace) -> int:
    """In-context learning of non-ergodic mixtures (rerunning the command resumes it)."""
    from compmech.experiments import icl
    from compmech.experiments.icl_results import IclSettings

    if args.tiny and args.minutes is not None:
        raise UsageError("--tiny trains a fixed few steps; drop --minutes")
    if args.steps is not None and args.minutes is not None:
        raise UsageError("give --steps or --minutes, not both")
    if args.processes or args.archs or args.workers != 1 or args.checkpoints is not None:
        raise UsageError("--processes, --archs, --workers and --checkpoints do not apply to "
                         "`reproduce icl`")
    seeds = args.seeds if args.seeds is not None else [args.seed]
    config = IclSettings(tiny=args.tiny, minutes=args.minutes or icl.DEFAULT_MINUTES,
                         steps=args.steps, seeds=seeds)
    results = icl.run_icl(args.out, config, force=args.force, progress=not args.quiet,
                          log=None if args.quiet else print)
    print()
    print(icl.markdown_table(results.mixtures))
    print(f"total wall time {results.wall_time_s:.0f} s; results in {args.out}/results.json, "
          f"figures in {args.out}/figures/")
    return 0


def _run_architectures(args: argparse.Namespace) -> int:
    """Transformer, LSTM, GRU and RNN on Mess3 and the quantum processes, both probe protocols."""
    from compmech.experiments import architectures

    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1; got {args.workers}")
    config = architectures.ArchitecturesConfig(
        processes=args.processes or tuple(architectures.PROCESSES),
        archs=args.archs or architectures.ARCHS,
        minutes=None if args.tiny else (args.minutes or architectures.DEFAULT_MINUTES),
        tiny=args.tiny, seed=args.seed)
    summary = architectures.run_architectures(args.out, config, workers=args.workers,
                                              force=args.force, progress=False,
                                              log=None if args.quiet else print)
    print(f"{len(summary.rows)} models; report in {args.out}/README.md, figure "
          f"{args.out}/architectures.png")
    return 0 if not summary.failed else 1


def _run_quantum(args: argparse.Namespace) -> int:
    """Riechers, Elliott & Shai (2025): four processes x four networks, the authors' probe."""
    from compmech.experiments import quantum

    if args.tiny and (args.minutes is not None or args.steps is not None):
        raise UsageError("--tiny trains for a fixed few steps; drop --minutes and --steps")
    if args.steps is not None and args.minutes is not None:
        raise UsageError("give either --steps (per model) or --minutes (whole command), not both")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1; got {args.workers}")
    processes = args.processes or (quantum.TINY_PROCESSES if args.tiny else tuple(quantum.PROCESSES))
    config = quantum.QuantumConfig(
        processes=processes, archs=args.archs or quantum.ARCHS,
        minutes=None if args.tiny else (args.minutes or quantum.DEFAULT_MINUTES),
        steps=args.steps, seeds=args.seeds or [args.seed],
        random_networks=args.random_networks or (
            quantum.TINY_RANDOM_NETWORKS if args.tiny else quantum.DEFAULT_RANDOM_NETWORKS),
        tiny=args.tiny)
    report = quantum.run_quantum(args.out, config, workers=args.workers, force=args.force,
                                 log=None if args.quiet else print)
    print(f"{len(report.results)} processes in {report.wall_seconds / 60:.1f} min; report "
          f"in {args.out}/README.md, numbers in {args.out}/results.json")
    return 0


def _run_factored(args: argparse.Namespace) -> int:
    """Factored representations (arXiv 2602.02385): noisy-channel and chain stress tests."""
    from compmech.experiments import factored

    if args.paper:
        paths = factored.write_paper_configs(args.out, seed=args.seed)
        print(f"wrote the paper's {len(paths)} configs (not run) to {args.out}/paper/; train one "
              f"with `compmech train RUN --config {paths[0]}`")
        return 0
    if args.steps is not None and args.minutes is not None:
        raise UsageError("give --steps or --minutes, not both")
    config = factored.FactoredConfig(
        tiny=args.tiny, minutes=args.minutes, steps=args.steps,
        seeds=args.seeds if args.seeds is not None else [args.seed], noise=args.noise)
    summary = factored.run_factored(args.out, config, force=args.force, progress=False,
                                    log=None if args.quiet else print)
    print(f"{len(summary.rows)} models; report in {args.out}/README.md, results "
          f"{args.out}/results.json, figure {args.out}/factored_cev.png")
    return 0 if not summary.failed else 1


__all__ = ["EXPERIMENTS", "register", "run_reproduce"]
