"""Decay laws of a quantity against position (or steps): a power law against an exponential.

An in-context loss curve falls as the context grows; how it falls says what is being learned
(Riechers, Bigelow, Alt & Shai 2025, arXiv 2505.18373): the Bayes posterior over the components of
a mixture of a few well-separated processes sharpens exponentially, while mixtures of many
components (or a continuum) give power laws over the positions one can see. :func:`fit_decay_laws` fits
both laws to a positive curve ``y(t)``,

* power law   ``y = a t^(-b)``       (``log y = log a - b log t``),
* exponential ``y = a exp(-t / tau)`` (``log y = log a - t / tau``),

each by least squares on ``log y`` (the scale on which a decaying curve's points count alike: a
fit on ``y`` itself would be decided by the first few positions), and names the one with the
smaller root-mean-square residual in ``log y``. Both fits have two parameters, so the residuals
compare directly.

Points with ``y <= 0`` (an excess loss estimated from samples can dip below zero) have no
logarithm: they are left out and counted (:attr:`DecayFits.num_dropped`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: The two decay laws, in the order :func:`fit_decay_laws` reports them.
LAWS = ("power_law", "exponential")


class DecayFit(NamedTuple):
    """One law fitted to ``log y``.

    Attributes:
        law: ``"power_law"`` or ``"exponential"``.
        amplitude: ``a`` (``y`` at ``t = 1`` for the power law, at ``t = 0`` for the exponential).
        exponent: the power law's ``b`` (``y ~ t^-b``); ``nan`` for the exponential.
        timescale: the exponential's ``tau`` (``y ~ exp(-t / tau)``; ``inf`` when the fitted slope
            is 0, negative when the curve grows); ``nan`` for the power law.
        residuals_log: ``(n,)`` ``log y - log y_fit`` (natural log) at the fitted points.
        rms_log: root mean square of ``residuals_log``.
        r2_log: coefficient of determination of the fit on ``log y``.
    """

    law: str
    amplitude: float
    exponent: float
    timescale: float
    residuals_log: np.ndarray
    rms_log: float
    r2_log: float

    def predict(self, t) -> np.ndarray:
        """The fitted curve at ``t``."""
        t = np.asarray(t, dtype=np.float64)
        if self.law == "power_law":
            return self.amplitude * t ** (-self.exponent)
        return self.amplitude * np.exp(-t / self.timescale)

    def to_dict(self) -> dict:
        """JSON-ready fields (residuals as a list)."""
        return {"law": self.law, "amplitude": self.amplitude, "exponent": self.exponent,
                "timescale": self.timescale, "rms_log_residual": self.rms_log,
                "r2_log": self.r2_log, "residuals_log": self.residuals_log.tolist()}


class DecayFits(NamedTuple):
    """Both laws fitted to the same points, and the better one.

    Attributes:
        power_law: the :class:`DecayFit` ``a t^-b``.
        exponential: the :class:`DecayFit` ``a exp(-t / tau)``.
        better: the law with the smaller ``rms_log`` (``"power_law"`` on a tie).
        t: ``(n,)`` the positions fitted (those with ``y > 0``).
        num_dropped: points left out because ``y <= 0`` (or not finite).
    """

    power_law: DecayFit
    exponential: DecayFit
    better: str
    t: np.ndarray
    num_dropped: int

    def to_dict(self) -> dict:
        return {"power_law": self.power_law.to_dict(), "exponential": self.exponential.to_dict(),
                "better": self.better, "t": self.t.tolist(), "num_dropped": self.num_dropped}


def _line_fit(x: np.ndarray, z: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Least-squares ``z = c0 + c1 x``: ``(c0, c1, residuals)``."""
    design = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    return float(coef[0]), float(coef[1]), z - design @ coef


def _fit(law: str, x: np.ndarray, z: np.ndarray) -> DecayFit:
    c0, c1, res = _line_fit(x, z)
    total = float(((z - z.mean()) ** 2).sum())
    r2 = 1.0 - float((res**2).sum()) / total if total > 0 else float("nan")
    rms = float(np.sqrt(np.mean(res**2)))
    if law == "power_law":
        return DecayFit(law, float(np.exp(c0)), -c1, float("nan"), res, rms, r2)
    tau = float("inf") if c1 == 0 else -1.0 / c1
    return DecayFit(law, float(np.exp(c0)), float("nan"), tau, res, rms, r2)


def fit_decay_laws(t, y) -> DecayFits:
    """Fit ``y(t)`` by a power law ``a t^-b`` and by an exponential ``a exp(-t / tau)``.

    Both are least-squares lines on ``log y`` (against ``log t`` and ``t``); the better law is the
    one with the smaller RMS residual of ``log y``.

    Args:
        t: ``(n,)`` positive positions (e.g. tokens of context seen, starting at 1).
        y: ``(n,)`` the curve (e.g. an excess loss in nats); points with ``y <= 0`` are dropped.

    Returns:
        :class:`DecayFits`.

    Raises:
        ValueError: shapes differ, a ``t`` is not positive and finite, or fewer than 3 points have
            ``y > 0`` (two points fit either law exactly, so they cannot tell them apart).

    Example:
        >>> import numpy as np
        >>> t = np.arange(1.0, 50.0)
        >>> fits = fit_decay_laws(t, 0.3 * t ** -0.7)
        >>> fits.better, round(fits.power_law.exponent, 6)
        ('power_law', 0.7)
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if t.ndim != 1 or t.shape != y.shape:
        raise ValueError(f"t and y must be 1-D arrays of the same length; got shapes {t.shape} "
                         f"and {y.shape}")
    if not (np.isfinite(t).all() and (t > 0).all()):
        raise ValueError("every position t must be finite and > 0 (a power law needs log t)")
    keep = np.isfinite(y) & (y > 0)
    if keep.sum() < 3:
        raise ValueError(f"need at least 3 points with y > 0 to compare two 2-parameter laws; got "
                         f"{int(keep.sum())} of {y.size}")
    tk, z = t[keep], np.log(y[keep])
    power = _fit("power_law", np.log(tk), z)
    expo = _fit("exponential", tk, z)
    better = "power_law" if power.rms_log <= expo.rms_log else "exponential"
    return DecayFits(power, expo, better, tk, int(y.size - keep.sum()))


__all__ = ["LAWS", "DecayFit", "DecayFits", "fit_decay_laws"]
