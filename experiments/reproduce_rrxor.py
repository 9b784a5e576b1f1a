"""Reproduce Shai et al. (2024): RRXOR(0.5, 0.5) with d_model 128 and 4 heads of 16;
probe of the concatenated residual stream; the 5-state simplex by PCA.

Train -> probe -> figures -> summary table, all by the library (`compmech.analysis.reproduce`); this
script only supplies the experiment's name and a default output folder. Extra arguments are those of
`compmech reproduce` (e.g. `--minutes 5`, `--force`, `--tiny`).

Usage:
    python experiments/reproduce_rrxor.py [--out runs/rrxor] [--minutes M] [--force]
"""

import sys

from compmech.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out" not in args and not any(a.startswith("--out=") for a in args):
        args += ["--out", "runs/rrxor"]
    raise SystemExit(main(["reproduce", "rrxor", *args]))
