"""DVC's vega plots as PNG images, one per revision, for the review: a pull-request comment runs no
JavaScript, so the charts of both sides are drawn here, offline, from the Vega-Lite specs that
`dvc plots diff --json` fills with both revisions' rows (each row names its revision in `rev`).
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import vl_convert

from pipeline.errors import PipelineError
from pipeline.files import atomic_path

# DVC's templates are written for Vega-Lite 5 (its page loads 5.2): the oldest vl-convert has
VEGA_LITE = "5.8"
REVISION_FIELD = "rev"  # the field DVC adds to every row
CHARTS = Path("charts")  # under the report's folder


def for_revision(spec: dict[str, Any], revision: str) -> dict[str, Any] | None:
    """The chart of `revision` alone: its rows, and any scale over revisions narrowed to it (so it
    keeps the colour it has in DVC's overlay). None when the revision has no rows."""
    single = copy.deepcopy(spec)
    rows = [row for row in spec["data"]["values"] if row.get(REVISION_FIELD) == revision]
    if not rows:
        return None
    single["data"]["values"] = rows
    _narrow_scales(single, revision)
    return single


def _narrow_scales(node: Any, revision: str) -> None:
    if isinstance(node, dict):
        scale = node.get("scale")
        if node.get("field") == REVISION_FIELD and isinstance(scale, dict) and "domain" in scale:
            keep = [i for i, value in enumerate(scale["domain"]) if value == revision]
            for key in ("domain", "range"):
                if isinstance(scale.get(key), list):
                    scale[key] = [scale[key][i] for i in keep]
        for child in node.values():
            _narrow_scales(child, revision)
    elif isinstance(node, list):
        for child in node:
            _narrow_scales(child, revision)


def png(spec: dict[str, Any]) -> bytes:
    """The chart drawn to PNG with no network access (DVC's specs carry their rows inline)."""
    return vl_convert.vegalite_to_png(spec, vl_version=VEGA_LITE, scale=1, allowed_base_urls=[])


def slug(plot: str) -> str:
    """A folder name for a plot id (a path like `plots/train_dit/loss.csv`, or a name)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", plot).strip("_")


def chart_images(
    rendered: dict[str, Any], sides: dict[str, str], folder: Path
) -> dict[str, dict[str, str]]:
    """For each vega plot of `dvc plots diff --json` output, a PNG per side (`sides` maps each
    revision to its side's name), as paths relative to `folder`, under `folder/charts/`."""
    shutil.rmtree(folder / CHARTS, ignore_errors=True)  # a plot dropped since must not linger
    images: dict[str, dict[str, str]] = {}
    for plot, entries in rendered.get("data", {}).items():
        for entry in entries:
            if entry.get("type") != "vega":
                continue
            if not isinstance(entry["content"].get("data", {}).get("values"), list):
                raise PipelineError(
                    f"plot {plot}: its spec holds no rows in data.values; only DVC's own "
                    "templates (linear, confusion, bar_horizontal, ...) are drawn as images"
                )
            for revision, side in sides.items():
                single = for_revision(entry["content"], revision)
                if single is None:
                    continue
                path = CHARTS / slug(plot) / f"{side}.png"
                with atomic_path(folder / path) as tmp:
                    tmp.write_bytes(png(single))
                images.setdefault(plot, {})[side] = path.as_posix()
    return images
