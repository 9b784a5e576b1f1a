"""``compmech probe RUN_DIR``: writes ``RUN_DIR/probe.json`` (and ``probe_points.npz`` for the
figures) through :func:`compmech.probing.run.probe_run`; an ensemble directory probes every member
(:func:`compmech.probing.ensembles.probe_ensemble`). An existing ``probe.json`` is never overwritten
without ``--force``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from compmech.cli.common import (
    UsageError,
    add_quiet_argument,
    add_seed_argument,
    checked_run_dir,
    parse_checkpoints,
    parse_count_or_word,
    parse_folds,
)

#: ``--curve-words``'s default: :data:`compmech.probing.curve.CURVE_WORDS` (not imported here, to keep
#: the command line light; a test checks that the two agree).
CURVE_WORDS = 4096


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "probe", help="probe a training run for beliefs (writes RUN_DIR/probe.json)",
        description="Fit linear probes from the residual stream to beliefs (all inputs, 20% train "
        "/ 80% test by sequence, OLS with intercept), with the shuffle control and the untrained, "
        "one-hot and random-feature baselines; and the headline hook at every checkpoint.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run written by `compmech train` (or an "
                   "ensemble from `compmech train --seeds`: every member is probed, then the mean "
                   "+- std across seeds is reported)")
    p.add_argument("--checkpoints", type=parse_checkpoints, default="all", metavar="all|last|N",
                   help="checkpoints for the curve over training: all (default), last (and the "
                   "initialisation), or N log-spaced")
    p.add_argument("--hooks", nargs="+", metavar="HOOK",
                   help="hooks to probe at the last checkpoint (default: embedding, every block's "
                   "output, final LayerNorm, and 'concat' of the residual hooks)")
    p.add_argument("--headline", metavar="HOOK",
                   help="hook of the summary and of the curve (default: the last block's output)")
    add_seed_argument(p, "the sampled sequences (when not enumerated), the probe's folds, shuffle "
                      "control, random features, blind controls and nonlinear decoders, the "
                      "figure points and the geometry's subsamples")
    p.add_argument("--split", choices=("auto", "20/80", "80/20"), default="auto",
                   help="train/test share of sequences; auto = the paper's 20/80 unless "
                   "the training side has < 10 points per probe coefficient, then 80/20 "
                   "(default: %(default)s)")
    p.add_argument("--weighting", choices=("uniform", "probability"), default="uniform",
                   help="enumerated inputs: uniform (every point weighs 1) or probability "
                   "(point (word, t) weighs P(word): probability-weighted least squares) "
                   "(default: %(default)s)")
    p.add_argument("--folds", type=parse_folds, metavar="K",
                   help="K-fold cross-validation by sequence (each fold tested once by the probe "
                   "trained on the other K-1, scores pooled) instead of --split (default: none, "
                   "--split)")
    p.add_argument("--rcond-sweep", action="store_true",
                   help="also fit every hook with its rcond cut-off chosen by inner validation")
    p.add_argument("--no-geometry", action="store_true",
                   help="skip the scale-by-scale comparison (paired resolution, equivalent history) at each "
                   "checkpoint")
    p.add_argument("--decoders", nargs="*", choices=("knn", "mlp"), default=["knn", "mlp"],
                   help="nonlinear decoders fitted beside the linear probe at the last checkpoint "
                   "for the last layer and the concatenation (default: knn mlp; none: --decoders)")
    p.add_argument("--curve-words", type=_parse_curve_words, default=CURVE_WORDS, metavar="N|all",
                   help="the checkpoints between the first and the last are probed on a fixed "
                   "seeded subset of N sequences (default %(default)s; all: every checkpoint on "
                   "every sequence)")
    p.add_argument("--force", action="store_true", help="overwrite an existing probe.json")
    add_quiet_argument(p)
    p.set_defaults(func=run_probe)


def _parse_curve_words(value: str) -> int | None:
    """An argparse type: ``"all"`` (``None``) or a number of sequences >= 1."""
    n = parse_count_or_word(value, ("all",), 1, "sequences")
    return None if n == "all" else n


def run_probe(args: argparse.Namespace) -> int:
    from compmech.probing.run import probe_run
    from compmech.probing.summary import summary_lines

    run_dir = checked_run_dir(args.run_dir, ensemble_ok=True)
    if args.folds is not None and args.split != "auto":
        raise UsageError("give either --split or --folds K, not both")
    if (run_dir / "ensemble.json").is_file():
        return _probe_ensemble(args, run_dir)
    report = probe_run(run_dir, _config(args), force=args.force, progress=not args.quiet)
    print("\n".join(summary_lines(report)))
    print(f"wrote {run_dir / 'probe.json'}")
    return 0


def _config(args: argparse.Namespace):
    """The :class:`~compmech.probing.config.ProbeConfig` of the command's flags."""
    from compmech.probing.config import ProbeConfig

    try:
        return ProbeConfig(checkpoints=args.checkpoints,
                           hooks=tuple(args.hooks) if args.hooks else None,
                           headline=args.headline, seed=args.seed, split=args.split,
                           weighting=args.weighting, folds=args.folds,
                           rcond_sweep=args.rcond_sweep, geometry=not args.no_geometry,
                           decoders=tuple(args.decoders), curve_words=args.curve_words)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _probe_ensemble(args: argparse.Namespace, run_dir: Path) -> int:
    from compmech.probing.ensembles import ENSEMBLE_PROBE_FILE, ensemble_summary_lines, probe_ensemble

    report = probe_ensemble(run_dir, _config(args), force=args.force, progress=not args.quiet)
    print("\n".join(ensemble_summary_lines(report)))
    print(f"wrote {run_dir / ENSEMBLE_PROBE_FILE} and each member's probe.json")
    return 0


__all__ = ["register", "run_probe"]
