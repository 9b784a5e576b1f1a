"""The ``compmech`` command line.

Each subcommand lives in a module of this package that defines ``register(subparsers)``; the module
adds its parser and sets ``func=run_function`` with ``set_defaults``. ``run_function(args) -> int``
only turns arguments into a config and calls one stage's entry function or a library function. The
stages (:mod:`compmech.probing`, :mod:`compmech.mechanisms`, :mod:`compmech.figures`,
:mod:`compmech.experiments`) and the models pull in flax, optax and matplotlib, so the run
functions import them when they run (the one place our own modules are imported inside functions),
and ``compmech --help`` stays fast.

Every user error is raised as :class:`~compmech.cli.common.UsageError` or ``ValueError`` and printed
as one line on stderr with exit code 2.
"""

from __future__ import annotations

import importlib
import sys

from compmech._version import __version__
from compmech.cli.common import SEEDS_LIST_HINT, ArgumentParser, UsageError

#: Modules that contribute subcommands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "compmech.cli.data",
    "compmech.cli.theory",
    "compmech.cli.train",
    "compmech.cli.probe",
    "compmech.cli.figures",
    "compmech.cli.reproduce",
    "compmech.cli.experiment",
    "compmech.cli.mechanisms",
)


def build_parser() -> ArgumentParser:
    """The top-level parser with every available subcommand."""
    parser = ArgumentParser(
        prog="compmech",
        description="Computational mechanics of belief states, and probes of transformers for them.",
    )
    parser.add_argument("--version", action="version", version=f"compmech {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 2 user error)."""
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:  # argparse's own message, with a hint where the command has one
            hint = getattr(args, "unknown_hint", None)
            text = hint(extra) if hint else ""
            if getattr(args, "seeds", None) is not None and all(e.isdigit() for e in extra):
                text += f"; {SEEDS_LIST_HINT}"  # an old space-separated list
            parser.error(f"unrecognized arguments: {' '.join(extra)}{text}")
        return int(args.func(args) or 0)
    except (UsageError, ValueError, OSError) as err:  # OSError: FileExistsError, WriteError, ...
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"compmech: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # Ctrl-C, or training stopped by SIGINT/SIGTERM after saving
        print(f"compmech: {stop}" if str(stop) else "compmech: interrupted", file=sys.stderr)
        return int(getattr(stop, "exit_code", 130))


__all__ = ["main", "build_parser"]
