"""Writing files so that nothing already written is lost: every write goes to a temporary file in
the destination folder and is renamed over the final name only when complete.

One helper serves every layer (datasets, run directories, probe reports, figures, experiment
reports): :func:`atomic_output` for writers that take a file handle (``numpy.savez``, matplotlib's
``savefig``, a zip archive), :func:`atomic_write_bytes` / :func:`atomic_write_text` /
:func:`write_json` for data already in memory.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The process's umask, read once: ``mkstemp`` creates ``0600`` files, and the renamed file should
#: get the ordinary mode ``0666 & ~umask`` instead.
_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb", *, sync: bool = True) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` in one rename.

    If the body raises (or the process is interrupted), the temporary file is removed and ``path``
    keeps its previous content (or stays absent): there is never a partial file under the final
    name.

    Args:
        path: the destination; its folder must exist.
        mode: ``"wb"`` or ``"w"`` (text, UTF-8).
        sync: ``fsync`` the data before the rename (survives a power loss).

    Yields:
        The open temporary file.

    Example:
        >>> import numpy as np                                   # doctest: +SKIP
        >>> with atomic_output("points.npz") as fh:              # doctest: +SKIP
        ...     np.savez_compressed(fh, x=np.zeros(3))
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w'; got {mode!r}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, sync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`); returns the path."""
    with atomic_output(path, "wb", sync=sync) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, sync: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"), sync=sync)


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into Python numbers and lists, tuples into
    lists, and NaN or infinite floats into ``None``, so that it is standard JSON."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def write_json(path: str | os.PathLike, data: Any, *, indent: int | None = 1) -> Path:
    """Write ``data`` (after :func:`to_jsonable`) as JSON plus a final newline to ``path``,
    atomically; returns the path."""
    text = json.dumps(to_jsonable(data), indent=indent, allow_nan=False)
    return atomic_write_text(path, text + "\n")


__all__ = ["atomic_output", "atomic_write_bytes", "atomic_write_text", "to_jsonable", "write_json"]
