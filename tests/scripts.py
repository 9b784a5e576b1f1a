"""Load a repository script (``experiments/*.py``, ``benchmarks/*.py``) as a module, for tests of
its functions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str):
    """The module of the script at ``ROOT / relative`` (executed, ``__name__`` not ``__main__``)."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
