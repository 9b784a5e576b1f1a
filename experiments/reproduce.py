"""Reproduce a published result in one command: train -> probe -> figures -> summary table.

    python experiments/reproduce.py mess3 [--out runs/mess3] [--minutes M] [--force] [--tiny]
    python experiments/reproduce.py rrxor | z1r | bottleneck ...

NAME is one of `compmech reproduce`'s experiments (mess3: Shai et al. 2024, Mess3(0.05, 0.85) on
the paper's 4-layer d_model-64 model, probe of the last block's output, paper: held-out MSE 3.9e-4
after ~1M SGD steps; rrxor: d_model 128 with 4 heads of 16, probe of the concatenated residual
stream; z1r: the Mess3 model with a 2-token vocabulary). The other arguments are those of
`compmech reproduce`; `--out` defaults to runs/NAME.
"""

import sys

from compmech import cli


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and not args[0].startswith("-") and "--out" not in args \
            and not any(a.startswith("--out=") for a in args):
        args += ["--out", f"runs/{args[0]}"]
    return cli.main(["reproduce", *args])


if __name__ == "__main__":
    raise SystemExit(main())
