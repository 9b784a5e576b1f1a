"""One probe invocation's state: the run, its probe data and the activations collected once per
checkpoint, the timer of its stages and its progress lines (:class:`_ProbeJob`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from compmech.history import MarkovLookups, default_measure
from compmech.probing.data import (
    ProbeData,
)
from compmech.probing.geometry import GeometryRecord, geometry_record
from transformer import Run


def _log(progress, message: str) -> None:
    if progress:
        (progress if callable(progress) else print)(message)


class _Timer:
    """Seconds per named stage (``with timer("stage"): ...``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.start = time.perf_counter()

    def __call__(self, name: str):
        return _Stage(self, name)


class _Stage:
    def __init__(self, timer: _Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.timer.seconds[self.name] = time.perf_counter() - self.t0


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
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    sweep: bool = False
    geometry: bool = True
    decoder_hooks: tuple[str, ...] = ()
    lookups: MarkovLookups | None = None
    lookup_errors: dict[str, np.ndarray] = field(default_factory=dict)

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

    def lookup_errors_at(self, points: np.ndarray) -> np.ndarray:
        """``(n_ctx + 1,)`` the Markov-k lookups' errors at ``points`` (built once, cached per
        point set)."""
        key = hashlib.sha1(np.ascontiguousarray(points).tobytes()).hexdigest()
        if key not in self.lookup_errors:
            if self.lookups is None:
                self.lookups = MarkovLookups(self.data.tokens, self.data.beliefs,
                                             weights=self.data.weights)
            self.lookup_errors[key] = self.lookups.errors(points, self.point_weights(points),
                                                          measure=self.measure)
        return self.lookup_errors[key]

    def compare(self, predicted: np.ndarray, *, hook: str, step: int, decoder: str = "linear",
                points: np.ndarray | None = None) -> GeometryRecord | None:
        """:func:`geometry_record` of predictions at ``points`` (default: the figure points), with
        their equivalent history; ``None`` when geometry is off or the comparison is impossible
        (e.g. every belief alike)."""
        if not self.geometry:
            return None
        points = self.points if points is None else points
        record, _ = geometry_record(self.run.hmm, self.flat_targets[points], predicted,
                                    weights=self.point_weights(points), seed=self.seed, hook=hook,
                                    step=step, tokens_seen=self.run.tokens_seen(step),
                                    decoder=decoder, lookup_errors=self.lookup_errors_at(points),
                                    measure=self.measure)
        return record
