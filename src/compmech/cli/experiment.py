"""``compmech experiment bottleneck|sweep``: the experiments beyond the paper, with every setting.

Each writes a self-contained report folder (figures, ``summary.json``, ``README.md``) and resumes
after an interruption (rerun the same command: finished jobs are not redone).
"""

from __future__ import annotations

import argparse
import sys

from compmech.cli.common import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "experiment", help="run an experiment beyond the paper (bottleneck, sweep) into a report folder",
        description="Train, probe and report one experiment as resumable jobs: `bottleneck` (Mess3 "
        "with the residual stream narrowed to each width, and a width-1 linear bottleneck), `sweep` "
        "(one model per Mess3 (x, alpha) grid point plus other processes). Rerunning the same "
        "command resumes it; a folder holding other settings is refused.")
    p.add_argument("experiment", choices=("bottleneck", "sweep"), help="which experiment")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="experiment folder (created; reused to resume)")
    p.add_argument("--minutes", type=float, default=2.0, help="training budget per job (default 2)")
    p.add_argument("--steps", type=int, default=None,
                   help="train exactly this many steps instead of a time budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    p.add_argument("--device", choices=("cpu", "gpu", "auto"), default=None,
                   help="training device (default cpu)")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help="bottleneck: residual widths (default 1 2 3 4 8 16 64)")
    p.add_argument("--max-checkpoints", type=int, default=8,
                   help="bottleneck: checkpoints analysed for the width-1 coordinate over training")
    p.add_argument("--xs", type=float, nargs="+", default=None, help="sweep: Mess3 x values")
    p.add_argument("--alphas", type=float, nargs="+", default=None, help="sweep: Mess3 alpha values")
    p.add_argument("--extras", nargs="*", default=None,
                   help="sweep: other catalogue processes for the summary table")
    p.add_argument("--gallery", default=None, metavar="DIR",
                   help="also copy the figures (each < 300 KB) and README into DIR, e.g. docs/gallery")
    p.add_argument("--force", action="store_true",
                   help="rewrite a folder holding an experiment with other settings")
    p.add_argument("--quiet", action="store_true", help="no table lines")
    p.set_defaults(func=run_experiment)


def _common(args: argparse.Namespace) -> dict:
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError(f"--minutes must be > 0; got {args.minutes}")
    return dict(minutes=None if args.steps else args.minutes, steps=args.steps, seed=args.seed,
                workers=args.workers, device=args.device, force=args.force,
                log=None if args.quiet else print)


def run_experiment(args: argparse.Namespace) -> int:
    from compmech.pipeline import bottleneck, sweep  # flax, matplotlib: only when running
    from compmech.pipeline.reports import export_gallery

    common = _common(args)
    minutes = common.pop("minutes")
    if args.experiment == "bottleneck":
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
            minutes_per_point=minutes, **common)
    if args.gallery:
        export_gallery(args.out, args.gallery, prefix=args.experiment, force=args.force)
    if summary.failed:
        print(f"{len(summary.failed)} job(s) failed; rerun the same command to retry them",
              file=sys.stderr)
    print(f"report: {args.out}/README.md ({', '.join(summary.files)})")
    return 0


__all__ = ["register", "run_experiment"]
