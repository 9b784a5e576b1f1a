"""The bottleneck experiment: Mess3 with the residual stream narrowed to each width, and the paper's
model with a width-1 linear bottleneck after its last block.

Trains, probes and writes a self-contained report folder (figures, summary.json, README.md); rerun
the same command after an interruption and finished widths are not redone. The arguments are those
of `compmech experiment bottleneck` (`--widths`, `--minutes`, `--steps`, `--workers`, `--device`,
`--gallery DIR`, `--force`, ...):

    python experiments/bottleneck.py --out reports/bottleneck --workers 2
    python experiments/bottleneck.py --out reports/bn --widths 1 2 3 64 --minutes 1
"""

import sys

from compmech import cli


def main(argv=None) -> int:
    return cli.main(["experiment", "bottleneck", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
