"""The report in a real browser: headless Chromium (Debian's ``chromium``, which ``scripts/test.sh`` installs) driven
by Playwright. The page must load with no console error, decode every picture of the grid, change its drawn pixels
when each layer is switched, zoom a sample with keypoint names on hover, and page through a source. Screenshots are
saved as artefacts: under the test's tmp dir and copied to ``artifacts/`` in the repository (``FAKEVISION_ARTIFACTS``
overrides), where CI keeps them."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

CHROMIUM = Path(os.environ.get("FAKEVISION_CHROMIUM", "/usr/bin/chromium"))
# Flags for a machine without network or display (see the project's machine notes): no sandbox as root, no GPU, no
# background connections that a closed network refuses.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("FAKEVISION_ARTIFACTS", REPO / "artifacts"))

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e .[test])")
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium (scripts/test.sh does, as root)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default job's mix, small: rendered scenes (masks, boxes, 3D keypoints, depth, normals) and GAN faces
    (68 landmarks), enough samples for two pages of the render source."""
    from fakevision.engine import Recipe, make
    from fakevision.report import write_report

    out = tmp_path_factory.mktemp("browser") / "out"
    recipe = Recipe.from_dict({"name": "browser-test", "seed": 0, "shard_size": 16,
                               "sources": [{"type": "render", "count": 30, "width": 128, "height": 96},
                                           {"type": "gan_faces", "count": 4}],
                               "outputs": ["coco", "manifest"]})
    make(recipe, out)
    return write_report(out, num_samples=34, page_size=24)


def _open(browser, path: Path, width: int = 1400):
    page = browser.new_page(viewport={"width": width, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def _load_all_visible(page) -> None:
    """Scroll through the page so lazy pictures load, then wait until every shown card's pictures finished."""
    height = page.evaluate("document.body.scrollHeight")
    for y in range(0, height + 1000, 700):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(30)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function("""() => Array.from(document.querySelectorAll('.card:not([hidden]) img'))
        .filter(i => getComputedStyle(i).display !== 'none').every(i => i.complete)""", timeout=30000)


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _save(name: str, png: bytes, tmp_path: Path) -> Path:
    p = tmp_path / name
    p.write_bytes(png)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(p, ARTIFACTS / name)
    return p


def test_page_loads_clean_and_every_grid_picture_decodes(browser, report: Path, tmp_path: Path) -> None:
    page, problems = _open(browser, report)
    _load_all_visible(page)
    imgs = page.evaluate("""() => Array.from(document.querySelectorAll('.card:not([hidden]) img'))
        .map(i => ({alt: i.alt, w: i.naturalWidth, shown: getComputedStyle(i).display !== 'none'}))""")
    base = [i for i in imgs if i["alt"].split(" ")[0] not in ("depth", "normals", "masks")]
    assert len(base) == 24 + 4, imgs  # page 1 of render (24 of 30) and the 4 faces
    # cards of one size whatever the picture's shape (128x96 scenes, 64x64 faces), and the grid uses the window
    boxes = page.evaluate("""() => Array.from(document.querySelectorAll('.card:not([hidden])'))
        .map(c => { const r = c.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; })""")
    assert len({tuple(b) for b in boxes}) == 1, boxes
    grid = page.evaluate("document.querySelector('.grid').getBoundingClientRect().width")
    assert grid > 0.9 * 1400 - 60, grid
    assert all(i["w"] > 0 for i in imgs if i["shown"]), [i for i in imgs if i["shown"] and not i["w"]]
    # the hidden layers are decoded too once switched on
    for layer in ("depth", "normals"):
        page.click(f'input[data-layer="{layer}"]')
    _load_all_visible(page)
    widths = page.evaluate("""() => Array.from(document.querySelectorAll('.card:not([hidden]) img'))
        .map(i => i.naturalWidth)""")
    assert all(w > 0 for w in widths), widths
    for layer in ("depth", "normals"):
        page.click(f'input[data-layer="{layer}"]')
    page.wait_for_timeout(200)
    _save("report-top.png", page.screenshot(), tmp_path)
    _save("report-full.png", page.screenshot(full_page=True), tmp_path)
    # page 2 of the render source
    page.click('.group[data-group="0"] .pager button:has-text("2")')
    _load_all_visible(page)
    shown = page.evaluate("""() => Array.from(document.querySelectorAll('.group[data-group="0"] .card'))
        .filter(c => !c.hidden).map(c => c.querySelector('img').naturalWidth)""")
    assert len(shown) == 6 and all(w > 0 for w in shown), shown
    assert not problems, problems
    page.close()


@pytest.mark.parametrize("layer", ["masks", "boxes", "keypoints", "depth", "normals"])
def test_each_layer_toggle_changes_the_drawn_pixels(browser, report: Path, tmp_path: Path, layer: str) -> None:
    page, problems = _open(browser, report)
    _load_all_visible(page)
    card = page.locator('.group[data-group="0"] .card').first
    card.scroll_into_view_if_needed()
    before = card.screenshot()
    page.click(f'input[data-layer="{layer}"]')
    page.wait_for_timeout(150)
    _load_all_visible(page)
    after = card.screenshot()
    changed = np.abs(_pixels(before) - _pixels(after)).max(axis=2) > 24
    assert changed.mean() > 0.002, f"switching {layer} changed {changed.mean():.4%} of the card's pixels"
    page.click(f'input[data-layer="{layer}"]')  # and back
    page.wait_for_timeout(150)
    again = card.screenshot()
    assert np.abs(_pixels(before) - _pixels(again)).max() <= 24, f"{layer} off again does not restore the card"
    if layer == "keypoints":
        _save("report-card-keypoints-off.png", after, tmp_path)
    assert not problems, problems
    page.close()


def test_zoom_shows_full_resolution_with_keypoint_names_on_hover(browser, report: Path, tmp_path: Path) -> None:
    page, problems = _open(browser, report)
    data = json.loads(page.evaluate("document.getElementById('fv-data').textContent"))
    face = next(i for i, s in enumerate(data["samples"]) if s["source"] == "gan_faces")
    page.click(f'.card[data-i="{face}"]')
    page.wait_for_selector("#zoom:not([hidden])")
    page.wait_for_function("document.getElementById('zoom-canvas').width > 0")
    page.wait_for_timeout(300)
    s = data["samples"][face]
    box = page.locator("#zoom-canvas").bounding_box()
    assert box["width"] >= 4 * s["w"], box  # a 64 px face shown at least 4x, in whole pixels
    scale = box["width"] / s["w"]
    k = 36  # the subject's right eye corner
    x, y = s["vectors"]["keypoints"][0][k]
    page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
    page.wait_for_selector("#zoom-tip:not([hidden])")
    tip = page.inner_text("#zoom-tip")
    assert f"#{k} right_eye_0" in tip, tip
    assert '"source": "gan_faces"' in page.inner_text("#zoom-provenance")
    _save("report-zoom-face.png", page.screenshot(), tmp_path)
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(200)
    assert page.inner_text("#zoom-title") != s["id"]
    page.keyboard.press("Escape")
    assert page.locator("#zoom").is_hidden()
    assert not problems, problems
    page.close()
