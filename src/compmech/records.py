"""Typed results: dataclasses that are written to JSON and read back into the same types.

Every stage's result (probe reports, experiment results and summaries) subclasses :class:`Record`:
``to_dict()`` gives JSON-ready data (NaN and infinities become ``null``), ``from_dict()`` rebuilds
the dataclass, nested records included, refusing unknown or missing keys. :func:`get_field` reads a
dotted path (``"probe.mse_test"``) and raises when a name does not exist, so that a report column
naming a missing field fails instead of printing "n/a".
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from compmech.comparison import GeometryComparison
from compmech.files import to_jsonable, write_json

R = TypeVar("R", bound="Record")


class Record:
    """Base class of typed results (subclasses are ``@dataclass``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (nested records as dicts)."""
        return to_jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ValueError: ``data`` is not a mapping, has unknown keys, or lacks a field without a
                default.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {unknown}")
        hints = typing.get_type_hints(cls)
        values = {}
        for name, f in fields.items():
            if name in data:
                values[name] = _convert(hints[name], data[name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{cls.__name__}: missing key {name!r}")
        return cls(**values)

    def write(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as JSON, atomically."""
        return write_json(path, self.to_dict())

    @classmethod
    def read(cls: type[R], path: str | os.PathLike) -> R:
        """Read a file written by :meth:`write`.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not valid JSON, or not this record's fields.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err.msg}): the file is damaged; rerun the "
                             "command that wrote it with --force to rewrite it") from err
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err


def _convert(hint, value):
    """``value`` (from JSON) as the type ``hint``: records, and lists/dicts/optionals of them."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(value)
    if origin is list and args:
        return [_convert(args[0], v) for v in value]
    if origin is dict and len(args) == 2:
        return {k: _convert(args[1], v) for k, v in value.items()}
    return value


@dataclass
class GeometryRecord(Record):
    """A predicted (learned) belief cloud against the true one, scale by scale: the headline numbers
    of :func:`compmech.compare_geometry` for tables and figures, the equivalent history
    (:mod:`compmech.history`) of the same predictions, and the whole comparison.

    Attributes:
        hook: where the predictions were read (a hook name or ``"concat"``).
        step, tokens_seen: the checkpoint.
        decoder: ``"linear"`` (the probe), ``"linear_subsample"``, ``"knn"``, ``"mlp"``
            (:mod:`compmech.probing.decoders`) or ``"markov_k"`` (the exact Markov-k-plus-position
            lookup on the same points).
        num_points: held-out points compared.
        resolution: the paired resolution: smallest scale (belief-plane distance) down to which
            pairs of points keep their distances in the prediction; the extent when nothing finer
            is resolved (``resolved`` False).
        null_resolution: the same for the null model (truth + permuted residuals).
        resolved: whether any scale below the extent is resolved.
        resolution_at_floor: every scale of the grid is resolved.
        distribution_resolution: the measure comparison's (a diagnostic blind to the pairing).
        noise_rms: RMS residual (in-plane vector norm), beside the resolution.
        extent: the true cloud's diameter.
        error: the predictions' error at these points in ``error_measure`` (``"mse"``: the probe's
            per-coordinate MSE; ``"whitened_mse"`` for a generalized HMM, presentation-invariant).
        error_measure: the measure of ``error`` and of the equivalent history.
        equivalent_history: tokens ``k`` (interpolated, ``0..n_ctx``) at which the exact
            Markov-k-plus-position lookup's error on the same points equals ``error``.
        dimension_true, dimension_predicted: correlation dimensions of the two point clouds (these
            words and weights, not the process's Blackwell measure) fitted above the resolution
            (``None`` with ``dimension_note`` when less than about a decade of scales remains).
        dimension_stderr_true, dimension_stderr_predicted: their regression standard errors.
        dimension_fit_range: ``[eps_min, eps_max]`` of that fit, or ``None``.
        dimension_note: why the dimensions are ``None``.
        comparison: :meth:`compmech.comparison.GeometryComparison.as_dict` (every per-scale curve);
            :meth:`result` rebuilds it.
    """

    hook: str
    step: int
    tokens_seen: int
    decoder: str
    num_points: int
    resolution: float
    null_resolution: float
    resolved: bool
    resolution_at_floor: bool
    distribution_resolution: float | None
    noise_rms: float
    extent: float
    error: float | None
    error_measure: str | None
    equivalent_history: float | None
    dimension_true: float | None
    dimension_predicted: float | None
    dimension_stderr_true: float | None
    dimension_stderr_predicted: float | None
    dimension_fit_range: list[float] | None
    dimension_note: str | None
    comparison: dict[str, Any]

    @classmethod
    def from_comparison(cls, c: GeometryComparison, *, hook: str, step: int, tokens_seen: int,
                        decoder: str = "linear", error: float | None = None,
                        error_measure: str | None = None,
                        equivalent_history: float | None = None) -> GeometryRecord:
        """The record of one :class:`~compmech.comparison.GeometryComparison` (and the error and
        equivalent history of the same predictions, when given)."""
        t, p = c.dimension_true, c.dimension_predicted
        return cls(hook=hook, step=int(step), tokens_seen=int(tokens_seen), decoder=decoder,
                   num_points=c.num_points, resolution=c.resolution,
                   null_resolution=c.null_resolution, resolved=bool(c.resolved),
                   resolution_at_floor=bool(c.resolution_at_floor),
                   distribution_resolution=c.distribution_resolution,
                   noise_rms=c.noise_rms, extent=c.extent, error=error,
                   error_measure=error_measure, equivalent_history=equivalent_history,
                   dimension_true=None if t is None else t.dimension,
                   dimension_predicted=None if p is None else p.dimension,
                   dimension_stderr_true=None if t is None else t.stderr,
                   dimension_stderr_predicted=None if p is None else p.stderr,
                   dimension_fit_range=None if t is None else [float(v) for v in t.fit_range],
                   dimension_note=c.dimension_note, comparison=to_jsonable(c.as_dict()))

    def result(self) -> GeometryComparison:
        """The full comparison (per-scale arrays) back as a
        :class:`~compmech.comparison.GeometryComparison`."""
        return GeometryComparison.from_dict(self.comparison)


def get_field(obj, path: str):
    """The value at a dotted ``path`` of records and dicts, e.g. ``"probe.mse_test"``.

    A ``None`` on the way gives ``None`` (a value that is absent for this row, printed as "n/a");
    a name that is neither a field nor a key raises.

    Raises:
        KeyError: a name in ``path`` does not exist (a typo in a report column).
    """
    current = obj
    for name in path.split("."):
        if current is None:
            return None
        if isinstance(current, Mapping):
            if name not in current:
                raise KeyError(f"{path!r}: no key {name!r} (keys: {sorted(current)})")
            current = current[name]
        elif dataclasses.is_dataclass(current):
            if name not in {f.name for f in dataclasses.fields(current)}:
                raise KeyError(f"{path!r}: {type(current).__name__} has no field {name!r}")
            current = getattr(current, name)
        else:
            raise KeyError(f"{path!r}: cannot read {name!r} of a {type(current).__name__}")
    return current


__all__ = ["GeometryRecord", "Record", "get_field"]
