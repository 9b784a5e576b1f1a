"""What every experiment report shares: the environment record, the lines on failures and on the
last invocation, and the gallery export (figures small enough for a repository, links rewritten).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import jax
from PIL import Image

from compmech.files import atomic_output, atomic_write_text


def environment(wall_seconds: float, computed, workers: int = 1) -> dict:
    """Where and when the last invocation ran, and what it computed."""
    return {"wall_seconds_this_invocation": wall_seconds, "computed_now": list(computed),
            "workers": workers, "devices": [str(d) for d in jax.devices()],
            "machine": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def invocation_text(env: dict) -> str:
    """What the last invocation did, in words."""
    where = f"{env['workers']} worker(s), devices {env['devices']}, {env['date']}"
    if not env["computed_now"]:
        return f"report rebuilt from finished results ({where})"
    return (f"the last invocation ran {len(env['computed_now'])} job(s) in "
            f"{env['wall_seconds_this_invocation'] / 60:.1f} min wall ({where})")


def failure_lines(failed: dict[str, str]) -> list[str]:
    """Markdown lines listing failed jobs (none when nothing failed)."""
    if not failed:
        return []
    return (["**Failed (no result; rerun the same command to retry):**", ""]
            + [f"- `{name}`: {msg}" for name, msg in failed.items()] + [""])


def export_gallery(report_dir, gallery_dir, *, prefix: str, max_kb: int = 300,
                   force: bool = False) -> list[Path]:
    """Copy a report's PNGs and README into a gallery folder, each PNG under ``max_kb``.

    ``report_dir/NAME.png`` becomes ``gallery_dir/PREFIX_NAME.png`` (``NAME.png`` when it already
    starts with the prefix; palette-quantised, then scaled down, until it fits ``max_kb``);
    ``README.md`` becomes ``PREFIX.md`` with its image links rewritten. Existing gallery files are
    not overwritten unless ``force``.

    Returns:
        The files written.
    """
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
            with atomic_output(dst) as fh:
                small.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
                    fh, format="PNG", optimize=True)
            if dst.stat().st_size <= max_kb * 1024 or scale < 0.3:
                break
            scale *= 0.85
        written.append(dst)
    text = (report_dir / "README.md").read_text()
    for p, n in zip(pngs, names, strict=True):
        text = text.replace(f"]({p.name})", f"]({n})")
    atomic_write_text(gallery_dir / f"{prefix}.md", text)
    written.append(gallery_dir / f"{prefix}.md")
    return written


__all__ = ["environment", "export_gallery", "failure_lines", "invocation_text"]
