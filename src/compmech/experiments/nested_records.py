"""A :class:`~compmech.records.Record` whose nested records serialise themselves, and fields that
are left out of the JSON when they are ``None`` (so that a result keeps the exact fields of the
files earlier versions wrote, where a key was absent rather than ``null``)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, TypeVar

from compmech.files import to_jsonable
from compmech.records import Record

R = TypeVar("R", bound=Record)

#: Field metadata: leave the field out of :meth:`NestedRecord.to_dict` when it is ``None``.
OMIT_IF_NONE = "omit_if_none"


def omitted_if_none():
    """A keyword-only field, ``None`` by default, absent from the JSON while it is ``None``."""
    return dataclasses.field(default=None, kw_only=True, metadata={OMIT_IF_NONE: True})


class NestedRecord(Record):
    """A record serialised field by field, each nested record by its own :meth:`to_dict`
    (``Record.to_dict`` flattens them with ``dataclasses.asdict``), leaving out the
    :func:`omitted_if_none` fields that are ``None``."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and OMIT_IF_NONE in f.metadata:
                continue
            out[f.name] = _jsonable(value)
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return to_jsonable(value)


def read_result(kind: type[R], path: str | os.PathLike, command: str) -> R:
    """``kind.read(path)``: a reproduction's finished-job file, refused with one line that names
    the command and the remedy when its fields are not this version's.

    Raises:
        ValueError: damaged, or written by another version of ``command`` (other fields).
    """
    try:
        return kind.read(path)
    except ValueError as err:
        raise ValueError(f"{err} (written by another version of `{command}`? delete {path} to "
                         "redo that job, or use a new --out folder)") from err


__all__ = ["OMIT_IF_NONE", "NestedRecord", "omitted_if_none", "read_result"]
