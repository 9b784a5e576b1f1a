"""Writing files so that nothing already written is lost.

* Every write goes to a temporary file in the destination folder and is renamed over the final name
  only when complete (:func:`atomic_output`; :func:`atomic_write_bytes`, :func:`atomic_write_text`,
  :func:`write_json` for data already in memory). An operating-system error (no space left, no
  permission, a read-only filesystem) becomes one :class:`WriteError` naming the file, and no
  partial file is left under the final name.
* A folder has one writer at a time: :class:`FileLock` / :func:`directory_lock` take an exclusive
  advisory lock (``flock``) that the kernel releases when the process dies, so a crash never leaves
  a stale lock; a second writer gets :class:`LockBusy` naming the holder's pid.

One module serves every layer (datasets, run directories, probe reports, figures, experiments).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
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


class WriteError(OSError):
    """A file could not be written (the message names the file and the reason, on one line)."""


def _write_error(path: Path, err: OSError) -> WriteError:
    reason = err.strerror or str(err)
    hint = {errno.ENOSPC: " (free some space or write elsewhere)",
            errno.EDQUOT: " (disk quota exceeded)",
            errno.EROFS: " (the filesystem is read-only)",
            errno.EACCES: " (no permission)"}.get(err.errno, "")
    out = WriteError(err.errno, f"cannot write {path}: {reason}{hint}")
    out.filename = str(path)
    return out


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
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise _write_error(path, err) from err
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except WriteError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, err) from err
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


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line (a newline is added) with a single ``write`` call, so that concurrent or
    interrupted appends never interleave within a line; a torn last line (power loss) is the most
    a reader can meet (see ``transformer.rundir``).

    Raises:
        WriteError: on an operating-system error.
    """
    path = Path(path)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as err:
        raise _write_error(path, err) from err


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


# ----------------------------------------------------------------------------------- locks
#: Name of the lock file in a locked folder (ignored when a folder is checked for emptiness).
LOCK_FILE = ".compmech.lock"


class LockBusy(ValueError):
    """Another process holds the lock (the message names its pid and what it is doing)."""


class FileLock:
    """An exclusive advisory lock (``flock``) on a lock file, held while the ``with`` block runs.

    The kernel releases it when the process exits or dies, so a crash never leaves a stale lock.
    The holder writes ``"<pid> <purpose>"`` into the file, so that a refused process can say who
    holds it.

    Args:
        path: the lock file (created if absent; its folder must exist).
        purpose: what the holder is doing, e.g. ``"compmech train"``.
        what: how to name the locked thing in the error, e.g. ``"run directory runs/x"``.

    Raises:
        LockBusy: on entering, when another process holds the lock.
    """

    def __init__(self, path: str | os.PathLike, purpose: str, what: str | None = None) -> None:
        self.path = Path(path)
        self.purpose = purpose
        self.what = what or str(self.path)
        self._fd: int | None = None

    def acquire(self, blocking: bool = False) -> FileLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise _write_error(self.path, err) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            pid, _, doing = holder.partition(" ")
            who = f"process {pid} ({doing or 'unknown'})" if pid else "another process"
            raise LockBusy(f"{self.what} is in use by {who}; wait for it to finish or stop it") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.purpose}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def directory_lock(folder: str | os.PathLike, purpose: str, what: str = "directory") -> FileLock:
    """A :class:`FileLock` on ``folder/.compmech.lock`` (the folder is created if absent)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _write_error(folder, err) from err
    return FileLock(folder / LOCK_FILE, purpose, f"{what} {folder}")


def is_empty_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is absent or holds nothing but its lock file."""
    folder = Path(folder)
    return not folder.exists() or all(p.name == LOCK_FILE for p in folder.iterdir())


__all__ = ["LOCK_FILE", "FileLock", "LockBusy", "WriteError", "append_line", "atomic_output",
           "atomic_write_bytes", "atomic_write_text", "directory_lock", "is_empty_folder",
           "to_jsonable", "write_json"]
