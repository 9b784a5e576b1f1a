"""The figure of ``compmech reproduce icl`` (:mod:`compmech.experiments.icl`): one row of four
panels per mixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from compmech.figures.common import save

#: Excesses below this (nats) are drawn as zero (a KL of 0 computed as 1e-16 by rounding).
FLOOR_NATS = 1e-12


def icl_figure(m, stem: str | Path) -> list[Path]:
    """One mixture's panels: loss per position with the Bayes-mixture optimum and the
    known-component loss; the two excesses with their power-law and exponential fits (log scale,
    the worse fit faint); the induction score of every head over training; the training loss with
    the induction jump marked.

    Args:
        m: the mixture's :class:`~compmech.experiments.icl_results.MixtureSummary`
            (:func:`compmech.experiments.icl.summarise`).
        stem: path without extension (``stem.png`` and ``stem.pdf`` are written).

    Returns:
        the paths written (PNG first).
    """
    pos = m.positions
    t = np.array([p.t for p in pos])
    optimum = [p.bayes_mixture_optimum for p in pos]
    fig = Figure(figsize=(16, 3.8))
    ax = fig.subplots(1, 4)
    loss, std = np.array([p.loss for p in pos]), np.array([p.loss_std for p in pos])
    ax[0].plot(t, loss, "o-", ms=3, label="network")
    ax[0].fill_between(t, loss - std, loss + std, alpha=0.3)
    ax[0].plot(t, optimum, "k--", label="Bayes-mixture optimum")
    ax[0].plot(t, [p.known_component_loss for p in pos], ":", c="gray", label="known component")
    ax[0].set(xlabel="position t", ylabel="loss (nats)", title=f"{m.mixture}: in-context loss")
    ax[0].legend(fontsize=7)
    excesses = (([p.network_excess for p in pos], m.fits.network_excess, "network − optimum", "C0"),
                ([p.optimum_excess for p in pos], m.fits.optimum_excess, "optimum − known", "C3"))
    for values, f, label, color in excesses:
        y = np.array(values)
        ok = y > FLOOR_NATS
        ax[1].semilogy(t[ok], y[ok], "o", ms=3, c=color, label=label)
        if f is None:
            continue
        tt = t[f.start_position:]
        power, expo = f.power_law, f.exponential
        for fit, pred, ls in ((power, power.amplitude * tt ** (-power.exponent), "-"),
                              (expo, expo.amplitude * np.exp(-tt / expo.timescale), "--")):
            ax[1].semilogy(tt, pred, ls, c=color, lw=1, alpha=1.0 if f.better == fit.law else 0.4)
    ax[1].set(xlabel="position t", ylabel="excess (nats)",
              title="excess; fits: — power, -- exp (faint: worse)")
    ax[1].legend(fontsize=7)
    one = len(m.induction_score) == 1
    for s in m.induction_score:
        steps = np.maximum(np.array(s.steps), 1)
        score = np.asarray(s.score)  # (checkpoints, layers, heads)
        for layer in range(score.shape[1]):
            for head in range(score.shape[2]):
                ax[2].semilogx(steps, score[:, layer, head], lw=1,
                               label=f"L{layer}H{head}" if one else None)
        if s.transition:
            ax[2].axvline(s.transition.step, c="k", ls=":")
    ax[2].set(xlabel="step", ylabel="induction score", title="induction score per head")
    if one:
        ax[2].legend(fontsize=6, ncol=2)
    for r, s in zip(m.runs, m.induction_score, strict=True):
        st = np.maximum(np.array(r.train_loss.step), 1)
        ax[3].semilogx(st, r.train_loss.loss, lw=1, label=f"seed {r.seed}")
        if s.transition:
            ax[3].axvline(s.transition.step, c="k", ls=":")
    ax[3].axhline(np.mean(optimum), c="k", ls="--", lw=1)
    ax[3].set(xlabel="step", ylabel="training loss (nats)",
              title="training loss; : jump, -- optimum")
    fig.tight_layout()
    return save(fig, stem)


__all__ = ["FLOOR_NATS", "icl_figure"]
