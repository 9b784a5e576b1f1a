"""The prediction-blind controls of trained networks, mean +- std over the members of ensembles.

For each ensemble folder (``compmech train --seeds ...``, or the ensembles that
``experiments/intervention_numbers.py`` trains), every member is probed at its last checkpoint
(``compmech probe --checkpoints last --no-geometry --decoders``: the linear probe and
its controls, among them ``hooks.<hook>.blind``; a member already probed is read, not redone) and
the script prints, per hook, each control of :class:`compmech.probing.blind.BlindControls` as
mean +- sample standard deviation over the members (the seed spread).

    python experiments/blind_numbers.py /work/runs/iv/rrxor_transformer /work/runs/iv/rrxor_gru
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from compmech.probing.config import ProbeConfig
from compmech.probing.data import PROBE_FILE
from compmech.probing.report import ProbeReport
from compmech.probing.run import probe_run
from transformer import load_ensemble

FIELDS = ("share", "lookup_share", "belief_r2", "next_token_r2", "log_next_token_r2",
          "prediction_lookup_r2", "blind_r2", "blind_shuffle_r2", "blind_log_next_token_r2",
          "geometric_shuffle_r2")


def member_reports(folder: Path) -> list[ProbeReport]:
    """Each member's probe (probed now when it has none)."""
    reports = []
    for run in load_ensemble(folder).members:
        path = Path(run.run_dir) / PROBE_FILE
        if path.is_file():
            report = ProbeReport.read(path)
            if all(h.blind is not None or k == "concat" for k, h in report.hooks.items()):
                reports.append(report)
                continue
        reports.append(probe_run(run.run_dir, ProbeConfig(checkpoints="last", geometry=False,
                                                          decoders=()),
                                 force=True, progress=False))
    return reports


def _cell(values: list[float]) -> str:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return "n/a"
    if len(finite) == 1:
        return f"{finite[0]:.3f}"
    return f"{np.mean(finite):.3f} ± {np.std(finite, ddof=1):.3f}"


def lines(folder: Path, reports: list[ProbeReport]) -> list[str]:
    out = [f"== {folder.name}: {len(reports)} members, process {reports[0].process}"]
    for hook in reports[0].hooks:
        controls = [r.hooks[hook].blind for r in reports]
        if any(c is None for c in controls):
            continue
        if not controls[0].applicable:
            out.append(f"  {hook:<26} not applicable (no prediction-blind subspace)")
            continue
        cells = "; ".join(f"{f} {_cell([getattr(c, f) for c in controls])}" for f in FIELDS)
        against = sorted({a for c in controls for a in c.against_network()})
        out.append(f"  {hook:<26} {cells}; against the network in some seed: "
                   f"{', '.join(against) if against else 'none'}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="blind_numbers.py", description=__doc__.split("\n")[0])
    p.add_argument("ensembles", nargs="+", type=Path, help="ensemble folders")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    for folder in args.ensembles:
        if not (folder / "ensemble.json").is_file():
            print(f"compmech: error: {folder} is not an ensemble folder (no ensemble.json)",
                  file=sys.stderr)
            return 2
    for folder in args.ensembles:
        print("\n".join(lines(folder, member_reports(folder))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
