"""Numbers as text: the one formatter behind every printed line, table cell and caption.

A missing number (``None``) and a non-finite one (NaN, infinity) print as :data:`MISSING`, so a
table never shows ``nan`` beside real values; everything else is ``format(value, spec)``.

Example:
    >>> from compmech.formatting import fmt, plus_minus
    >>> fmt(0.000412, ".2g"), fmt(None), fmt(float("nan"), ".3f")
    ('0.00041', 'n/a', 'n/a')
    >>> plus_minus(0.0123, 0.0011)
    '0.0123 +- 0.0011'
"""

from __future__ import annotations

import math
from numbers import Real

#: What a missing or non-finite number prints as.
MISSING = "n/a"


def fmt(value, spec: str = ".3g", missing: str = MISSING) -> str:
    """``format(value, spec)``, or ``missing`` for ``None`` and for NaN or infinite numbers.

    Args:
        value: a number (Python or numpy scalar), or ``None``.
        spec: a format spec, e.g. ``".3g"``, ``".2f"``, ``".1e"``.
        missing: the text of a missing or non-finite value.
    """
    if value is None or (isinstance(value, Real) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def plus_minus(mean, std, spec: str = ".3g", std_spec: str | None = None, sign: str = "+-") -> str:
    """``"mean +- std"`` (``std`` in ``std_spec``, default ``spec``); the mean alone when ``std`` is
    ``None`` (one seed); :data:`MISSING` when ``mean`` is missing."""
    if mean is None:
        return MISSING
    if std is None:
        return fmt(mean, spec)
    return f"{fmt(mean, spec)} {sign} {fmt(std, std_spec or spec)}"


__all__ = ["MISSING", "fmt", "plus_minus"]
