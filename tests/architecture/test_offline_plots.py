"""The review plots draw offline: `.dvc/config` names the committed page template, which loads
nothing from the network, and the libraries it inlines are the versions DVC's own page loads from
its CDN. (web/tests/plotsTemplate.test.ts holds the template equal to what its script builds from
those npm packages; web/e2e/plots.test.ts draws the pages in Chromium without a network.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from configobj import ConfigObj
from dvc_render.vega import VegaRenderer

from tests.conftest import ROOT


def offline_template() -> Path:
    config = ConfigObj(str(ROOT / ".dvc" / "config"))
    return ROOT / ".dvc" / config["plots"]["html_template"]  # DVC reads it from .dvc/


def test_dvc_config_names_a_committed_template_that_loads_nothing_from_the_network() -> None:
    page = offline_template().read_text()
    assert "{plot_divs}" in page
    assert "{scripts}" not in page, "DVC would put its CDN <script> tags there"
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert '<meta charset="utf-8">' in page  # plot titles are not ASCII ("Fréchet")


def test_the_inlined_libraries_are_the_versions_dvc_loads_from_its_cdn() -> None:
    cdn = dict(re.findall(r"cdn\.jsdelivr\.net/npm/([\w-]+)@([\d.]+)", VegaRenderer.SCRIPTS))
    assert set(cdn) == {"vega", "vega-lite", "vega-embed"}
    pinned = json.loads((ROOT / "web" / "package.json").read_text())["devDependencies"]
    assert {name: pinned.get(name) for name in cdn} == cdn
    page = offline_template().read_text()
    for name, version in cdn.items():
        assert f"/* {name}@{version} " in page, name
