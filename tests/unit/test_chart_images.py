"""The review's charts: a plot of two revisions, as `dvc plots diff --json` gives it (DVC's own
templates, filled by dvc-render), drawn offline as one PNG per side."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from dvc_render import VegaRenderer
from PIL import Image

from pipeline.errors import PipelineError
from tools.chart_images import chart_images, for_revision

SIDES = {"HEAD~1": "base", "workspace": "change"}
LOSS = "plots/train_dit/loss.csv"


def diff_entry(rows: list[dict], template: str = "linear", **props: str) -> dict:
    return {
        "type": "vega",
        "revisions": list(dict.fromkeys(row["rev"] for row in rows)),
        "content": VegaRenderer(rows, LOSS, template=template, **props).get_filled_template(),
    }


def loss_rows(revision: str, steps: int, slope: float) -> list[dict]:
    return [{"step": s, "loss": 2.0 - slope * s, "rev": revision} for s in range(steps)]


def two_sided() -> dict:
    rows = loss_rows("HEAD~1", 20, 0.05) + loss_rows("workspace", 10, 0.1)
    return diff_entry(rows, x="step", y="loss")


def pixels(path: Path) -> np.ndarray:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), path
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def near(image: np.ndarray, colour: str) -> int:
    """How many pixels are within a few levels of `colour` (#rrggbb)."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - rgb).max(axis=-1) <= 8).sum())


def test_each_side_of_a_plot_is_drawn_as_its_own_png_with_its_own_rows(tmp_path: Path) -> None:
    image_plot = {"type": "image", "revisions": ["workspace"], "url": "samples.png"}
    rendered = {"data": {LOSS: [two_sided()], "plots/samples.png": [image_plot]}}
    images = chart_images(rendered, SIDES, tmp_path)
    folder = "charts/plots_train_dit_loss.csv"
    assert images == {LOSS: {"base": f"{folder}/base.png", "change": f"{folder}/change.png"}}
    base, change = (pixels(tmp_path / images[LOSS][side]) for side in ("base", "change"))
    for image in (base, change):
        assert image.shape[0] > 200 and image.shape[1] > 200
        assert (image.max(axis=-1) < 100).sum() > 200  # dark ink: axes, ticks, title, labels
    assert base.shape != change.shape or not np.array_equal(base, change)
    base_colour, change_colour = two_sided()["content"]["encoding"]["color"]["scale"]["range"]
    assert near(base, base_colour) > 100 and near(base, change_colour) == 0
    assert near(change, change_colour) > 100 and near(change, base_colour) == 0


def test_a_revision_alone_keeps_its_rows_and_its_colour_and_leaves_the_diff_untouched() -> None:
    spec = two_sided()["content"]
    single = for_revision(spec, "workspace")
    assert single is not None
    assert [row["step"] for row in single["data"]["values"]] == list(range(10))
    assert single["encoding"]["color"]["scale"] == {"domain": ["workspace"], "range": ["#13adc7"]}
    assert spec["encoding"]["color"]["scale"]["domain"] == ["HEAD~1", "workspace"]
    assert for_revision(spec, "main") is None


def test_a_confusion_matrix_of_each_side_is_drawn(tmp_path: Path) -> None:
    """DVC's confusion template facets by revision and still uses the Vega-Lite 4 `selection`."""
    rows = [
        {"actual": a, "predicted": p, "rev": rev}
        for rev in SIDES
        for a, p in [("cat", "cat"), ("cat", "dog"), ("dog", "dog"), ("dog", "dog")]
    ]
    entry = diff_entry(rows, template="confusion", x="actual", y="predicted")
    images = chart_images({"data": {"confusion.csv": [entry]}}, SIDES, tmp_path)
    for side in ("base", "change"):
        image = pixels(tmp_path / images["confusion.csv"][side])
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20  # cells of several shades


def test_a_plot_only_in_the_change_has_no_base_image_and_an_old_chart_does_not_linger(
    tmp_path: Path,
) -> None:
    stale = tmp_path / "charts" / "dropped_plot" / "base.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    entry = diff_entry(loss_rows("workspace", 5, 0.1), x="step", y="loss")
    images = chart_images({"data": {LOSS: [entry]}}, SIDES, tmp_path)
    assert set(images[LOSS]) == {"change"}
    assert not stale.parent.exists()


def test_a_spec_without_inline_rows_is_refused_by_plot_name(tmp_path: Path) -> None:
    entry = {"type": "vega", "revisions": ["workspace"], "content": {"data": {"url": "a.csv"}}}
    with pytest.raises(PipelineError, match="plot custom.csv: its spec holds no rows"):
        chart_images({"data": {"custom.csv": [entry]}}, SIDES, tmp_path)
