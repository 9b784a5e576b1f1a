"""Processes as JSON: :func:`load_hmm` (alias :func:`load_process`) reads one object whose
``kind`` is ``"hmm"`` (the default), ``"ghmm"``, or a registered specification kind;
:func:`process_from_dict` builds from a dict; :func:`save_hmm` writes a process back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from compmech.hmm import GHMM, HMM, Process

SPEC_KINDS: dict[str, Callable[[Mapping[str, Any], str, Path | None], Process]] = {}


#: The reader of Generative Processes Specification objects (``type`` instead of ``kind``),
#: registered by :mod:`compmech.spec`: ``reader(data, source) -> process``.
SPEC_TYPE_READER: list[Callable[[Mapping[str, Any], str], Any]] = []


def register_spec_kind(kind: str, builder: Callable[[Mapping[str, Any], str, Path | None], Process]):
    """Register a builder for JSON specs whose ``kind`` is ``kind`` (see :func:`process_from_dict`)."""
    SPEC_KINDS[kind] = builder


def process_from_dict(data: Mapping[str, Any], source: str = "process data",
                      base_dir: str | os.PathLike | None = None) -> Process:
    """The process a dict describes, dispatching on its ``kind``.

    * ``"hmm"`` (or no ``kind``): :class:`~compmech.hmm.HMM` (the format of :meth:`HMM.to_dict`).
    * ``"ghmm"``: :class:`~compmech.hmm.GHMM` (the format of :meth:`GHMM.to_dict`).
    * ``"mixture"``, ``"product"``, ``"markov_approximation"``: composition specs, built by
      :mod:`compmech.compose` (component files are resolved relative to ``base_dir``).
    * no ``kind`` but a ``type`` (``"hmm"``, ``"ghmm"``, ``"factored"``, ``"nonergodic"``): a
      Generative Processes Specification v1.0 object, read by :func:`compmech.spec.process_from_spec`
      (an HMM/GHMM, the exact joint presentation of a composite, or a stateful process).

    Raises:
        ValueError: for an unknown ``kind`` or an invalid description (one line).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a JSON object at the top level")
    if "type" in data and "kind" not in data and SPEC_TYPE_READER:  # a spec v1.0 process
        return SPEC_TYPE_READER[0](data, source)
    kind = data.get("kind", "hmm")
    if kind == "hmm":
        return HMM.from_dict(data, source)
    if kind == "ghmm":
        return GHMM.from_dict(data, source)
    if kind in SPEC_KINDS:
        return SPEC_KINDS[kind](data, source, None if base_dir is None else Path(base_dir))
    valid = ", ".join(repr(k) for k in ["hmm", "ghmm", *sorted(SPEC_KINDS)])
    raise ValueError(f"{source}: unknown kind {kind!r}; valid kinds are {valid}")


def load_hmm(path: str | os.PathLike) -> Process:
    """Load a process from a JSON file (an HMM, a GHMM, or a mixture/product spec).

    A file with a ``type`` key and no ``kind`` is a Generative Processes Specification v1.0
    process (``docs/process-format.md``; :mod:`compmech.spec`). Otherwise the file is one object.
    Its optional ``kind`` is ``"hmm"`` (the default), ``"ghmm"``,
    ``"mixture"``, ``"product"`` or ``"markov_approximation"`` (specs: see
    :mod:`compmech.compose`). An HMM or GHMM has the required key ``transition_matrices`` (nested
    lists of shape ``(V, S, S)``, ``T[x][i][j] = P(emit x, go to j | in i)`` for an HMM) and the
    optional keys ``initial_distribution`` (``S`` numbers), ``state_names`` (``S`` strings),
    ``token_names`` (``V`` strings), ``name`` (string), ``params`` (object) and ``structure``
    (object, see :class:`~compmech.validation.Composition`); a GHMM also ``right_eigenvector`` (``S``
    numbers).

    Raises:
        ValueError: when the file is missing, is not JSON, or does not describe a valid process.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError as err:
        raise ValueError(f"HMM file not found: {path}") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"HMM file {path} is not valid JSON: {err.msg} (line {err.lineno})") from err
    return process_from_dict(data, source=f"HMM file {path}", base_dir=Path(path).parent)


#: :func:`load_hmm` under a kind-neutral name.
load_process = load_hmm


def save_hmm(hmm: Process, path: str | os.PathLike) -> None:
    """Write ``hmm`` (an HMM or GHMM) to ``path`` in the format read by :func:`load_hmm`."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(hmm.to_dict(), fh, indent=1)
        fh.write("\n")
