"""The process sweep (issue 6): one trained model per Mess3 (x, alpha) grid point, plus Z1R, RRXOR,
even and golden mean, with theory vs learned fractal dimensions and probe MSE.

Parallel over worker processes; resumable (a point whose results/<name>.json exists is not redone);
prints the table as points finish.

    python experiments/mess3_sweep.py --out reports/sweep --workers 2                # 5x5 + extras
    python experiments/mess3_sweep.py --out reports/sw --xs 0.05 0.15 0.25 \\
        --alphas 0.45 0.65 0.85 --minutes 0.5                                         # reduced
"""

from __future__ import annotations

import argparse
import functools
import sys

from compmech.experiments import DEFAULT_ALPHA, DEFAULT_EXTRAS, DEFAULT_X, run_from_script, run_sweep


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="experiment folder (created; reused to resume)")
    parser.add_argument("--xs", type=float, nargs="+", default=list(DEFAULT_X))
    parser.add_argument("--alphas", type=float, nargs="+", default=list(DEFAULT_ALPHA))
    parser.add_argument("--extras", nargs="*", default=list(DEFAULT_EXTRAS),
                        help="other catalogue processes for the summary table")
    parser.add_argument("--minutes", type=float, default=2.0, help="training budget per point")
    parser.add_argument("--steps", type=int, default=None,
                        help="train exactly this many steps instead of a time budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--device", choices=("cpu", "gpu", "auto"), default=None,
                        help="training device (default cpu)")
    parser.add_argument("--gallery", default=None, metavar="DIR",
                        help="also copy the figures (each < 300 KB) and README into DIR, e.g. docs/gallery")
    parser.add_argument("--force", action="store_true",
                        help="rewrite a folder holding an experiment with other settings")
    args = parser.parse_args(argv)
    run = functools.partial(run_sweep, args.out, xs=args.xs, alphas=args.alphas, extras=args.extras,
                            minutes_per_point=None if args.steps else args.minutes,
                            steps=args.steps, seed=args.seed, workers=args.workers, device=args.device,
                            force=args.force)
    return run_from_script(run, args.out, gallery=args.gallery, prefix="sweep", force=args.force)


if __name__ == "__main__":
    sys.exit(main())
