"""The heads experiment: one-layer transformers on Mess3 at x on both sides of 1/3 (where
lambda = 1 - 3x changes sign) with 1 and 2 attention heads of the same total width; loss gap, probe
error and each head's attention fit against the theory's prediction (one head fails where
lambda < 0, two recover).

Resumable and parallel over worker processes; the arguments are those of `compmech experiment heads`
(`--xs`, `--heads`, `--head-width`, `--alpha`, `--alphas` (the alpha sweep at fixed x, default
x = 0.05: the first layer's decay against lambda and the constrained update's rho*), `--seeds`,
`--steps` (default 600), `--minutes`, `--workers`, `--gallery DIR`):

    python experiments/heads.py --out reports/heads
    python experiments/heads.py --out reports/heads_small --xs 0.05 0.45 --steps 300
    python experiments/heads.py --out reports/alpha --alphas 0.4 0.5 0.6 0.7 0.85 --heads 1 \
        --seeds 0,1,2
"""

import sys

from compmech import cli


def main(argv=None) -> int:
    return cli.main(["experiment", "heads", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
