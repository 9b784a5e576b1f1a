"""``compmech experiment bottleneck|sweep|heads``: the experiments beyond the paper, with every
setting.

Each writes a self-contained report folder (figures, ``summary.json``, ``README.md``) and resumes
after an interruption (rerun the same command: finished jobs are not redone).
"""

from __future__ import annotations

import argparse
import sys

from compmech.cli.common import UsageError, add_quiet_argument, add_seed_argument


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "experiment", help="run an experiment beyond the paper (bottleneck, sweep, heads) into a "
        "report folder",
        description="Train, probe and report one experiment as resumable jobs: `bottleneck` (Mess3 "
        "with the residual stream narrowed to each width, and a width-1 linear bottleneck), `sweep` "
        "(one model per Mess3 (x, alpha) grid point plus other processes), `heads` (one-layer "
        "models with 1 and 2 heads on Mess3 across x = 1/3, where lambda = 1 - 3x changes sign). "
        "Rerunning the same command resumes it; a folder holding other settings is refused.")
    p.add_argument("experiment", choices=("bottleneck", "sweep", "heads"), help="which experiment")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="experiment folder (created; reused to resume)")
    p.add_argument("--minutes", type=float, default=None,
                   help="training budget per job in minutes (default 2; heads trains 600 steps "
                   "unless given)")
    p.add_argument("--steps", type=int, default=None,
                   help="train exactly this many steps instead of a time budget (default: none, "
                   "--minutes decides; heads 600)")
    add_seed_argument(p, "the initialisation, the training data and the probe of every job "
                      "(heads: see --seeds)")
    p.add_argument("--workers", type=int, default=1,
                   help="parallel worker processes (default: %(default)s)")
    p.add_argument("--device", choices=("cpu", "gpu", "auto"), default=None,
                   help="training device (default cpu)")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help="bottleneck: residual widths (default 1 2 3 4 8 16 64)")
    p.add_argument("--max-checkpoints", type=int, default=8,
                   help="bottleneck: checkpoints analysed for the width-1 coordinate over training "
                   "(default: %(default)s)")
    p.add_argument("--xs", type=float, nargs="+", default=None,
                   help="sweep, heads: Mess3 x values (default: sweep 0.05 0.1 0.15 0.2 0.25; "
                   "heads 0.05 0.15 0.25 0.40 0.45, or 0.05 with --alphas)")
    p.add_argument("--alphas", type=float, nargs="+", default=None,
                   help="sweep: Mess3 alpha values (default 0.45 0.55 0.65 0.75 0.85); heads: the "
                   "alpha sweep at fixed x (x default 0.05; e.g. --alphas 0.4 0.5 0.6 0.7 0.85), the "
                   "first layer's decay set against lambda and rho* (default: none, --alpha)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="heads: one model per training seed, a list S1 S2 ... (decays reported as "
                   "mean +- std over them; default: --seed only)")
    p.add_argument("--extras", nargs="*", default=None,
                   help="sweep: other catalogue processes for the summary table (default: z1r rrxor "
                   "even golden_mean)")
    p.add_argument("--decoders", nargs="*", choices=("knn", "mlp"), default=None,
                   help="sweep: nonlinear decoders beside the linear probe at every point "
                   "(default knn; none: --decoders)")
    p.add_argument("--heads", type=int, nargs="+", default=None,
                   help="heads: numbers of attention heads (default 1 2)")
    p.add_argument("--head-width", type=int, default=None,
                   help="heads: n_heads x d_head of every model (default 16)")
    p.add_argument("--alpha", type=float, default=None, help="heads: Mess3 alpha (default 0.85)")
    p.add_argument("--gallery", default=None, metavar="DIR",
                   help="also copy the figures (each < 300 KB) and README into DIR, e.g. "
                   "docs/gallery (default: none)")
    p.add_argument("--force", action="store_true",
                   help="rewrite a folder holding an experiment with other settings")
    add_quiet_argument(p)
    p.set_defaults(func=run_experiment)


def _common(args: argparse.Namespace) -> dict:
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError(f"--minutes must be > 0; got {args.minutes}")
    minutes = args.minutes if args.minutes is not None else (
        None if args.experiment == "heads" else 2.0)
    return dict(minutes=None if args.steps else minutes, steps=args.steps, seed=args.seed,
                workers=args.workers, device=args.device, force=args.force,
                log=None if args.quiet else print)


def run_experiment(args: argparse.Namespace) -> int:
    from compmech.experiments import bottleneck, heads, sweep
    from compmech.experiments.reports import export_gallery

    common = _common(args)
    minutes = common.pop("minutes")
    if args.experiment != "sweep" and args.decoders is not None:
        raise UsageError("--decoders is a sweep option")
    if args.experiment != "heads" and (args.heads or args.head_width or args.alpha is not None
                                       or args.seeds):
        raise UsageError("--heads, --head-width, --alpha and --seeds are heads options")
    if args.experiment == "heads":
        if args.widths or args.extras is not None:
            raise UsageError("--widths and --extras are not heads options")
        if args.alphas and args.alpha is not None:
            raise UsageError("give --alpha (one value) or --alphas (the alpha sweep), not both")
        if minutes is None and common["steps"] is None:
            common["steps"] = heads.DEFAULT_STEPS
        xs = args.xs or ((heads.ALPHA_SWEEP_X,) if args.alphas else heads.DEFAULT_X)
        summary = heads.run_heads(
            args.out, xs=xs, heads=args.heads or heads.DEFAULT_HEADS,
            alpha=heads.DEFAULT_ALPHA if args.alpha is None else args.alpha, alphas=args.alphas,
            seeds=args.seeds, head_width=args.head_width or heads.DEFAULT_HEAD_WIDTH,
            minutes_per_job=minutes, **common)
    elif args.experiment == "bottleneck":
        if args.xs or args.alphas or args.extras is not None:
            raise UsageError("--xs, --alphas and --extras are sweep options")
        summary = bottleneck.run_bottleneck(
            args.out, widths=args.widths or bottleneck.DEFAULT_WIDTHS, minutes_per_width=minutes,
            max_checkpoints=args.max_checkpoints, progress=False, **common)
    else:
        if args.widths:
            raise UsageError("--widths is a bottleneck option")
        summary = sweep.run_sweep(
            args.out, xs=args.xs or sweep.DEFAULT_X, alphas=args.alphas or sweep.DEFAULT_ALPHA,
            extras=sweep.DEFAULT_EXTRAS if args.extras is None else args.extras,
            minutes_per_point=minutes,
            decoders=sweep.DEFAULT_DECODERS if args.decoders is None else tuple(args.decoders),
            **common)
    if args.gallery:
        export_gallery(args.out, args.gallery, prefix=args.experiment, force=args.force)
    if summary.failed:
        print(f"{len(summary.failed)} job(s) failed; rerun the same command to retry them",
              file=sys.stderr)
    print(f"report: {args.out}/README.md ({', '.join(summary.files)})")
    return 0


__all__ = ["register", "run_experiment"]
