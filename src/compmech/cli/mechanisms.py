"""``compmech mechanisms RUN_DIR`` (attention vs the theory's decay) and ``compmech intervene RUN_DIR``
(belief interventions with their controls); both write into ``RUN_DIR/mechanisms/``."""

from __future__ import annotations

import argparse

from compmech.cli.common import UsageError
from compmech.cli.probe import _run_dir


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {value!r}")
    return n


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
    m.add_argument("--seed", type=int, default=0, help="seed of the sample when inputs are sampled")
    m.add_argument("--force", action="store_true", help="overwrite mechanisms/attention.json")
    m.set_defaults(func=run_mechanisms)

    i = subparsers.add_parser(
        "intervene", help="move activations so the probe decodes a target belief; compare the "
        "prediction with the theory's (RUN_DIR/mechanisms/)",
        description="At each hook: fit the belief probe as `compmech probe` does, move the "
        "activation at one position by the minimum-norm change making the probe decode a target "
        "belief eta* (and by the change of least norm in the activations' own metric), run the rest "
        "of the network, and report KL(P(.|eta*) || prediction) in bits against no change, a random "
        "change of the same norm and one in the probe's null space.")
    i.add_argument("run_dir", metavar="RUN_DIR", help="a run written by `compmech train`")
    i.add_argument("--hooks", nargs="+", metavar="HOOK",
                   help="hooks to intervene at (default: the model's probe grid)")
    i.add_argument("--pairs", type=_positive_int, default=2000,
                   help="(input, target) pairs (default 2000)")
    i.add_argument("--step", type=int, default=None, help="checkpoint (default: the last)")
    i.add_argument("--seed", type=int, default=0, help="seed of folds, pairs and directions")
    i.add_argument("--force", action="store_true", help="overwrite mechanisms/interventions.json")
    i.add_argument("--quiet", action="store_true", help="no progress lines")
    i.set_defaults(func=run_intervene)


def run_mechanisms(args: argparse.Namespace) -> int:
    from compmech.pipeline.mechanism_reports import run_attention_analysis
    from compmech.pipeline.mechanisms import attention_lines, seed_spread, spread_lines

    run_dirs = [_run_dir(r) for r in args.run_dir]
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


def run_intervene(args: argparse.Namespace) -> int:
    from compmech.pipeline.interventions import intervention_lines
    from compmech.pipeline.mechanism_reports import run_interventions

    run_dir = _run_dir(args.run_dir)
    if args.hooks is not None and not args.hooks:
        raise UsageError("--hooks needs at least one hook")
    report, paths = run_interventions(run_dir, hooks=args.hooks, num_pairs=args.pairs,
                                      seed=args.seed, step=args.step, force=args.force,
                                      progress=None if args.quiet else print)
    print("\n".join(intervention_lines(report)))
    print(f"wrote {', '.join(p.name for p in paths)} to {run_dir / 'mechanisms'}")
    return 0


__all__ = ["register", "run_intervene", "run_mechanisms"]
