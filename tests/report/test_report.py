"""The HTML report: the normals panel beside depth, and the "rendered vs real" section (``--reference``) with rendered
eyes beside a real iris set, its statistics table, the no-eyes case and the unreadable-reference error."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml

from fakevision.core import Annotations, Provenance, Sample
from fakevision.core.errors import InputError
from fakevision.io.dataset import FakevisionDataset
from fakevision.io.images import encode_image
from fakevision.render.iris_stats import KEYS, sample_iris_statistics, summarise
from fakevision.report import write_report
from fakevision.report.reference import mean_std
from tests.io.test_writers import make_samples, write_run

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

FV = [sys.executable, "-m", "fakevision.cli"]


def fv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FV, *args], capture_output=True, text=True, timeout=600)


def section(html: str) -> str:
    """The reference section of a report page."""
    m = re.search(r'<section class="reference".*?</section>', html, re.S)
    assert m, "no reference section in the report"
    return m.group(0)


def synthetic_eye(h: int, w: int, cx: float, cy: float, r_iris: float, r_pupil: float, iris: int,
                  name: str) -> Sample:
    """A grey eye: bright surround, iris annulus of grey ``iris``, dark pupil; its iris mask excludes the pupil."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    r = np.hypot(xx - cx, yy - cy)
    img = np.full((h, w, 3), 190, np.uint8)
    m = (r < r_iris) & (r >= r_pupil)
    img[m] = iris
    img[r < r_pupil] = 20
    ys, xs = np.nonzero(m)
    box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
    return Sample(img, Annotations(label="eye", categories=["iris"], boxes=box, masks=m[None]),
                  Provenance("synthetic_eye", name))


@pytest.fixture(scope="module")
def synthetic_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Sample], list[Sample]]:
    """An output of 4 synthetic eyes and a mask-pair folder of 3 other synthetic eyes (images/ + masks/)."""
    root = tmp_path_factory.mktemp("synthetic-eyes")
    ours = [synthetic_eye(60, 80, 40, 30, 12 + i, 4 + i, 90 + 10 * i, f"eye-{i}") for i in range(4)]
    write_run(root / "out", ours, formats=["coco", "manifest"])
    real = [synthetic_eye(90, 120, 60, 45, 25 + 3 * i, 8, 60 + 5 * i, f"real-{i}") for i in range(3)]
    ref = root / "ref"
    (ref / "images").mkdir(parents=True)
    (ref / "masks").mkdir()
    for i, s in enumerate(real):
        (ref / "images" / f"{i}.png").write_bytes(encode_image(s.image))
        (ref / "masks" / f"{i}.png").write_bytes(encode_image(s.annotations.masks[0].astype(np.uint8) * 255))
    return root / "out", ref, ours, real


def test_report_shows_normals_beside_depth(tmp_path: Path) -> None:
    write_run(tmp_path, make_samples())
    html = write_report(tmp_path).read_text()
    assert 'alt="depth synth-000"' in html and 'alt="normals synth-000"' in html
    assert 'alt="normals synth-002"' not in html  # sample 2 has no normals
    assert "with_normals" in html


def test_reference_section_numbers_equal_iris_stats(synthetic_sets: tuple) -> None:
    out, ref, ours, real = synthetic_sets
    html = section(write_report(out, reference=ref, reference_samples=2).read_text())
    assert "Rendered vs real: ref" in html and "no eye samples" not in html
    assert html.count('alt="rendered ') == 2 and html.count('alt="real ') == 2
    want_ours = summarise(sample_iris_statistics(s) for s in ours)
    want_real = summarise(sample_iris_statistics(s) for s in real)
    for key in KEYS:
        assert f"<td class=\"n\">{mean_std(want_ours[key])}</td>" in html, key
        assert f"<td class=\"n\">{mean_std(want_real[key])}</td>" in html, key
    diff = want_ours["diameter_px"]["mean"] - want_real["diameter_px"]["mean"]
    assert f"<td class=\"n\">{diff:.3g}</td>" in html
    assert "rendered 4 of 4 examined have an iris, real 3 of 3" in " ".join(html.split())


def test_output_without_eye_samples_says_so(tmp_path: Path, synthetic_sets: tuple) -> None:
    _, ref, _, real = synthetic_sets
    write_run(tmp_path, make_samples())
    html = section(write_report(tmp_path, reference=ref).read_text())
    assert "This output holds no eye samples" in html
    assert 'alt="rendered ' not in html and html.count('alt="real ') == 3
    want_real = summarise(sample_iris_statistics(s) for s in real)
    assert mean_std(want_real["contrast_surround"]) in html  # the real set's statistics are still shown


def test_reference_without_iris_masks_says_so(tmp_path: Path, synthetic_sets: tuple) -> None:
    out, _, _, _ = synthetic_sets
    folder = tmp_path / "classes"
    (folder / "cat").mkdir(parents=True)
    (folder / "cat" / "a.png").write_bytes(encode_image(np.zeros((8, 8, 3), np.uint8)))
    html = section(write_report(out, html_path=tmp_path / "r.html", reference=folder).read_text())
    assert "The reference set holds no <code>iris</code> masks" in html


@pytest.mark.parametrize("bad", ["absent.tar.xz", "garbage.tar.xz"])
def test_unreadable_reference_is_a_one_line_error_naming_it(tmp_path: Path, bad: str) -> None:
    write_run(tmp_path / "out", make_samples(2), formats=["coco"])
    path = tmp_path / bad
    if bad.startswith("garbage"):
        path.write_bytes(b"not an archive at all")
    r = fv("report", str(tmp_path / "out"), "--reference", str(path))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], r.stderr
    assert not (tmp_path / "out" / "report.html").exists(), "fails before writing anything"
    with pytest.raises(InputError, match=re.escape(str(path))):
        write_report(tmp_path / "out", reference=path)


@pytest.fixture(scope="module")
def eyes_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in ``eyes`` recipe (NIR eyes, iris-phone degradation) cut to 6 samples."""
    from fakevision.engine import Recipe, make

    data = yaml.safe_load(resources.files("fakevision.recipes").joinpath("eyes.yaml").read_text())
    data["sources"][0]["count"] = 6
    data["shard_size"] = 3
    out = tmp_path_factory.mktemp("eyes") / "out"
    make(Recipe.from_dict(data, "eyes.yaml"), out, workers=1)
    return out


def test_rendered_eyes_beside_mmu_through_the_cli(eyes_out: Path, shared_data: Path, tmp_path: Path) -> None:
    mmu = shared_data / "mmu_iris_masks" / "mmu_iris_images_and_masks.tar.xz"
    if not mmu.is_file():
        pytest.skip(f"MMU iris archive not found at {mmu}")
    html_path = tmp_path / "report.html"
    r = fv("report", str(eyes_out), "--html", str(html_path), "--reference", str(mmu), "--reference-samples", "3")
    assert r.returncode == 0, r.stderr
    html = section(html_path.read_text())
    assert "Rendered vs real: mmu_iris_images_and_masks.tar.xz" in html and "mask_pairs" in html
    assert html.count('alt="rendered eyes-') == 3 and html.count('alt="real Dataset/images/') == 3
    ds = FakevisionDataset(eyes_out)
    want_ours = summarise(sample_iris_statistics(ds.to_sample(i)) for i in range(len(ds)))
    from fakevision.render.iris_stats import mmu_statistics

    want_real = mmu_statistics(mmu)  # all 450 pairs: the report reads them all too (under its 500 cap)
    assert want_real["n"] == 450
    for key in ("diameter_px", "iris_mean", "contrast_surround", "contrast_pupil"):
        assert mean_std(want_ours[key]) in html, key
        assert mean_std(want_real[key]) in html, key


def test_each_source_gets_its_own_section_with_faces_drawn(tmp_path: Path) -> None:
    """The default job's mix (many rendered scenes, few GAN faces): each source has its own section, the small one
    included, and the faces are drawn with their 68 landmarks (green points on the face)."""
    recipe = {"name": "mix", "seed": 0, "shard_size": 8,
              "sources": [{"type": "render", "name": "render", "count": 12},
                          {"type": "gan_faces", "name": "gan_faces", "count": 3, "size": 128}],
              "outputs": [{"format": "coco"}, {"format": "manifest"}]}
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(recipe))
    r = fv("make", str(tmp_path / "mix.yaml"), "--out", str(tmp_path / "X"), "-q")
    assert r.returncode == 0, r.stderr
    html = write_report(tmp_path / "X", num_samples=6).read_text()
    assert "Source <code>render</code> (5 of 12)" in html  # its share of 6: 6 * 12 / 15 = 4.8
    assert "Source <code>gan_faces</code> (3 of 3)" in html
    faces = re.findall(r'<img src="data:image/png;base64,([^"]+)"[^>]*alt="gan_faces-\d+"', html)
    assert len(faces) == 3
    import cv2

    pic = cv2.imdecode(np.frombuffer(__import__("base64").b64decode(faces[0]), np.uint8), cv2.IMREAD_COLOR)
    green = (pic[:, :, 1] > 200) & (pic[:, :, 0] < 80) & (pic[:, :, 2] < 80)  # BGR: the visible-keypoint colour
    assert green.sum() > 68  # every landmark drawn as a dot of several pixels
