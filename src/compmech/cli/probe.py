"""Probe subcommands: ``probe``, ``figures``, ``reproduce``.

``compmech probe RUN_DIR`` writes ``RUN_DIR/probe.json`` (and ``probe_points.npz`` for the figures);
``compmech figures RUN_DIR`` writes ``RUN_DIR/figures/``; ``compmech reproduce mess3|rrxor|z1r --out
DIR`` trains, probes and draws with the published settings and prints a summary table;
``compmech reproduce architectures --out DIR`` trains a transformer, LSTM, GRU and RNN on Mess3 and
the quantum processes and probes each with both protocols; ``compmech reproduce factored --out DIR``
runs the factored-representations stress tests (arXiv 2602.02385); ``compmech reproduce quantum
--out DIR`` reproduces Riechers, Elliott & Shai (2025) with the authors' probe protocol. Existing
outputs are never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from compmech.cli.common import UsageError, add_quiet_argument, add_seed_argument, parse_seeds

EXPERIMENTS = ("mess3", "rrxor", "z1r", "tom_quantum", "bottleneck", "architectures", "icl",
               "factored", "quantum")


def _checkpoints(value: str):
    if value in ("all", "last"):
        return value
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be 'all', 'last' or a number of log-spaced checkpoints; got {value!r}") from None
    if n < 2:
        raise argparse.ArgumentTypeError(f"a number of checkpoints must be >= 2; got {n}")
    return n


def _int_at_least(minimum: int, what: str, too_small: str):
    """An argparse type: an integer ``>= minimum`` (``too_small`` formats ``{n}`` and ``{value}``)."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}; got {value!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(too_small.format(n=n, value=value))
        return n

    return parse


_folds = _int_at_least(2, "a number of folds", "k-fold cross-validation needs K >= 2; got {n}")
_positive_int = _int_at_least(1, "a positive integer", "must be a positive integer; got {value!r}")


def _positive_minutes(value: str) -> float:
    try:
        minutes = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of minutes; got {value!r}") from None
    if not minutes > 0 or minutes != minutes or minutes == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes; got {value!r}")
    return minutes


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "probe", help="probe a training run for beliefs (writes RUN_DIR/probe.json)",
        description="Fit linear probes from the residual stream to beliefs (all inputs, 20% train "
        "/ 80% test by sequence, OLS with intercept), with the shuffle control and the untrained, "
        "one-hot and random-feature baselines; and the headline hook at every checkpoint.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run written by `compmech train` (or an "
                   "ensemble from `compmech train --seeds`: every member is probed, then the mean "
                   "+- std across seeds is reported)")
    p.add_argument("--checkpoints", type=_checkpoints, default="all", metavar="all|last|N",
                   help="checkpoints for the curve over training: all (default), last (and the "
                   "initialisation), or N log-spaced")
    p.add_argument("--hooks", nargs="+", metavar="HOOK",
                   help="hooks to probe at the last checkpoint (default: embedding, every block's "
                   "output, final LayerNorm, and 'concat' of the residual hooks)")
    p.add_argument("--headline", metavar="HOOK",
                   help="hook of the summary and of the curve (default: the last block's output)")
    add_seed_argument(p, "the probe's folds, shuffle control, random features and figure points")
    p.add_argument("--split", choices=("auto", "20/80", "80/20"), default="auto",
                   help="train/test share of sequences; auto = the paper's 20/80 unless "
                   "the training side has < 10 points per probe coefficient, then 80/20 "
                   "(default: %(default)s)")
    p.add_argument("--weighting", choices=("uniform", "probability"), default="uniform",
                   help="enumerated inputs: uniform (every point weighs 1) or probability "
                   "(point (word, t) weighs P(word): probability-weighted least squares) "
                   "(default: %(default)s)")
    p.add_argument("--folds", type=_folds, metavar="K",
                   help="K-fold cross-validation by sequence (each fold tested once by the probe "
                   "trained on the other K-1, scores pooled) instead of --split (default: none, "
                   "--split)")
    p.add_argument("--rcond-sweep", action="store_true",
                   help="also fit every hook with its rcond cut-off chosen by inner validation")
    p.add_argument("--no-fractal", action="store_true",
                   help="skip the old fractal comparison (dimensions fitted over all scales)")
    p.add_argument("--no-geometry", action="store_true",
                   help="skip the scale-by-scale comparison (paired resolution, equivalent history) at each "
                   "checkpoint")
    p.add_argument("--decoders", nargs="*", choices=("knn", "mlp"), default=["knn", "mlp"],
                   help="nonlinear decoders fitted beside the linear probe at the last checkpoint "
                   "for the last layer and the concatenation (default: knn mlp; none: --decoders)")
    p.add_argument("--force", action="store_true", help="overwrite an existing probe.json")
    add_quiet_argument(p)
    p.set_defaults(func=run_probe)

    f = subparsers.add_parser(
        "figures", help="draw a probed run (writes RUN_DIR/figures/)",
        description="Theory vs learned belief geometry side by side, per-layer grid, shuffle "
        "control, loss per position, probe over training, emergence grid and GIF (PNG + PDF).")
    f.add_argument("run_dir", metavar="RUN_DIR", help="a run probed with `compmech probe`")
    add_seed_argument(f, "the subsample of points drawn")
    f.add_argument("--force", action="store_true", help="overwrite an existing figures folder")
    f.set_defaults(func=run_figures)

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
    r.add_argument("--minutes", type=_positive_minutes, default=None,
                   help="training wall-clock budget in minutes (default 2; per width for "
                   "bottleneck; per model for architectures, default 1; for all runs of icl, "
                   "default 12; in total for factored, default 30)")
    r.add_argument("--steps", type=_positive_int, default=None,
                   help="train exactly this many optimiser steps instead of a wall-clock budget "
                   "(the same run on any machine and under any load; mess3, rrxor, z1r, "
                   "tom_quantum, icl; per model for factored; default: none, --minutes decides)")
    r.add_argument("--checkpoints", type=_checkpoints, default=None, metavar="all|last|N",
                   help="checkpoints probed for the curve over training (default: 12 log-spaced)")
    add_seed_argument(r, "the initialisation, the training data and the probe (with --seeds: "
                      "the probe only, each member training with its own seed)")
    r.add_argument("--seeds", type=parse_seeds, default=None, metavar="N|A-B|A,B,..",
                   help="a seed ensemble trained in one compiled program (N = seeds 0..N-1); "
                   "every member probed and drawn, mean +- std across seeds reported (default: "
                   "none, one run)")
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
    r.add_argument("--random-networks", type=_positive_int, default=None, metavar="N",
                   help="quantum: randomly initialised networks per trained one (default 32; "
                   "the authors used 1,000)")
    r.add_argument("--noise", choices=("joint", "per_factor"), default="joint",
                   help="factored: the noisy channel blurs the composite token (joint, default: "
                   "breaks conditional independence) or each factor's token (per_factor)")
    r.add_argument("--paper", action="store_true",
                   help="factored: write the paper's setup as TrainConfig files in DIR/paper/ "
                   "(not run)")
    r.set_defaults(func=run_reproduce)


def _run_dir(path: str, ensemble_ok: bool = False) -> Path:
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a directory; give a run directory written by "
                         "`compmech train --out RUN_DIR`")
    if ensemble_ok and (run_dir / "ensemble.json").is_file():
        return run_dir
    if not (run_dir / "config.json").is_file():
        raise UsageError(f"{run_dir} is not a run directory (no config.json); give one written by "
                         "`compmech train --out RUN_DIR`")
    return run_dir


def run_probe(args: argparse.Namespace) -> int:
    from compmech.probing.run import probe_run
    from compmech.probing.summary import summary_lines

    run_dir = _run_dir(args.run_dir, ensemble_ok=True)
    if args.folds is not None and args.split != "auto":
        raise UsageError("give either --split or --folds K, not both")
    if (run_dir / "ensemble.json").is_file():
        return _probe_ensemble(args, run_dir)
    report = probe_run(run_dir, checkpoints=args.checkpoints, hooks=args.hooks,
                       headline=args.headline, seed=args.seed, force=args.force,
                       split=args.split, weighting=args.weighting, folds=args.folds,
                       rcond_sweep=args.rcond_sweep,
                       fractal=not args.no_fractal, geometry=not args.no_geometry,
                       decoders=args.decoders, progress=not args.quiet)
    print("\n".join(summary_lines(report)))
    print(f"wrote {run_dir / 'probe.json'}")
    return 0


def _probe_ensemble(args: argparse.Namespace, run_dir: Path) -> int:
    from compmech.probing.ensembles import ENSEMBLE_PROBE_FILE, ensemble_summary_lines, probe_ensemble

    report = probe_ensemble(run_dir, force=args.force, progress=not args.quiet,
                            checkpoints=args.checkpoints, hooks=args.hooks,
                            headline=args.headline, seed=args.seed, split=args.split,
                            weighting=args.weighting, folds=args.folds,
                            rcond_sweep=args.rcond_sweep, fractal=not args.no_fractal,
                            geometry=not args.no_geometry, decoders=args.decoders)
    print("\n".join(ensemble_summary_lines(report)))
    print(f"wrote {run_dir / ENSEMBLE_PROBE_FILE} and each member's probe.json")
    return 0


def run_figures(args: argparse.Namespace) -> int:
    from compmech.figures.run import make_figures

    run_dir = _run_dir(args.run_dir, ensemble_ok=True)
    if (run_dir / "ensemble.json").is_file():
        from transformer import load_ensemble

        members = [run.run_dir for run in load_ensemble(run_dir)]
        for member in members:
            make_figures(member, force=args.force, seed=args.seed, progress=False)
        print(f"wrote the figures of {len(members)} members to {run_dir}/seed-*/figures")
        return 0
    paths = make_figures(run_dir, force=args.force, seed=args.seed, progress=False)
    print(f"wrote {len(paths)} files to {run_dir / 'figures'}")
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    from compmech.experiments.reproduce import DEFAULT_MINUTES, REPRODUCE_CHECKPOINTS, reproduce
    from compmech.probing.summary import summary_lines

    if (args.paper or args.noise != "joint") and args.experiment != "factored":
        raise UsageError("--paper and --noise apply to `reproduce factored`")
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


def _run_icl(args: argparse.Namespace) -> int:
    """In-context learning of non-ergodic mixtures (rerunning the command resumes it)."""
    from compmech.experiments import icl

    if args.tiny and args.minutes is not None:
        raise UsageError("--tiny trains a fixed few steps; drop --minutes")
    if args.steps is not None and args.minutes is not None:
        raise UsageError("give --steps or --minutes, not both")
    if args.processes or args.archs or args.workers != 1 or args.checkpoints is not None:
        raise UsageError("--processes, --archs, --workers and --checkpoints do not apply to "
                         "`reproduce icl`")
    seeds = args.seeds if args.seeds is not None else [args.seed]
    results = icl.run_icl(args.out, minutes=args.minutes or icl.DEFAULT_MINUTES, steps=args.steps,
                          seeds=seeds, tiny=args.tiny, force=args.force,
                          progress=not args.quiet, log=None if args.quiet else print)
    print()
    print(icl.markdown_table(results))
    print(f"total wall time {results['wall_time_s']:.0f} s; results in {args.out}/results.json, "
          f"figures in {args.out}/figures/")
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
    report = quantum.run_quantum(
        args.out, processes=processes, archs=args.archs or quantum.ARCHS,
        minutes=None if args.tiny else (args.minutes or quantum.DEFAULT_MINUTES),
        steps=args.steps, seeds=args.seeds or [args.seed],
        random_networks=args.random_networks or (
            quantum.TINY_RANDOM_NETWORKS if args.tiny else quantum.DEFAULT_RANDOM_NETWORKS),
        tiny=args.tiny, workers=args.workers, force=args.force,
        log=None if args.quiet else print)
    print(f"{len(report['results'])} processes in {report['wall_seconds'] / 60:.1f} min; report "
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
    summary = factored.run_factored(
        args.out, tiny=args.tiny, minutes=args.minutes, steps=args.steps,
        seeds=args.seeds if args.seeds is not None else [args.seed], noise=args.noise,
        force=args.force, progress=False, log=None if args.quiet else print)
    print(f"{len(summary.rows)} models; report in {args.out}/README.md, results "
          f"{args.out}/results.json, figure {args.out}/factored_cev.png")
    return 0 if not summary.failed else 1


__all__ = ["register", "run_probe", "run_figures", "run_reproduce"]
