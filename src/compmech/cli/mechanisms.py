"""``compmech mechanisms RUN_DIR`` (attention vs the theory's decay) and ``compmech intervene RUN_DIR``
(belief interventions with their controls); both write into ``RUN_DIR/mechanisms/``."""

from __future__ import annotations

import argparse
from pathlib import Path

from compmech.cli.common import (
    UsageError,
    add_quiet_argument,
    add_seed_argument,
    checked_run_dir,
    parse_positive_int,
)


def register(subparsers) -> None:
    m = subparsers.add_parser(
        "mechanisms", help="attention decay per head vs the theory's lambda and rho* "
        "(RUN_DIR/mechanisms/)",
        description="For a transformer run: every head's attention pattern averaged over all "
        "inputs (weighted by probability), fitted on the log scale by log A = c_t + (t-s) log rho "
        "over 1 <= s < t (diagonal and first position excluded; also on even or odd distances "
        "only), beside the theory's lambda (non-unit eigenvalues of sum_x T[x], the weak-emission "
        "limit) and rho* (the constrained update's best decay, compmech.constrained_decay); "
        "writes attention.json, the mean patterns and attention_vs_distance.png. Given several "
        "runs (e.g. seeds of one model), also prints each decay's mean +- std over them.")
    m.add_argument("run_dir", metavar="RUN_DIR", nargs="+",
                   help="runs written by `compmech train` (several: the spread over them)")
    m.add_argument("--step", type=int, default=None, help="checkpoint (default: the last)")
    add_seed_argument(m, "the sample of inputs when they are sampled rather than enumerated")
    m.add_argument("--force", action="store_true", help="overwrite mechanisms/attention.json")
    m.set_defaults(func=run_mechanisms)

    i = subparsers.add_parser(
        "intervene", help="move activations so the probe decodes a target belief; compare the "
        "prediction with the theory's (RUN_DIR/mechanisms/)",
        description="At each hook: fit the belief probe as `compmech probe` does, move the "
        "activation at one position by the minimum-norm change making the probe decode a target "
        "belief eta* (and by the change of least norm in the activations' own metric), run the rest "
        "of the network, and report KL(P(.|eta*) || prediction) in bits against no change, a random "
        "change of the same norm, one in the probe's null space (with the total variation it "
        "causes), a ceiling (a donor activation whose belief is eta*), a same-belief swap and the "
        "same-size move of a probe fitted to shuffled targets; then the beyond-next-token test "
        "(patch at t, compare the prediction at t+1 with P(.|update(eta*, x_t+1))) and, where the "
        "process has a prediction-blind subspace, steering along it. Several runs (or an "
        "ensemble): each run's report, then mean +- std over the runs (seed spread).")
    i.add_argument("run_dir", metavar="RUN_DIR", nargs="+",
                   help="runs written by `compmech train` (seeds of one recipe), or an ensemble")
    i.add_argument("--summary", metavar="FILE", default=None,
                   help="with several runs: write the spread over seeds here (default: "
                   "ENSEMBLE/mechanisms/interventions_seeds.json for an ensemble, else not written)")
    i.add_argument("--hooks", nargs="+", metavar="HOOK",
                   help="hooks to intervene at (default: the model's probe grid)")
    i.add_argument("--pairs", type=parse_positive_int, default=2000,
                   help="(input, target) pairs (default: %(default)s)")
    i.add_argument("--step", type=int, default=None, help="checkpoint (default: the last)")
    add_seed_argument(i, "the probe's folds, the pairs and the random directions")
    i.add_argument("--force", action="store_true", help="overwrite mechanisms/interventions.json")
    add_quiet_argument(i)
    i.set_defaults(func=run_intervene)


def run_mechanisms(args: argparse.Namespace) -> int:
    from compmech.experiments.mechanisms import run_attention_analysis
    from compmech.mechanisms.attention import attention_lines, seed_spread, spread_lines

    run_dirs = [checked_run_dir(r) for r in args.run_dir]
    reports = []
    for run_dir in run_dirs:
        report, paths = run_attention_analysis(run_dir, step=args.step, seed=args.seed,
                                               force=args.force)
        reports.append(report)
        if len(run_dirs) > 1:
            print(f"== {run_dir}")
        print("\n".join(attention_lines(report)))
        print(f"wrote {', '.join(p.name for p in paths)} to {run_dir / 'mechanisms'}")
    if len(reports) > 1:
        try:
            print("\n".join(spread_lines(seed_spread(reports))))
        except ValueError as err:
            raise UsageError(str(err)) from None
    return 0


def _intervention_runs(paths: list[str]) -> tuple[list[Path], Path | None]:
    """The run directories named (an ensemble's members in its place) and the ensemble, if one
    directory was named and it is an ensemble."""
    from transformer import load_ensemble

    runs: list[Path] = []
    for path in paths:
        run_dir = checked_run_dir(path, ensemble_ok=True)
        if (run_dir / "ensemble.json").is_file():
            runs += [run.run_dir for run in load_ensemble(run_dir).members]
        else:
            runs.append(run_dir)
    single = len(paths) == 1 and (Path(paths[0]) / "ensemble.json").is_file()
    return runs, Path(paths[0]) if single else None


def run_intervene(args: argparse.Namespace) -> int:
    from compmech.experiments.mechanisms import (
        INTERVENTION_SEEDS_FILE,
        MECHANISMS_DIR,
        run_intervention_seeds,
        run_interventions,
    )
    from compmech.mechanisms.intervention_records import intervention_lines, seed_summary_lines

    if args.hooks is not None and not args.hooks:
        raise UsageError("--hooks needs at least one hook")
    runs, ensemble = _intervention_runs(args.run_dir)
    options = dict(hooks=args.hooks, num_pairs=args.pairs, seed=args.seed, step=args.step,
                   force=args.force, progress=None if args.quiet else print)
    if len(runs) == 1:
        report, paths = run_interventions(runs[0], **options)
        print("\n".join(intervention_lines(report)))
        print(f"wrote {', '.join(p.name for p in paths)} to {runs[0] / MECHANISMS_DIR}")
        return 0
    summary_path = args.summary
    if summary_path is None and ensemble is not None:
        (ensemble / MECHANISMS_DIR).mkdir(exist_ok=True)
        summary_path = ensemble / MECHANISMS_DIR / INTERVENTION_SEEDS_FILE
    reports, summary = run_intervention_seeds(runs, summary_path=summary_path, **options)
    for report in reports:
        print(f"run {report.run_dir}")
        print("\n".join(intervention_lines(report)))
    print("\n".join(seed_summary_lines(summary)))
    if summary_path is not None:
        print(f"wrote {summary_path}")
    return 0


__all__ = ["register", "run_intervene", "run_mechanisms"]
