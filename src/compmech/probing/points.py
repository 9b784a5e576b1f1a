"""The held-out predictions a probe keeps for the figures: :class:`ProbePoints`, written to and read
from ``probe_points.npz``.

The file's array names are its published format (users' scripts read them): ``true`` and
``point_index`` (the figure points), ``pred/<hook>`` and ``shuffle/<hook>`` (the probe and its
shuffle control at them), ``curve_point_index`` and ``curve_true`` (the curve's points),
``checkpoint/<step>`` (the headline probe at every curve checkpoint, on the curve's points; step
0 the untrained network's, on the figure points), ``decoder_points`` and
``decoder/<decoder>/<hook>`` (the decoders' held-out points and predictions). Inside the toolkit
they travel as the typed fields below; only :meth:`ProbePoints.write` and
:meth:`ProbePoints.read` know the names.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compmech.files import atomic_output


@dataclass
class ProbePoints:
    """A probe's held-out predictions (see the module docstring for the file's names).

    Attributes:
        true: ``(n, S)`` float32 true targets at the figure points.
        point_index: ``(n,)`` flat indices ``seq * P + pos`` of the figure points.
        curve_point_index: the curve's points (flat indices); curve_true: their true targets.
        predicted: ``{hook: (n, S)}`` the probe's predictions at the figure points.
        shuffled: ``{hook: (n, S)}`` the shuffle control's.
        checkpoints: ``{step: array}`` the headline probe at each curve checkpoint.
        decoder_points: flat indices of the decoders' held-out points, or ``None``.
        decoders: ``{(decoder, hook): array}`` the decoders' predictions there.
    """

    true: np.ndarray
    point_index: np.ndarray
    curve_point_index: np.ndarray | None = None
    curve_true: np.ndarray | None = None
    predicted: dict[str, np.ndarray] = field(default_factory=dict)
    shuffled: dict[str, np.ndarray] = field(default_factory=dict)
    checkpoints: dict[int, np.ndarray] = field(default_factory=dict)
    decoder_points: np.ndarray | None = None
    decoders: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        """The file's named arrays."""
        out = {"true": self.true, "point_index": self.point_index}
        for name in ("curve_point_index", "curve_true", "decoder_points"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out.update({f"pred/{h}": a for h, a in self.predicted.items()})
        out.update({f"shuffle/{h}": a for h, a in self.shuffled.items()})
        out.update({f"checkpoint/{s}": a for s, a in self.checkpoints.items()})
        out.update({f"decoder/{d}/{h}": a for (d, h), a in self.decoders.items()})
        return out

    def write(self, path: str | os.PathLike) -> Path:
        """Write ``probe_points.npz`` atomically."""
        with atomic_output(Path(path)) as fh:
            np.savez_compressed(fh, **self.arrays())
        return Path(path)

    @classmethod
    def read(cls, path: str | os.PathLike) -> ProbePoints:
        """Read a file written by :meth:`write`.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is damaged or not a probe's points (one line, with the remedy).
        """
        path = Path(path)
        try:
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
            raise ValueError(f"{path} is damaged ({type(err).__name__}: {err}); rewrite it with "
                             f"`compmech probe {path.parent} --force`") from err
        if "true" not in arrays or "point_index" not in arrays:
            raise ValueError(f"{path} holds no figure points (no 'true'/'point_index'); rewrite it "
                             f"with `compmech probe {path.parent} --force`")
        points = cls(arrays.pop("true"), arrays.pop("point_index"),
                     arrays.pop("curve_point_index", None), arrays.pop("curve_true", None),
                     decoder_points=arrays.pop("decoder_points", None))
        for key, a in arrays.items():
            kind, _, rest = key.partition("/")
            if kind == "pred":
                points.predicted[rest] = a
            elif kind == "shuffle":
                points.shuffled[rest] = a
            elif kind == "checkpoint" and rest.isdigit():
                points.checkpoints[int(rest)] = a
            elif kind == "decoder" and "/" in rest:
                decoder, _, hook = rest.partition("/")
                points.decoders[decoder, hook] = a
            else:
                raise ValueError(f"{path}: unknown array {key!r}; rewrite it with "
                                 f"`compmech probe {path.parent} --force`")
        return points


__all__ = ["ProbePoints"]
