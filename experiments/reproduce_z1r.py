"""Reproduce Shai et al. (2024): Z1R(p=0.5) on the paper's Mess3 model shape with a 2-token vocabulary.

Train -> probe -> figures -> summary table, all by the library (`compmech.analysis.reproduce`); this
script only supplies the experiment's name and a default output folder. Extra arguments are those of
`compmech reproduce` (e.g. `--minutes 5`, `--force`, `--tiny`).

Usage:
    python experiments/reproduce_z1r.py [--out runs/z1r] [--minutes M] [--force]
"""

import sys

from compmech.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out" not in args and not any(a.startswith("--out=") for a in args):
        args += ["--out", "runs/z1r"]
    raise SystemExit(main(["reproduce", "z1r", *args]))
