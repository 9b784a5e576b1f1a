"""The one-coordinate bottleneck experiment (issue 6): Mess3 with the residual stream narrowed.

Trains the paper's Mess3 model at each residual width, probes it, and writes a self-contained
report folder (figures, summary.json, README.md). Resumable: rerun the same command after an
interruption and finished widths are not redone.

    python experiments/bottleneck.py --out reports/bottleneck                      # full
    python experiments/bottleneck.py --out reports/bn --widths 1 2 3 64 --minutes 1  # reduced
"""

from __future__ import annotations

import argparse
import functools
import sys

from compmech.experiments import DEFAULT_WIDTHS, run_bottleneck, run_from_script


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="experiment folder (created; reused to resume)")
    parser.add_argument("--widths", type=int, nargs="+", default=list(DEFAULT_WIDTHS))
    parser.add_argument("--minutes", type=float, default=2.0, help="training budget per width")
    parser.add_argument("--steps", type=int, default=None,
                        help="train exactly this many steps instead of a time budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--device", choices=("cpu", "gpu", "auto"), default=None,
                        help="training device (default cpu)")
    parser.add_argument("--max-checkpoints", type=int, default=8,
                        help="checkpoints analysed for the width-1 coordinate over training")
    parser.add_argument("--gallery", default=None, metavar="DIR",
                        help="also copy the figures (each < 300 KB) and README into DIR, e.g. docs/gallery")
    parser.add_argument("--force", action="store_true",
                        help="rewrite a folder holding an experiment with other settings")
    args = parser.parse_args(argv)
    run = functools.partial(run_bottleneck, args.out, widths=args.widths,
                            minutes_per_width=None if args.steps else args.minutes,
                            steps=args.steps, seed=args.seed, workers=args.workers, device=args.device,
                            max_checkpoints=args.max_checkpoints, force=args.force)
    return run_from_script(run, args.out, gallery=args.gallery, prefix="bottleneck", force=args.force)


if __name__ == "__main__":
    sys.exit(main())
