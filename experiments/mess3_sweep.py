"""The process sweep: one trained model per Mess3 (x, alpha) grid point, plus Z1R, RRXOR, even and
golden mean, with the probe's paired resolution, the true and predicted clouds' dimensions above
it, the process's Kaplan-Yorke dimension and the probe MSE.

Parallel over worker processes and resumable; prints the table as points finish. The arguments are
those of `compmech experiment sweep` (`--xs`, `--alphas`, `--extras`, `--minutes`, `--workers`,
`--gallery DIR`, ...):

    python experiments/mess3_sweep.py --out reports/sweep --workers 2
    python experiments/mess3_sweep.py --out reports/sw --xs 0.05 0.15 0.25 \
        --alphas 0.45 0.65 0.85 --minutes 0.5
"""

import sys

from compmech import cli


def main(argv=None) -> int:
    return cli.main(["experiment", "sweep", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
