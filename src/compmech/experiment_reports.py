"""Report folders of the bottleneck and sweep experiments: PNG figures, ``summary.json``, ``README.md``.

Called by :func:`compmech.experiments.run_bottleneck` and :func:`compmech.experiments.run_sweep`
with the per-job result dicts; reads the per-job figure data ``results/<name>.npz``. Matplotlib is
imported here only (object-oriented API, no pyplot state).
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from compmech.experiments import (
    BOTTLENECK_COLUMNS,
    RESULTS_DIR,
    SWEEP_COLUMNS,
    _atomic_write_text,
    _get,
    _jsonable,
    table_row,
)

#: PNG resolution (keeps gallery images small).
DPI = 110


def _figure(*args, **kwargs):
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


def _save_png(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _npz(out_dir: Path, name: str) -> dict:
    path = out_dir / RESULTS_DIR / f"{name}.npz"
    if not path.exists():
        return {}
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def markdown_table(results: Sequence[dict], columns) -> str:
    """A markdown table with one row per result."""
    head = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join("---:" for _ in columns) + "|"
    rows = ["| " + " | ".join(table_row(r, columns)) + " |" for r in results]
    return "\n".join([head, rule, *rows])


def _num(x, default=np.nan) -> float:
    return default if x is None else float(x)


def _environment(wall_seconds: float, computed, workers: int = 1) -> dict:
    import jax

    return {"wall_seconds_this_invocation": wall_seconds, "computed_now": list(computed),
            "workers": workers, "devices": [str(d) for d in jax.devices()],
            "machine": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}


# ===================================================================== bottleneck
def _variant(r: dict) -> str:
    return r["labels"].get("variant", "residual")


def _metrics_figure(all_results: Sequence[dict], path: Path) -> Path:
    results = [r for r in all_results if _variant(r) == "residual"]
    linear = [r for r in all_results if _variant(r) == "linear"]
    w = np.array([r["labels"]["width"] for r in results], dtype=float)
    gap = np.array([_num(_get(r, "loss.loss_gap")) for r in results])
    mse = np.array([_num(_get(r, "probe.mse_test")) for r in results])
    unt = np.array([_num(_get(r, "probe.untrained_mse")) for r in results])
    shuf = np.array([_num(_get(r, "probe.shuffle_mse")) for r in results])
    fig = _figure(figsize=(11.5, 3.3))
    a0, a1, a2 = fig.subplots(1, 3)
    a0.plot(w, np.clip(gap, 1e-6, None), "o-", color="C3")
    a0.set_yscale("log")
    a0.set_ylabel("loss gap to optimum (nats/token)")
    a1.plot(w, mse, "o-", label="trained (held-out)")
    a1.plot(w, unt, "s--", color="0.5", label="untrained network")
    a1.plot(w, shuf, "x:", color="C1", label="shuffle control")
    for r in linear:
        lw = r["labels"]["width"]
        a0.plot([lw], [max(_num(_get(r, "loss.loss_gap")), 1e-6)], "*", ms=11, color="C4",
                label=f"linear bottleneck {lw} after d_model-{r['model']['d_model']} blocks")
        a1.plot([lw], [_num(_get(r, "probe.mse_test"))], "*", ms=11, color="C4",
                label=f"linear bottleneck {lw} (probe of z)")
        a1.plot([lw], [_num(_get(r, "probe.before_bottleneck_mse"))], "P", ms=8, color="C4",
                label="  same net, residual before the bottleneck")
    if linear:
        a0.legend(fontsize=6, frameon=False)
    a1.set_yscale("log")
    a1.set_ylabel("probe MSE")
    a1.legend(fontsize=7, frameon=False)
    for method, marker in (("box_counting", "o"), ("information", "^"), ("correlation", "s")):
        learned = [_num(_get(r, f"dimensions.learned.{method}.dimension")) for r in results]
        theory = _num(_get(all_results[-1], f"dimensions.theory.point_cloud.{method}.dimension"))
        line, = a2.plot(w, learned, marker + "-", ms=4, label=f"learned, {method.replace('_', '-')}")
        a2.axhline(theory, color=line.get_color(), ls="--", lw=0.8)
    for r in linear:
        a2.plot([r["labels"]["width"]], [_num(_get(r, "dimensions.learned.box_counting.dimension"))],
                "*", ms=11, color="C4", label="linear bottleneck, box-counting")
    ky = _get(all_results[-1], "dimensions.theory.kaplan_yorke")
    if ky is not None:
        a2.axhline(ky, color="k", ls=":", lw=1, label="theory, Kaplan-Yorke")
    a2.set_ylabel("dimension (dashed: theory, same estimator)")
    a2.legend(fontsize=6, frameon=False)
    if not any(np.isfinite(line.get_ydata()).any() for line in a2.get_lines()):
        a2.text(0.5, 0.5, "no dimensions\n(too few distinct beliefs)", ha="center",
                transform=a2.transAxes, fontsize=8)
    widths = np.array([r["labels"]["width"] for r in all_results], dtype=float)
    for ax in (a0, a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_xlim(widths.min() / 1.4, widths.max() * 1.4)
        ax.set_xticks(w)
        ax.set_xticklabels([str(int(v)) for v in w])
        ax.set_xlabel("residual width d_model")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _save_png(fig, path)


def _loss_position_figure(results: Sequence[dict], path: Path) -> Path:
    fig = _figure(figsize=(4.8, 3.3))
    ax = fig.subplots()
    for i, r in enumerate(results):
        gap = _get(r, "loss.loss_gap_per_position")
        if gap is None:
            continue
        ax.plot(np.arange(1, len(gap) + 1), np.clip(gap, 1e-6, None), marker="o", ms=3,
                color=f"C{i % 10}", ls="-" if _variant(r) == "residual" else "--",
                label=f"{'linear ' if _variant(r) == 'linear' else ''}width {r['labels']['width']}")
    ax.set_yscale("log")
    ax.set_xlabel("input position t")
    ax.set_ylabel("loss - optimum (nats)")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.tight_layout()
    return _save_png(fig, path)


def _geometry_figure(out_dir: Path, results: Sequence[dict], path: Path) -> Path | None:
    from compmech.figures import panel_grid

    data = [(r, _npz(out_dir, r["name"])) for r in results if _variant(r) == "residual"]
    data = [(r, d) for r, d in data if "predicted" in d]
    if not data:
        return None
    true = data[0][1]["true"].astype(np.float64)
    panels = [(f"width {r['labels']['width']}: MSE {_get(r, 'probe.mse_test'):.2g}",
               d["predicted"].astype(np.float64)) for r, d in data]
    fig = panel_grid(panels, true, theory_beliefs=true, ncols=4,
                     title="probe of the last residual stream, coloured by true belief")
    return _save_png(fig, path)


def _linear_geometry_figure(out_dir: Path, result: dict, path: Path) -> Path | None:
    from compmech.figures import side_by_side

    d = _npz(out_dir, result["name"])
    if "predicted" not in d:
        return None
    true = d["true"].astype(np.float64)
    p = result["probe"]
    caption = (f"probe of z: held-out MSE {p['mse_test']:.2g}; untrained {p['untrained_mse']:.2g}; "
               f"one-hot {p['onehot_mse']:.2g}; shuffle {p['shuffle_mse']:.2g}; residual before the "
               f"bottleneck {p['before_bottleneck_mse']:.2g}")
    fig = side_by_side(true, d["predicted"].astype(np.float64), true, caption=caption,
                       title=f"linear bottleneck of width {result['labels']['width']} after the last block")
    return _save_png(fig, path)


def _strip(ax, values: np.ndarray, colors: np.ndarray, seed: int) -> None:
    jitter = np.random.default_rng(seed).uniform(-1, 1, values.shape[0])
    ax.scatter(values, jitter, c=colors, s=0.8, lw=0, rasterized=True)
    ax.set_yticks([])


def _width1_figure(out_dir: Path, result: dict, path: Path) -> Path | None:
    from compmech.geometry import belief_colors

    d = _npz(out_dir, result["name"])
    if "coordinate" not in d:
        return None
    coord, proj, beliefs = d["coordinate"].astype(np.float64), d["msp_projection"], d["coordinate_beliefs"]
    rng = np.random.default_rng(0)
    pick = rng.choice(coord.size, size=min(coord.size, 8_000), replace=False)
    colors = belief_colors(beliefs[pick])
    fig = _figure(figsize=(9.0, 4.2))
    axes = fig.subplots(2, 2, gridspec_kw={"height_ratios": [1.3, 1]}, sharex="col")
    s_net = result["structure_1d"][-1]
    s_msp = result["msp_structure_1d"]["regression"]
    for col, (values, title, s) in enumerate((
            (coord, "network: the single " + ("bottleneck coordinate z" if _variant(result) == "linear"
                                              else "residual coordinate")
             + " (all inputs x positions)", s_net),
            (proj, "theory: MSP beliefs on their best 1-D linear direction", s_msp))):
        _strip(axes[0, col], values[pick], colors, seed=col)
        axes[0, col].set_title(title, fontsize=8)
        # histogram on all points, stacked by the dominant state's colour
        bins = np.linspace(values.min(), values.max(), 300)
        dominant = beliefs.argmax(1)
        for k, c in enumerate(("red", "green", "blue")[:beliefs.shape[1]]):
            axes[1, col].hist(values[dominant == k], bins=bins, color=c, alpha=0.55, lw=0,
                              histtype="stepfilled")
        axes[1, col].set_yscale("log")
        axes[1, col].set_ylabel("points (by most likely state)", fontsize=7)
        clusters = ", ".join(f"{c}@{r:g}" for r, c in zip(s["resolutions"][::2],
                                                           s["cluster_counts"][::2], strict=False))
        bc = s.get("box_counting_dimension")
        axes[1, col].set_title(f"{s['num_distinct']} distinct values, box dim "
                               f"{bc if bc is None else round(bc, 2)}\nclusters@resolution {clusters}",
                               fontsize=6.5)
        for ax in axes[:, col]:
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _save_png(fig, path)


def _width1_training_figure(result: dict, path: Path) -> Path | None:
    per_step = result.get("structure_1d")
    if not per_step:
        return None
    msp = result["msp_structure_1d"]
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    fig = _figure(figsize=(13.0, 3.4))
    a0, a3, a1 = fig.subplots(1, 3)
    for ax, key, ylabel in ((a0, "cluster_counts", "distinct clusters"),
                            (a3, "label_runs", "runs of the dominant state along the clusters")):
        for i, s in enumerate(per_step):
            if s.get(key) is not None:
                ax.loglog(s["resolutions"], s[key], "o-", ms=3, lw=1,
                          color=cmap(i / max(len(per_step) - 1, 1)), label=f"step {s['step']}")
        for mkey, style, label in (("regression", "k--", "MSP, best direction"),
                                   ("pca", "k:", "MSP, first principal axis")):
            if msp[mkey].get(key) is not None:
                ax.loglog(msp[mkey]["resolutions"], msp[mkey][key], style, lw=1.2, label=label)
        ax.invert_xaxis()
        ax.set_xlabel("resolution (fraction of the range)")
        ax.set_ylabel(ylabel, fontsize=8)
    a0.legend(fontsize=6, frameon=False, ncol=2)
    tokens = np.array([max(s["tokens_seen"], 1) for s in per_step], dtype=float)
    a1.semilogx(tokens, [_num(s["box_counting_dimension"]) for s in per_step], "o-",
                label="coordinate, box-counting")
    a1.semilogx(tokens, [_num(s["cluster_dimension"]) for s in per_step], "s-",
                label="coordinate, cluster-count slope")
    a1.axhline(_num(msp["regression"]["box_counting_dimension"]), color="k", ls="--", lw=1,
               label="MSP projection, box-counting")
    a1.axhline(_num(msp["regression"]["cluster_dimension"]), color="k", ls=":", lw=1,
               label="MSP projection, cluster slope")
    a1.set_xlabel("training tokens seen (step 0 drawn at 1)")
    a1.set_ylabel("1-D dimension")
    a1.legend(fontsize=6, frameon=False)
    for ax in (a0, a3, a1):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _save_png(fig, path)


def write_bottleneck_report(out_dir, results: Sequence[dict], *, wall_seconds: float,
                            computed=(), failed=None, workers: int = 1) -> dict:
    """Figures, ``summary.json`` and ``README.md`` of the bottleneck experiment in ``out_dir``."""
    out_dir = Path(out_dir)
    results = sorted(results, key=lambda r: (_variant(r) != "residual", r["labels"]["width"]))
    files = [_metrics_figure(results, out_dir / "bottleneck_metrics.png"),
             _loss_position_figure(results, out_dir / "bottleneck_loss_per_position.png"),
             _geometry_figure(out_dir, results, out_dir / "bottleneck_geometry.png")]
    for r in results:
        if _variant(r) == "linear":
            files.append(_linear_geometry_figure(out_dir, r, out_dir / f"{r['name']}_geometry.png"))
    for r in results:
        if "structure_1d" in r:
            stem = "width1" if _variant(r) == "residual" else r["name"]
            files.append(_width1_figure(out_dir, r, out_dir / f"{stem}_coordinate.png"))
            files.append(_width1_training_figure(r, out_dir / f"{stem}_over_training.png"))
    files = [f for f in files if f is not None]
    first = results[0]
    summary = {
        "experiment": "bottleneck",
        "process": first["process"], "process_params": first["process_params"],
        "num_states": int(np.asarray(_npz(out_dir, first["name"]).get("true", np.zeros((1, 3)))).shape[1]),
        "model_except_width": {k: v for k, v in first["model"].items() if k != "d_model"},
        "rows": results,
        "total_job_seconds": float(sum(_num(r.get("seconds"), 0.0) for r in results)),
        "environment": _environment(wall_seconds, computed, workers),
        "failed": dict(failed or {}),
        "files": [f.name for f in files] + ["summary.json", "README.md"],
    }
    _atomic_write_text(out_dir / "summary.json", json.dumps(_jsonable(summary), indent=1) + "\n")
    _atomic_write_text(out_dir / "README.md", _bottleneck_markdown(summary, results, files))
    return summary


def _bottleneck_markdown(summary: dict, results: Sequence[dict], files) -> str:
    m = summary["model_except_width"]
    budget = results[0]["train"].get("minutes_budget")
    lines = [
        f"# Bottleneck experiment: {summary['process']} {summary['process_params'] or '(defaults)'}",
        "",
        "Residual variant: the residual stream narrowed to d_model in "
        f"{[r['labels']['width'] for r in results if _variant(r) == 'residual']}; other "
        f"model settings: {m['n_layers']} layers, {m['n_heads']} head(s) of d_head {m['d_head']}, "
        f"d_mlp {m['d_mlp']}, n_ctx {m['n_ctx']}, {m['act_fn']}. Training budget per width: "
        + (f"{budget} min" if budget else f"{results[0]['train']['steps']} steps") + ". Probe: OLS on "
        f"`{results[0]['probe']['hook']}`, all inputs x positions, 20% train / 80% test by sequence. "
        "Linear variant: the unchanged model with a linear map to `width` numbers z after its last "
        "block, then `LN(z W_up + b) W_out + b` to the logits; its probe reads z "
        "(`before_bottleneck_mse` in summary.json: the 64-d residual just before it).",
        "",
        markdown_table(results, BOTTLENECK_COLUMNS),
        "",
        "Loss gap = mean over positions of (held-out cross-entropy - myopic-entropy optimum). "
        "Dimensions (`compmech.analysis.fractal_comparison`): of the distinct true beliefs (theory, "
        "at most 10k of them) and of the probe's predictions at the same points (learned), with the "
        "same estimators (`compmech.geometry.fractal_dimensions`). One-hot: probe on the (last token "
        "x position) one-hot, the best any function of the current token and position can do.",
        "",
        "Reading the residual variant: every block (and the unembedding) reads the stream through "
        "LayerNorm, whose output has its mean and its norm removed, so it lies on a (d - 2)-sphere: "
        "one point at d = 1, two points (a sign) at d = 2, a circle at d = 3, a 2-sphere at d = 4. "
        f"The {summary['num_states'] - 1}-D belief simplex of this process can first be read at "
        f"d = {summary['num_states'] + 1}.",
        "",
    ]
    for r in [r for r in results if "structure_1d" in r]:
        s, msp = r["structure_1d"][-1], r["msp_structure_1d"]
        linear = _variant(r) == "linear"
        what = ("the bottleneck coordinate z (linear bottleneck after the last block of the "
                f"d_model-{r['model']['d_model']} model)" if linear else "the single residual coordinate")
        lines += [
            f"## Width 1, {r['labels'].get('variant', 'residual')} variant: {what}",
            "",
            f"At the last checkpoint (step {s['step']}) it takes {s['num_distinct']} distinct values "
            f"over {s['num_points']} points; box-counting dimension "
            f"{_fmt_dim(s['box_counting_dimension'])}, cluster-count slope "
            f"{_fmt_dim(s['cluster_dimension'])}. The MSP on its best 1-D direction (fit to the "
            f"coordinate, R^2 {msp['regression_r2']:.3f}): {msp['regression']['num_distinct']} distinct "
            f"values, box-counting dimension {_fmt_dim(msp['regression']['box_counting_dimension'])}, "
            f"cluster slope {_fmt_dim(msp['regression']['cluster_dimension'])}.",
            "",
            "| step | tokens | max change since step 0 | distinct | " + " | ".join(
                f"clusters@{x:g}" for x in s["resolutions"]) + " | box dim |",
            "|---:|---:|---:|---:|" + "---:|" * len(s["resolutions"]) + "---:|",
        ]
        msp_row = {"step": "MSP", "tokens_seen": "", "max_abs_change_from_first": None,
                   **msp["regression"]}
        for row in [*r["structure_1d"], msp_row]:
            change = row.get("max_abs_change_from_first")
            lines.append(f"| {row['step']} | {row['tokens_seen']} | "
                         f"{'' if change is None else format(change, '.3g')} | {row['num_distinct']} | "
                         + " | ".join(str(c) for c in row["cluster_counts"])
                         + f" | {_fmt_dim(row['box_counting_dimension'])} |")
        if s.get("label_runs") is not None:
            lines += ["", "Interleaving: runs of the dominant state along the clusters, at the same "
                      f"resolutions: network (last step) {s['label_runs']}; MSP projection "
                      f"{msp['regression']['label_runs']} (about 3 = one block per state; many = "
                      "interleaved sub-ranges)."]
        lines.append("")
        if not linear:
            lines += [
                "Why the residual width-1 model is degenerate: LayerNorm of a 1-vector is its bias "
                "(`x - mean(x) = 0`), so every block reads a constant and the final LayerNorm makes the "
                "logits constant; the coordinate is `W_E[x_t] + W_pos[t] + const` (at most V x n_ctx "
                "values) and the network is a unigram model; no gradient crosses that LayerNorm, so the "
                "embeddings never move (column 'max change'). The linear variant avoids this.",
                "",
            ]
    lines += _failure_lines(summary)
    lines += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in files] + [""]
    env = summary["environment"]
    lines += [f"Total job time {summary['total_job_seconds'] / 60:.1f} min; {_invocation(env)}.", ""]
    return "\n".join(lines)


def _invocation(env: dict) -> str:
    """What the last invocation did, in words."""
    where = f"{env['workers']} worker(s), devices {env['devices']}, {env['date']}"
    if not env["computed_now"]:
        return f"report rebuilt from finished results ({where})"
    return (f"the last invocation ran {len(env['computed_now'])} job(s) in "
            f"{env['wall_seconds_this_invocation'] / 60:.1f} min wall ({where})")


def _failure_lines(summary: dict) -> list[str]:
    if not summary.get("failed"):
        return []
    return (["**Failed (no result; rerun the same command to retry):**", ""]
            + [f"- `{name}`: {msg}" for name, msg in summary["failed"].items()] + [""])


def _fmt_dim(x) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):.2f}"


# ===================================================================== sweep
def _grid(results: Sequence[dict], xs, alphas, path: str, transform=None) -> np.ndarray:
    out = np.full((len(xs), len(alphas)), np.nan)
    index = {(round(r["labels"].get("x", -1), 9), round(r["labels"].get("alpha", -1), 9)): r
             for r in results if r["labels"].get("process") == "mess3"}
    for i, x in enumerate(xs):
        for j, a in enumerate(alphas):
            r = index.get((round(float(x), 9), round(float(a), 9)))
            v = None if r is None else _get(r, path)
            if v is not None:
                out[i, j] = transform(v) if transform else v
    return out


def _heatmaps(results: Sequence[dict], xs, alphas, path: Path) -> Path:
    maps = [
        ("theory: Kaplan-Yorke dimension",
         _grid(results, xs, alphas, "dimensions.theory.kaplan_yorke"), ".2f"),
        ("theory: box-counting dim (3^n_ctx beliefs)",
         _grid(results, xs, alphas, "dimensions.theory.point_cloud.box_counting.dimension"), ".2f"),
        ("learned: box-counting dim (probe output)",
         _grid(results, xs, alphas, "dimensions.learned.box_counting.dimension"), ".2f"),
        ("log10 held-out probe MSE", _grid(results, xs, alphas, "probe.mse_test",
                                          lambda v: math.log10(max(v, 1e-300))), ".2f"),
    ]
    fig = _figure(figsize=(4.0 * len(maps), 3.4))
    axes = fig.subplots(1, len(maps))
    dims = np.concatenate([m.ravel() for _, m, _ in maps[:3]])
    dims = dims[np.isfinite(dims)]
    vmin, vmax = (float(dims.min()), float(dims.max())) if dims.size else (0.0, 2.0)
    for k, (ax, (title, grid, spec)) in enumerate(zip(axes, maps, strict=True)):
        kw = {"vmin": vmin, "vmax": vmax} if k < 3 else {}
        im = ax.imshow(grid, origin="lower", cmap="viridis" if k < 3 else "magma", aspect="auto", **kw)
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                bright = im.norm(v) > 0.6  # dark text on the bright end of both colour maps
                ax.text(j, i, format(v, spec), ha="center", va="center", fontsize=6.5,
                        color="k" if bright else "w")
        ax.set_xticks(range(len(alphas)))
        ax.set_xticklabels([f"{a:g}" for a in alphas], fontsize=7)
        ax.set_yticks(range(len(xs)))
        ax.set_yticklabels([f"{x:g}" for x in xs], fontsize=7)
        ax.set_xlabel("alpha")
        ax.set_ylabel("x")
        ax.set_title(title, fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return _save_png(fig, path)


def _scatter_theory_vs_learned(results: Sequence[dict], path: Path) -> Path:
    fig = _figure(figsize=(4.0, 3.6))
    ax = fig.subplots()
    for r in results:
        t = _get(r, "dimensions.theory.point_cloud.box_counting.dimension")
        learned = _get(r, "dimensions.learned.box_counting.dimension")
        if t is None or learned is None:
            continue
        mess3 = r["labels"].get("process") == "mess3"
        ax.plot(t, learned, "o" if mess3 else "s", ms=4, color="C0" if mess3 else "C3")
        if not mess3:
            ax.annotate(r["name"], (t, learned), fontsize=6)
    lim = ax.get_xlim()
    ax.plot(lim, lim, "k:", lw=0.8)
    ax.set_xlabel("theory box-counting dimension")
    ax.set_ylabel("learned box-counting dimension")
    fig.tight_layout()
    return _save_png(fig, path)


def write_sweep_report(out_dir, results: Sequence[dict], *, xs, alphas, wall_seconds: float,
                       computed=(), failed=None, workers: int = 1) -> dict:
    """Heat maps, ``summary.json`` and ``README.md`` of the sweep in ``out_dir``."""
    out_dir = Path(out_dir)
    files = [_heatmaps(results, xs, alphas, out_dir / "sweep_heatmaps.png"),
             _scatter_theory_vs_learned(results, out_dir / "sweep_theory_vs_learned.png")]
    first = results[0]
    summary = {
        "experiment": "sweep", "xs": list(xs), "alphas": list(alphas),
        "model": first["model"], "rows": list(results),
        "total_job_seconds": float(sum(_num(r.get("seconds"), 0.0) for r in results)),
        "environment": _environment(wall_seconds, computed, workers),
        "failed": dict(failed or {}),
        "files": [f.name for f in files] + ["summary.json", "README.md"],
    }
    _atomic_write_text(out_dir / "summary.json", json.dumps(_jsonable(summary), indent=1) + "\n")
    m = first["model"]
    budget = first["train"].get("minutes_budget")
    env = summary["environment"]
    text = "\n".join([
        "# Process sweep",
        "",
        f"Mess3 grid x in {list(xs)} (rows) x alpha in {list(alphas)} (columns), plus "
        f"{[r['name'] for r in results if r['labels'].get('process') != 'mess3']}. One model per point: "
        f"{m['n_layers']} layers, d_model {m['d_model']}, {m['n_heads']} head(s) of {m['d_head']}, "
        f"d_mlp {m['d_mlp']}, n_ctx {m['n_ctx']}; training "
        + (f"{budget} min" if budget else f"{first['train']['steps']} steps") + " per point.",
        "",
        markdown_table(results, SWEEP_COLUMNS),
        "",
        *_failure_lines(summary),
        "Theory box dim: box-counting dimension of the distinct true beliefs of the probe points (every "
        "length-n_ctx word at every position; at most 10k); learned: the same estimator on the "
        "probe's predictions at those points. "
        "KY: Kaplan-Yorke (Lyapunov) dimension of the Blackwell measure (for a finite MSP the "
        "measure is atomic, dimension 0, but the formula gives h/|lambda_1| > 0). Distance corr: "
        "Pearson correlation of pairwise distances, true vs predicted beliefs (2,000 points).",
        "",
        "## Figures", "", *[f"![{f.stem}]({f.name})" for f in files], "",
        f"Total job time {summary['total_job_seconds'] / 60:.1f} min; {_invocation(env)}.", "",
    ])
    _atomic_write_text(out_dir / "README.md", text)
    return summary


# ===================================================================== gallery
def export_gallery(report_dir, gallery_dir, *, prefix: str, max_kb: int = 300,
                   force: bool = False) -> list[Path]:
    """Copy a report's PNGs and README into a gallery folder, each PNG under ``max_kb``.

    ``report_dir/NAME.png`` becomes ``gallery_dir/PREFIX_NAME.png`` (``NAME.png`` when it already
    starts with the prefix; palette-quantised, then scaled
    down, until it fits ``max_kb``); ``README.md`` becomes ``PREFIX.md`` with its image links
    rewritten. Existing gallery files are not overwritten unless ``force``.

    Returns:
        The files written.
    """
    from PIL import Image

    report_dir, gallery_dir = Path(report_dir), Path(gallery_dir)
    pngs = sorted(report_dir.glob("*.png"))
    names = [p.name if p.name.startswith(prefix) else f"{prefix}_{p.name}" for p in pngs]
    targets = [gallery_dir / n for n in names] + [gallery_dir / f"{prefix}.md"]
    clash = [t for t in targets if t.exists()]
    if clash and not force:
        raise FileExistsError(f"{clash[0]} exists; pass force=True to replace the gallery files")
    gallery_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src, dst in zip(pngs, targets, strict=False):
        image = Image.open(src).convert("RGB")
        scale = 1.0
        while True:
            size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
            small = image.resize(size, Image.LANCZOS) if scale < 1 else image
            small.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
            if dst.stat().st_size <= max_kb * 1024 or scale < 0.3:
                break
            scale *= 0.85
        written.append(dst)
    text = (report_dir / "README.md").read_text()
    for p, n in zip(pngs, names, strict=True):
        text = text.replace(f"]({p.name})", f"]({n})")
    _atomic_write_text(gallery_dir / f"{prefix}.md", text)
    written.append(gallery_dir / f"{prefix}.md")
    return written


__all__ = ["export_gallery", "markdown_table", "write_bottleneck_report", "write_sweep_report"]
