"""Typed results: dataclasses that are written to JSON and read back into the same types.

Every stage's result (probe reports, experiment results and summaries) subclasses :class:`Record`:
``to_dict()`` gives JSON-ready data (NaN and infinities become ``null``), ``from_dict()`` rebuilds
the dataclass, nested records included, refusing unknown or missing keys. Readers of a record's
values use attribute access (typed to the leaves); :func:`optional` reads through a part that may
be ``None`` (e.g. ``optional(lambda r: r.geometry, lambda g: g.resolution)``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from compmech.files import to_jsonable, write_json

R = TypeVar("R", bound="Record")
T = TypeVar("T")
P = TypeVar("P")
V = TypeVar("V")


#: Field metadata: leave the field out of :meth:`Record.to_dict` while it is ``None``.
OMIT_IF_NONE = "omit_if_none"


def omitted_if_none():
    """A keyword-only field, ``None`` by default, absent from the JSON while it is ``None`` (for
    files whose earlier versions left the key out rather than writing ``null``)."""
    return dataclasses.field(default=None, kw_only=True, metadata={OMIT_IF_NONE: True})


class Record:
    """Base class of typed results (subclasses are ``@dataclass``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field: each nested record by its own :meth:`to_dict`, other
        dataclasses as dicts, :func:`omitted_if_none` fields left out while ``None``."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and OMIT_IF_NONE in f.metadata:
                continue
            out[f.name] = _jsonable(value)
        return out

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


def _jsonable(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return to_jsonable(value)


def _convert(hint, value):
    """``value`` (from JSON) as the type ``hint``: records, and lists/dicts/optionals of them."""
    if value is None or isinstance(value, Record):
        return value
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


def optional(part: Callable[[T], P | None], value: Callable[[P], V]) -> Callable[[T], V | None]:
    """``value(part(x))``, or ``None`` where ``part(x)`` is ``None``: the reader of a value inside an
    optional part of a record (printed "n/a" by :func:`compmech.formatting.fmt`).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Loss:
        ...     gap: float
        >>> @dataclass
        ... class Result:
        ...     loss: Loss | None
        >>> gap = optional(lambda r: r.loss, lambda loss: loss.gap)
        >>> gap(Result(Loss(0.25))), gap(Result(None))
        (0.25, None)
    """

    def read(x: T) -> V | None:
        inner = part(x)
        return None if inner is None else value(inner)

    return read


__all__ = ["OMIT_IF_NONE", "Record", "omitted_if_none", "optional"]
