"""The intervention numbers over seeds: Mess3 and RRXOR, transformer and GRU.

For each process (Mess3(0.05, 0.85) with the paper's model; RRXOR(0.5, 0.5) with its paper model,
d_model 128, 4 heads of d_head 16, d_mlp 512) and architecture (that transformer; a GRU, 4 layers of
64 as in Riechers et al. 2025, n_ctx 10), a seed ensemble is trained in one compiled program on a
wall-clock budget (``--minutes``, per ensemble), every member goes through ``compmech intervene``
(the same-position test with its controls, the beyond-next-token test, and for RRXOR the steering
along its 3-dimensional prediction-blind subspace), and the script prints, per hook and
condition, the mean KL in bits (and TV) as mean ± sample standard deviation over the seeds (the
seed spread). Each ensemble's ``mechanisms/interventions_seeds.json`` keeps the numbers.

Budget: 4 ensembles x ``--minutes`` of training (default 5: 20 minutes) plus the interventions of
every member at every hook. Measured for one member at 500 pairs on the 2 shared cores under a
load average of 12-15 (so an upper bound): Mess3 transformer (6 hooks) 146 s, RRXOR transformer
(6 hooks) 78 s, Mess3 GRU (5 hooks) 206 s; with 3 seeds the interventions take about 30 minutes
more. For the numbers of docs/results.md, say what was run and for how long.

    python experiments/intervention_numbers.py --out reports/interventions
    python experiments/intervention_numbers.py --out /tmp/iv --tiny      # seconds, for tests
    python experiments/intervention_numbers.py --out reports/interventions --tables  # markdown

``--tables`` trains nothing: it prints the markdown tables of the results page from the ensembles'
``interventions_seeds.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from compmech.experiments.mechanisms import INTERVENTION_SEEDS_FILE, MECHANISMS_DIR, run_interventions
from compmech.experiments.reproduce import reproduction_config
from compmech.mechanisms.intervention_records import seed_summary, seed_summary_lines
from transformer import load_ensemble, recurrent_config, train_ensemble

PROCESSES = ("mess3", "rrxor")
ARCHS = ("transformer", "gru")


def config(process: str, arch: str, *, minutes: float, tiny: bool, steps: int | None = None,
           batch_size: int | None = None):
    """The training config: the paper's transformer of ``process`` (``compmech reproduce``'s), or a
    GRU (4 layers of 64, n_ctx 10) with the same data and optimiser. ``steps`` replaces the
    wall-clock budget by an exact step count (reproducible on a loaded machine)."""
    base = reproduction_config(process, minutes=None if tiny or steps else minutes, tiny=tiny)
    if steps and not tiny:
        base = base.replace(steps=steps, minutes=None)
    if batch_size and not tiny:
        base = base.replace(batch_size=batch_size)
    if arch == "transformer":
        return base
    model = recurrent_config("gru", n_layers=1 if tiny else 4, d_hidden=8 if tiny else 64,
                             n_ctx=base.model.n_ctx, d_vocab=base.model.d_vocab)
    return base.replace(model=model)


def _cell(entry) -> str:
    if entry is None or entry.get("mean") is None:
        return "n/a"
    mean, std = entry["mean"], entry.get("std")
    return f"{mean:.3g}" if std is None else f"{mean:.3g} ± {std:.2g}"


def markdown_tables(summary: dict, title: str) -> list[str]:
    """The results page's tables of one ensemble's ``interventions_seeds.json`` (KL in bits and TV,
    mean ± sample std over seeds, activations'-metric conditions)."""
    n = len(summary["runs"])
    out = [f"**{title}** ({n} seeds; mean ± std over seeds). Same position, KL(P(.|eta*) ‖ q) "
           "in bits; the null-space column is the total variation it causes (0 = the output "
           "ignores directions the probe cannot see):", "",
           "| hook | none | intervened | random | null space (TV) | ceiling | same belief | "
           "shuffled probe |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for hook, kl in summary["kl_bits"].items():
        tv = summary["tv_from_none"][hook]
        out.append(f"| {hook} | {_cell(kl.get('none'))} | {_cell(kl.get('intervened_cov'))} | "
                   f"{_cell(kl.get('random_cov'))} | {_cell(tv.get('null_space_cov'))} | "
                   f"{_cell(kl.get('ceiling'))} | {_cell(kl.get('same_belief'))} | "
                   f"{_cell(kl.get('shuffled_probe'))} |")
    out += ["", "Beyond the next token (patch at t, the true x_{t+1} let in, KL at t+1 against "
            "P(x_{t+2} | update(eta*, x_{t+1})) in bits):", "",
            "| hook | none | intervened | random | ceiling |", "|---|---:|---:|---:|---:|"]
    for hook, kl in summary["ahead_kl_bits"].items():
        out.append(f"| {hook} | {_cell(kl.get('none'))} | {_cell(kl.get('intervened_cov'))} | "
                   f"{_cell(kl.get('random_cov'))} | {_cell(kl.get('ceiling'))} |")
    if summary.get("blind_tv_now"):
        out += ["", "Steering along the prediction-blind subspace (TV of the prediction now, which "
                "must stay put, and at t+1, against the theory's TV at t+1):", "",
                "| hook | now: blind | now: random | later: blind | later: random | later: theory |",
                "|---|---:|---:|---:|---:|---:|"]
        for hook, now in summary["blind_tv_now"].items():
            later = summary["blind_tv_later"][hook]
            out.append(f"| {hook} | {_cell(now.get('blind_cov'))} | {_cell(now.get('random_cov'))}"
                       f" | {_cell(later.get('blind_cov'))} | {_cell(later.get('random_cov'))} | "
                       f"{_cell(summary['blind_theory_tv_later'][hook])} |")
    return out


def parse(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="intervention_numbers.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder of the ensembles")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (>= 3 "
                   "for the published numbers, docs/results.md)")
    p.add_argument("--minutes", type=float, default=5.0, help="training budget per ensemble")
    p.add_argument("--steps", type=int, default=None, help="train exactly this many steps per "
                   "ensemble instead of --minutes (reproducible whatever the machine's load)")
    p.add_argument("--batch-size", type=int, default=None, help="sequences per step (default: "
                   "the reproduction's, 1024)")
    p.add_argument("--pairs", type=int, default=500, help="(input, target) pairs per test")
    p.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=PROCESSES)
    p.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    p.add_argument("--tiny", action="store_true", help="seconds-long models and training (tests)")
    p.add_argument("--force", action="store_true", help="train again over existing ensembles")
    p.add_argument("--tables", action="store_true", help="print the markdown tables of existing "
                   "results and train nothing")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        print("compmech: error: seeds must be distinct non-negative integers", file=sys.stderr)
        return 2
    if not args.minutes > 0 or args.pairs < 1 or (args.steps is not None and args.steps < 1):
        print("compmech: error: --minutes, --steps and --pairs must be positive", file=sys.stderr)
        return 2
    out = Path(args.out)
    if args.tables:
        for process in args.processes:
            for arch in args.archs:
                path = out / f"{process}_{arch}" / MECHANISMS_DIR / INTERVENTION_SEEDS_FILE
                if path.is_file():
                    print("\n".join(markdown_tables(json.loads(path.read_text()),
                                                     f"{process}, {arch}")) + "\n")
        return 0
    for process in args.processes:
        for arch in args.archs:
            folder = out / f"{process}_{arch}"
            t0 = time.perf_counter()
            if args.force or not (folder / "ensemble.json").is_file():
                train_ensemble(config(process, arch, minutes=args.minutes, tiny=args.tiny,
                                      steps=args.steps, batch_size=args.batch_size),
                               args.seeds, folder, force=True, progress=False)
            t_train = time.perf_counter() - t0
            reports = [run_interventions(run.run_dir, num_pairs=args.pairs, force=True)[0]
                       for run in load_ensemble(folder).members]
            summary = seed_summary(reports)
            (folder / MECHANISMS_DIR).mkdir(exist_ok=True)
            summary.write(folder / MECHANISMS_DIR / INTERVENTION_SEEDS_FILE)
            print(f"== {process}, {arch}: {len(reports)} seeds; training {t_train:.0f} s, "
                  f"interventions {time.perf_counter() - t0 - t_train:.0f} s; "
                  f"blind subspace: {reports[0].blind_note}", flush=True)
            print("\n".join(seed_summary_lines(summary)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
