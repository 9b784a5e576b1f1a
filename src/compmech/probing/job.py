"""One probe invocation's state: the run, its probe data and the activations collected once per
checkpoint, the timer of its stages and its progress lines (:class:`_ProbeJob`).
"""

from __future__ import annotations

import functools
import hashlib
import resource
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compmech.history import MarkovLookups, default_measure
from compmech.probing.data import (
    ProbeData,
)
from compmech.probing.geometry import GeometryLabel, GeometryRecord, geometry_record
from compmech.probing.linear import BLAS_THREADS
from compmech.probing.points import ProbePoints
from transformer import Run

#: Threads over which the probes of several hooks run at once (each probe's BLAS on one thread:
#: numpy releases the GIL over its matrix products and reductions).
PROBE_THREADS = 2


def in_parallel(f, items, *, alone: int = 0):
    """``f`` of each item, in order, on :data:`PROBE_THREADS` threads with one BLAS thread each (a
    generator: each result as soon as it and those before it are done); the last ``alone`` items
    one at a time after the others (the wide concatenation of layers, so that its buffers never
    sit beside another probe's: peak memory as with one thread)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    items = list(items)
    shared, last = items[:len(items) - alone], items[len(items) - alone:]
    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        with ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="compmech-probe") as pool:
            yield from pool.map(f, shared)
        for item in last:
            yield f(item)


def release_freed_memory() -> None:
    """Hand the memory freed so far back to the system (glibc's ``malloc_trim``; nothing
    elsewhere): large arrays freed on the worker threads otherwise stay in their threads' malloc
    arenas and count towards the peak of the next stage."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, looked up once (``find_library`` runs ``ldconfig``); ``None``
    elsewhere."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def _log(progress, message: str) -> None:
    if progress:
        (progress if callable(progress) else print)(message)


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its waited-for children so far."""
    self_, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                           resource.RUSAGE_CHILDREN))
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


class _Timer:
    """Wall seconds per named stage (``with timer("stage_s"): ...`` records ``seconds["stage_s"]``)
    and, beside them, the stage's CPU seconds (all threads, children included) as
    ``seconds["stage_cpu_s"]``: on a shared machine the wall time depends on the load, the CPU time
    much less."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.start = time.perf_counter()
        self.cpu_start = cpu_seconds()

    def __call__(self, name: str):
        return _Stage(self, name)

    def finish(self) -> None:
        """Record ``total_s`` and ``total_cpu_s`` since the timer was made."""
        self.seconds["total_s"] = time.perf_counter() - self.start
        self.seconds["total_cpu_s"] = cpu_seconds() - self.cpu_start


def _cpu_name(name: str) -> str:
    return (name[:-2] if name.endswith("_s") else name) + "_cpu_s"


class _Stage:
    def __init__(self, timer: _Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self):
        self.t0, self.cpu0 = time.perf_counter(), cpu_seconds()

    def __exit__(self, *exc):
        self.timer.seconds[self.name] = time.perf_counter() - self.t0
        self.timer.seconds[_cpu_name(self.name)] = cpu_seconds() - self.cpu0


@dataclass
class _ProbeJob:
    """What one :func:`~compmech.probing.run.probe_run` call probes (resolved from its arguments)."""

    run: Run
    data: ProbeData
    hooks: list[str]
    headline: str
    curve_steps: list[int]
    last: int
    points: np.ndarray
    seed: int
    held_out: ProbePoints | None = None  # what probe_points.npz keeps
    sweep: bool = False
    geometry: bool = True
    decoder_hooks: tuple[str, ...] = ()
    lookups: MarkovLookups | None = None
    lookup_errors: dict[str, np.ndarray] = field(default_factory=dict)
    decoder_train: np.ndarray | None = None
    curve: Any = None  # the curve's subset (:class:`compmech.probing.curve.CurveSubset`)

    @property
    def positions(self) -> int:
        return int(self.data.tokens.shape[1])

    @property
    def flat_targets(self) -> np.ndarray:
        """``(N * P, k)`` the probe's targets, flat."""
        return self.data.beliefs.reshape(-1, self.data.beliefs.shape[-1])

    @property
    def measure(self) -> str:
        """The error measure of the equivalent history (:func:`compmech.history.default_measure`)."""
        return default_measure(self.run.hmm)

    def point_weights(self, points: np.ndarray) -> np.ndarray | None:
        return None if self.data.weights is None else self.data.weights.reshape(-1)[points]

    def lookup_errors_at(self, points: np.ndarray, weights: np.ndarray | None = None
                         ) -> np.ndarray:
        """``(n_ctx + 1,)`` the Markov-k lookups' errors at ``points`` (built once, cached per
        point set), weighted by ``weights`` (default: the probe's weights of those points)."""
        weights = self.point_weights(points) if weights is None else weights
        key = hashlib.sha1(np.ascontiguousarray(points).tobytes())
        if weights is not None:
            key.update(np.ascontiguousarray(weights, dtype=np.float64).tobytes())
        key = key.hexdigest()
        if key not in self.lookup_errors:
            if self.lookups is None:
                self.lookups = MarkovLookups(self.data.tokens, self.data.beliefs,
                                             weights=self.data.weights)
            self.lookup_errors[key] = self.lookups.errors(points, weights, measure=self.measure)
        return self.lookup_errors[key]

    def compare(self, predicted: np.ndarray, *, hook: str, step: int, decoder: str = "linear",
                points: np.ndarray | None = None,
                weights: np.ndarray | None = None) -> GeometryRecord | None:
        """:func:`geometry_record` of predictions at ``points`` (default: the figure points)
        weighted by ``weights`` (default: the probe's weights of those points), with their
        equivalent history; ``None`` when geometry is off or the comparison is impossible (e.g.
        every belief alike)."""
        if not self.geometry:
            return None
        points = self.points if points is None else points
        weights = self.point_weights(points) if weights is None else weights
        label = GeometryLabel(hook, step, self.run.tokens_seen(step), decoder)
        record, _ = geometry_record(self.run.hmm, self.flat_targets[points], predicted,
                                    weights=weights, seed=self.seed, label=label,
                                    lookup_errors=self.lookup_errors_at(points, weights),
                                    measure=self.measure)
        return record
