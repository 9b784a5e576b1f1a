"""Reproduce Shai et al. (2024): Mess3(x=0.05, alpha=0.85) on the paper's 4-layer d_model-64 model;
probe of the last block's output (paper: held-out MSE 3.9e-4 after ~1M SGD steps).

Train -> probe -> figures -> summary table, all by the library (`compmech.analysis.reproduce`); this
script only supplies the experiment's name and a default output folder. Extra arguments are those of
`compmech reproduce` (e.g. `--minutes 5`, `--force`, `--tiny`).

Usage:
    python experiments/reproduce_mess3.py [--out runs/mess3] [--minutes M] [--force]
"""

import sys

from compmech.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out" not in args and not any(a.startswith("--out=") for a in args):
        args += ["--out", "runs/mess3"]
    raise SystemExit(main(["reproduce", "mess3", *args]))
