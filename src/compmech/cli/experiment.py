"""``compmech experiment bottleneck|sweep|heads``: the experiments beyond the paper, with every
setting.

Each writes a self-contained report folder (figures, ``summary.json``, ``README.md``) and resumes
after an interruption (rerun the same command: finished jobs are not redone).
"""

from __future__ import annotations

import argparse
import sys

from compmech.cli.common import UsageError, add_quiet_argument, add_seed_argument, add_seeds_argument

#: The experiments, each a sub-command with its own options.
EXPERIMENTS = ("bottleneck", "sweep", "heads")
#: The options that only some experiments take (for the hint when one is given to another).
OWN_OPTIONS = {
    "--widths": ("bottleneck",), "--max-checkpoints": ("bottleneck",),
    "--xs": ("sweep", "heads"), "--alphas": ("sweep", "heads"), "--extras": ("sweep",),
    "--decoders": ("sweep",), "--seeds": ("heads",), "--heads": ("heads",),
    "--head-width": ("heads",), "--alpha": ("heads",),
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "experiment", help="run an experiment beyond the paper (bottleneck, sweep, heads) into a "
        "report folder",
        description="Train, probe and report one experiment as resumable jobs: `bottleneck` (Mess3 "
        "with the residual stream narrowed to each width, and a width-1 linear bottleneck), `sweep` "
        "(one model per Mess3 (x, alpha) grid point plus other processes), `heads` (one-layer "
        "models with 1 and 2 heads on Mess3 across x = 1/3, where lambda = 1 - 3x changes sign). "
        "Rerunning the same command resumes it; a folder holding other settings is refused. Each "
        "experiment is a sub-command with its own options: `compmech experiment heads --help`.")
    experiments = p.add_subparsers(dest="experiment", metavar="EXPERIMENT",
                                   parser_class=type(p))
    experiments.required = True
    b = experiments.add_parser(
        "bottleneck", help="Mess3 with the residual stream narrowed to each width",
        description="Mess3 with the residual stream narrowed to each d_model, and the paper's "
        "model with a width-1 linear bottleneck after its last block: loss gap, probe and the "
        "learned geometry per width, and the one coordinate over training.")
    _common_arguments(b, minutes="2", steps="none, --minutes decides")
    b.add_argument("--widths", type=int, nargs="+", default=None,
                   help="residual widths (default: 1 2 3 4 8 16 64)")
    b.add_argument("--max-checkpoints", type=int, default=8,
                   help="checkpoints analysed for the width-1 coordinate over training (default: "
                   "%(default)s)")
    w = experiments.add_parser(
        "sweep", help="one model per Mess3 (x, alpha) grid point, plus other processes",
        description="One model per Mess3 (x, alpha) grid point plus other catalogue processes: "
        "probe MSE, paired resolution beside its null model, equivalent history, nonlinear "
        "decoders and Markov lookups per point, as heat maps.")
    _common_arguments(w, minutes="2", steps="none, --minutes decides")
    w.add_argument("--xs", type=float, nargs="+", default=None,
                   help="Mess3 x values, the rows (default: 0.05 0.1 0.15 0.2 0.25)")
    w.add_argument("--alphas", type=float, nargs="+", default=None,
                   help="Mess3 alpha values, the columns (default: 0.45 0.55 0.65 0.75 0.85)")
    w.add_argument("--extras", nargs="*", default=None,
                   help="other catalogue processes for the summary table (default: z1r rrxor even "
                   "golden_mean)")
    w.add_argument("--decoders", nargs="*", choices=("knn", "mlp"), default=None,
                   help="nonlinear decoders beside the linear probe at every point (default: knn; "
                   "none: --decoders)")
    h = experiments.add_parser(
        "heads", help="one-layer models with 1 and 2 heads across x = 1/3",
        description="One-layer transformers on Mess3 with 1 and 2 attention heads of the same "
        "total width, at x on both sides of 1/3 (where lambda = 1 - 3x changes sign): loss gap, "
        "probe error and each head's attention fit against the theory (lambda, rho*); with "
        "--alphas, the alpha sweep at fixed x.")
    _common_arguments(h, minutes="none, --steps decides", steps="600")
    h.add_argument("--xs", type=float, nargs="+", default=None,
                   help="Mess3 x values (default: 0.05 0.15 0.25 0.40 0.45, or 0.05 with --alphas)")
    h.add_argument("--alphas", type=float, nargs="+", default=None,
                   help="the alpha sweep at fixed x (e.g. --alphas 0.4 0.5 0.6 0.7 0.85): the first "
                   "layer's decay set against lambda and rho* (default: none, --alpha)")
    h.add_argument("--alpha", type=float, default=None,
                   help="Mess3 alpha of every model (default: 0.85)")
    add_seeds_argument(h, "one model per training seed, each trained and probed with its own seed "
                       "(--seed is then refused), decays reported as mean +- std over them",
                       "none, one model per setting, seeded by --seed",
                       note="Changed: this option took a space-separated list (--seeds 0 1 2, "
                       "now --seeds 0,1,2), and one number N meant the one seed N, not N seeds")
    h.add_argument("--heads", type=int, nargs="+", default=None,
                   help="numbers of attention heads (default: 1 2)")
    h.add_argument("--head-width", type=int, default=None,
                   help="n_heads x d_head of every model (default: 16)")
    for sub in (b, w, h):
        sub.set_defaults(func=run_experiment, unknown_hint=misplaced_options)


def _common_arguments(p: argparse.ArgumentParser, *, minutes: str, steps: str) -> None:
    """The options every experiment takes."""
    p.add_argument("--out", required=True, metavar="DIR",
                   help="experiment folder (created; reused to resume)")
    p.add_argument("--minutes", type=float, default=None,
                   help=f"training budget per job in minutes (default: {minutes})")
    p.add_argument("--steps", type=int, default=None,
                   help=f"train exactly this many steps instead of a time budget (default: {steps})")
    add_seed_argument(p, "the initialisation, the training data and the probe of every job",
                      default=None, default_text="0")
    p.add_argument("--workers", type=int, default=1,
                   help="parallel worker processes (default: %(default)s)")
    p.add_argument("--device", choices=("cpu", "gpu", "auto"), default=None,
                   help="training device; auto: a GPU when JAX sees one, else the CPU (default: "
                   "auto)")
    p.add_argument("--gallery", default=None, metavar="DIR",
                   help="also copy the figures (each < 300 KB) and README into DIR, e.g. "
                   "docs/gallery (default: none)")
    p.add_argument("--force", action="store_true",
                   help="rewrite a folder holding an experiment with other settings")
    add_quiet_argument(p)


def misplaced_options(extra: list[str]) -> str:
    """The hint for options the chosen experiment does not take: which experiments take them
    (``"--decoders is a sweep option (one of the sweep options: see ...)"``), or ``""``."""
    hints = []
    for flag in extra:
        owners = OWN_OPTIONS.get(flag.split("=", 1)[0])
        if owners:
            names = " and ".join(owners)
            hints.append(f"{flag.split('=', 1)[0]} is a {names} option (one of the {names} "
                         f"options: see `compmech experiment {owners[0]} --help`)")
    return "; " + "; ".join(hints) if hints else ""


def _common(args: argparse.Namespace) -> dict:
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError(f"--minutes must be > 0; got {args.minutes}")
    minutes = args.minutes if args.minutes is not None else (
        None if args.experiment == "heads" else 2.0)
    if getattr(args, "seeds", None) is not None and args.seed is not None:
        raise UsageError("give either --seed or --seeds, not both: with --seeds every model is "
                         "trained and probed with its own seed")
    seed = 0 if args.seed is None else args.seed
    return dict(minutes=None if args.steps else minutes, steps=args.steps, seed=seed,
                workers=args.workers, device=args.device, force=args.force,
                log=None if args.quiet else print)


def _training_options(common: dict) -> dict:
    """The options of :func:`_common` that go into an experiment's config (``steps``, ``seed``,
    ``device``), taken out of ``common``; what stays are the run's I/O keywords."""
    return {key: common.pop(key) for key in ("steps", "seed", "device")}


def run_experiment(args: argparse.Namespace) -> int:
    from compmech.experiments import bottleneck, heads, sweep
    from compmech.experiments.reports import export_gallery

    common = _common(args)
    minutes = common.pop("minutes")
    if args.experiment == "heads":
        if args.alphas and args.alpha is not None:
            raise UsageError("give --alpha (one value) or --alphas (the alpha sweep), not both")
        if minutes is None and common["steps"] is None:
            common["steps"] = heads.DEFAULT_STEPS
        xs = args.xs or ((heads.ALPHA_SWEEP_X,) if args.alphas else heads.DEFAULT_X)
        config = heads.HeadsConfig(
            xs=xs, heads=args.heads or heads.DEFAULT_HEADS,
            alpha=heads.DEFAULT_ALPHA if args.alpha is None else args.alpha, alphas=args.alphas,
            seeds=args.seeds, head_width=args.head_width or heads.DEFAULT_HEAD_WIDTH,
            minutes_per_job=minutes, steps=common.pop("steps"), seed=common.pop("seed"))
        summary = heads.run_heads(args.out, config, **common)
    elif args.experiment == "bottleneck":
        training = _training_options(common)
        config = bottleneck.BottleneckConfig(
            widths=args.widths or bottleneck.DEFAULT_WIDTHS, minutes_per_width=minutes,
            max_checkpoints=args.max_checkpoints, **training)
        summary = bottleneck.run_bottleneck(args.out, config, progress=False, **common)
    else:
        training = _training_options(common)
        config = sweep.SweepConfig(
            xs=args.xs or sweep.DEFAULT_X, alphas=args.alphas or sweep.DEFAULT_ALPHA,
            extras=sweep.DEFAULT_EXTRAS if args.extras is None else args.extras,
            minutes_per_point=minutes,
            decoders=sweep.DEFAULT_DECODERS if args.decoders is None else tuple(args.decoders),
            **training)
        summary = sweep.run_sweep(args.out, config, **common)
    if args.gallery:
        export_gallery(args.out, args.gallery, prefix=args.experiment, force=args.force)
    if summary.failed:
        print(f"{len(summary.failed)} job(s) failed; rerun the same command to retry them",
              file=sys.stderr)
    print(f"report: {args.out}/README.md ({', '.join(summary.files)})")
    return 0


__all__ = ["register", "run_experiment", "misplaced_options"]
