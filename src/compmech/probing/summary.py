"""A probe report as printed lines: the headline with its controls, the geometry and the
decoders (what ``compmech probe`` prints and the figure captions quote).
"""

from __future__ import annotations

from compmech.formatting import fmt
from compmech.probing.geometry import GeometryRecord
from compmech.probing.report import DecoderReport, ProbeReport
from transformer.registry import hook_label


def blind_lines(c) -> list[str]:
    """The prediction-blind controls of one hook (:class:`compmech.probing.blind.BlindControls`)."""
    if c is None:
        return []
    if not c.applicable:
        return ["prediction-blind   not applicable (the next-token distribution sees the whole "
                "belief plane)"]
    lines = [f"prediction-blind   {c.dimension} dims; share of belief variance no linear function "
             f"of P(.|eta) explains {fmt(c.share, '.3f')}, no function at all "
             f"{fmt(c.lookup_share, '.3g')}",
             f"  belief R^2       network {fmt(c.belief_r2, '.3f')} vs next-token "
             f"{fmt(c.next_token_r2, '.3f')}, log next-token {fmt(c.log_next_token_r2, '.3f')}, "
             f"lookup on the prediction {fmt(c.prediction_lookup_r2, '.3f')}"]
    if not c.distinguishable:
        lines.append("  not distinguishable: no two beliefs of these inputs share a prediction, so "
                     "a representation of the prediction carries the belief")
        return lines
    against = c.against_network()
    lines.append(f"  blind residual   R^2 {fmt(c.blind_r2, '.3f')} (its shuffle "
                 f"{fmt(c.blind_shuffle_r2, '.3f')}); geometric shuffle R^2 "
                 f"{fmt(c.geometric_shuffle_r2, '.3f')} vs beliefs {fmt(c.belief_r2, '.3f')}; "
                 + ("against the network: " + "; ".join(against) if against
                    else "every control favours a belief beyond the prediction"))
    return lines


def summary_lines(report: ProbeReport) -> list[str]:
    """The headline result with its controls, as printed lines."""
    r, b = report.headline, report.headline.baselines
    wall = report.training_wall_time_s
    lines = [
        f"process            {report.process} {report.process_params}",
        f"training           {report.step:,} steps, {report.tokens_seen:,} tokens"
        + (f", {wall:.0f} s" if wall is not None else ""),
        f"probe site         {report.headline_hook} ({report.protocol.num_points:,} points, "
        f"{report.protocol.inputs}, {report.protocol.weighting_option} weights, "
        + (f"{report.protocol.n_folds}-fold cross-validation)" if report.protocol.kfold
           else f"{report.split_name} split by sequence)"),
        f"held-out MSE       {r.mse_test:.3g}  (folds {r.mse_folds_mean:.3g} "
        f"+- {r.mse_folds_std:.2g}; R^2 {fmt(r.r2_test, '.4f')})",
        f"shuffle control    {fmt(r.shuffle_mse, '.3g')}  (belief variance {r.belief_variance:.3g})",
        f"untrained network  {b['untrained']:.3g}",
        f"one-hot tok x pos  {b['onehot']:.3g}",
        f"random features    {b['random']:.3g}",
    ]
    markov = [k for k in b if k.startswith("markov_")]
    if markov:
        lines.append("Markov order k     " + ", ".join(
            f"k={k.split('_')[1]} {b[k]:.3g}" for k in markov) + "  (best predictor seeing the "
            "last k tokens)")
    if r.regularisation:
        reg = r.regularisation
        mse = reg.mse_pooled if report.protocol.kfold else reg.mse_test
        lines.append(f"rcond sweep        MSE {mse:.3g} with rcond "
                     f"{', '.join(f'{c:g}' for c in sorted(set(reg.chosen_rcond)))} chosen by "
                     "inner validation")
    lines += geometry_lines(report)
    lines += blind_lines(r.blind)
    for name, by_hook in (report.factors or {}).items():
        cells = ", ".join(f"{hook_label(h, short=True)} {fmt(v['mse_test'], '.3g')} (shuffle "
                          f"{fmt(v['shuffle_mse'], '.3g')})" for h, v in by_hook.items())
        lines.append(f"{name:<18} {cells}")
    for pair, angles in (report.factor_angles_deg or {}).items():
        lines.append(f"factors {pair} angles  {', '.join(f'{a:.0f}' for a in angles)} degrees "
                     "between their probe subspaces")
    if report.paper:
        lines.append(f"paper (Shai 2024)  {report.paper.mse:.2g} after "
                     f"{report.paper.tokens:.3g} tokens")
    return lines


def resolution_text(g: GeometryRecord | None) -> str:
    """``"paired resolution 0.031 (null 0.029, noise RMS 0.014); equivalent history 5.3 tokens"``,
    or why there is none."""
    if g is None:
        return "no geometry comparison"
    if not g.resolved:
        text = f"paired resolution: none below the extent {g.extent:.3g}"
    else:
        text = f"paired resolution {g.resolution:.3g}" + (" (grid floor)" if g.resolution_at_floor
                                                          else "")
    text += f" (null model {g.null_resolution:.3g}, noise RMS {g.noise_rms:.3g})"
    if g.equivalent_history is not None:
        text += f"; equivalent history {g.equivalent_history:.2f} tokens"
    return text


def dimension_text(g: GeometryRecord | None) -> str:
    """The correlation dimensions fitted above the resolution, with their fit range."""
    if g is None or g.dimension_true is None:
        return "not fitted" if g is None else (g.dimension_note or "not fitted")
    lo, hi = g.dimension_fit_range
    return (f"correlation {g.dimension_true:.2f} +- {g.dimension_stderr_true:.2f} true vs "
            f"{g.dimension_predicted:.2f} +- {g.dimension_stderr_predicted:.2f} learned "
            f"(eps {lo:.2g}..{hi:.2g})")


def geometry_lines(report: ProbeReport) -> list[str]:
    """Paired resolution, equivalent history and the dimensions above the resolution; decoders."""
    if report.geometry is None and report.geometry_note is None:
        return []
    lines = [f"geometry           {resolution_text(report.geometry)}"]
    if report.geometry is not None:
        lines.append(f"cloud dims > res.  {dimension_text(report.geometry)} (point clouds of the "
                     "probe's words)")
    if report.geometry_note:
        lines.append(f"                   ({report.geometry_note})")
    layers = [(h, r.geometry) for h, r in report.hooks.items() if r.geometry is not None]
    if len(layers) > 1:
        lines.append("per layer          " + ", ".join(
            f"{hook_label(h, short=True)} res {g.resolution:.2g} hist {fmt(g.equivalent_history, '.1f')}"
            for h, g in layers) + f" (paired resolution; equivalent history in tokens, "
            f"{report.error_measure})")
    for hook, rows in [*(report.decoders or {}).items(), ("lookups", report.lookups or {})]:
        cells = ", ".join(f"{kind} {_decoder_cell(r)}" for kind, r in rows.items())
        if cells:
            lines.append(f"decoders @{hook_label(hook, short=True):<8} {cells}")
    if report.decoder_points_per_position:
        lines.append(f"decoder points     per position {report.decoder_points_per_position}")
    return lines


def _decoder_cell(r: DecoderReport) -> str:
    g = r.geometry
    if g is None:
        return f"MSE {r.mse_test:.2g}"
    return (f"MSE {r.mse_test:.2g} res {g.resolution:.2g} (null {g.null_resolution:.2g}) "
            f"hist {fmt(g.equivalent_history, '.1f')}")


__all__ = [
    "dimension_text",
    "geometry_lines",
    "resolution_text",
    "summary_lines",
]
