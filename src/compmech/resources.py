"""Refusing impossible requests before starting them: what a piece of work needs (output bytes,
memory) against what this machine has free.

Each ``require_*`` raises one ``ValueError`` with the estimate and what is available, e.g. "generating
10^15 tokens with beliefs needs 16.0 PB on /data but 80.2 GB are free".
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def format_bytes(n: float) -> str:
    """``1536 -> "1.5 KB"`` (powers of 1000, to one decimal)."""
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.3g} EB"


def free_disk_bytes(path: str | os.PathLike) -> int:
    """Free bytes on the filesystem holding ``path`` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return int(shutil.disk_usage(path).free)


def available_memory_bytes() -> int:
    """Memory this process can still allocate without swapping (``MemAvailable`` on Linux, else
    the physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def require_disk(path: str | os.PathLike, needed_bytes: float, what: str) -> None:
    """Raise ``ValueError`` when ``needed_bytes`` do not fit on the filesystem of ``path``."""
    free = free_disk_bytes(path)
    if needed_bytes > free:
        where = Path(path).absolute().parent
        raise ValueError(f"{what} needs {format_bytes(needed_bytes)} on {where} but "
                         f"{format_bytes(free)} are free")


def require_memory(needed_bytes: float, what: str, fraction: float = 0.9) -> None:
    """Raise ``ValueError`` when ``needed_bytes`` exceed ``fraction`` of the available memory."""
    available = available_memory_bytes()
    if needed_bytes > fraction * available:
        raise ValueError(f"{what} needs about {format_bytes(needed_bytes)} of memory but "
                         f"{format_bytes(available)} are available")


__all__ = ["available_memory_bytes", "format_bytes", "free_disk_bytes", "require_disk",
           "require_memory"]
