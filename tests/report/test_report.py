"""The HTML report: layers per sample, the "fake beside real" section (``--reference``) with rendered eyes beside a
real iris set, its statistics table, the no-eyes case and the unreadable-reference error; formatted tables, charts,
parameter histograms, evaluation results and the structure that keeps it fast at 10,000+ samples. What the page
does in a browser (toggles, zoom, no console errors) is tested in ``test_browser.py``."""

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
from fakevision.evaluate.iris_stats import KEYS, sample_iris_statistics, summarise
from fakevision.io.dataset import FakevisionDataset
from fakevision.io.images import encode_image
from fakevision.report import write_report
from fakevision.report.reference import mean_std
from tests.io.test_writers import make_samples, write_run

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

FV = [sys.executable, "-m", "fakevision.cli"]


def fv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FV, *args], capture_output=True, text=True, timeout=600)


def section(html: str) -> str:
    """The reference section of a report page."""
    m = re.search(r'<section id="reference" class="reference".*?</section>', html, re.S)
    assert m, "no reference section in the report"
    return m.group(0)


def page_data(html: str) -> dict:
    """The JSON the page's script reads (samples' vectors, provenance, full pictures)."""
    m = re.search(r'<script type="application/json" id="fv-data">(.*?)</script>', html, re.S)
    assert m, "no data block"
    return __import__("json").loads(m.group(1).replace("<\\/", "</"))


def cards(html: str) -> list[str]:
    """The alt text (sample id) of every card's picture, in page order."""
    return re.findall(r'<img class="l-image"[^>]*alt="([^"]+)"', html)


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


def test_every_annotation_kind_is_a_layer(tmp_path: Path) -> None:
    write_run(tmp_path, make_samples())
    html = write_report(tmp_path).read_text()
    for layer in ("depth", "normals", "masks"):
        assert f'alt="{layer} synth-000"' in html, layer
    assert 'alt="normals synth-002"' not in html and 'alt="masks synth-002"' not in html  # sample 2 has neither
    for box in ('data-layer="masks" checked', 'data-layer="boxes" checked', 'data-layer="keypoints" checked',
                'data-layer="depth"', 'data-layer="normals"'):
        assert box in html, box
    d = page_data(html)["samples"][0]
    v = d["vectors"]
    assert len(v["boxes"]) == 2 and v["schema"] == "ibug68" and len(v["kp_names"]) == 68
    assert v["kp_names"][36] == "right_eye_0" and [36, 37] in v["skeleton"]  # names for hover, skeleton drawn
    assert d["full"] is None and d["provenance"]["sample_id"] == "synth-000"  # 32 px: the thumbnail is full size
    assert "samples with normals" in html
    legend = re.search(r'<section id="samples">.*?<p class="note">(.*?)</p>', html, re.S).group(1)
    assert all(w in legend for w in ("Masks tinted", "boxes", "keypoints", "magma", "normals"))


def test_the_legend_names_only_what_the_samples_carry(tmp_path: Path) -> None:
    samples = [Sample(np.full((16, 16, 3), 40 * i, np.uint8), Annotations(label="a"),
                      Provenance("flat", f"flat-{i}")) for i in range(3)]
    write_run(tmp_path, samples, formats=["coco", "manifest"])
    legend = re.search(r'<section id="samples">.*?<p class="note">(.*?)</p>', write_report(tmp_path).read_text(),
                       re.S).group(1)
    assert "carry no annotations" in legend and "magma" not in legend and "Masks" not in legend
    html = (tmp_path / "report.html").read_text()
    ok = re.search(r'<p class="ok">(.*?)</p>', html, re.S).group(1)
    assert "pycocotools" in ok and "masks" not in ok and "keypoints" not in ok and "3 samples checked" in ok


def test_reference_section_numbers_equal_iris_stats(synthetic_sets: tuple) -> None:
    out, ref, ours, real = synthetic_sets
    html = section(write_report(out, reference=ref, reference_samples=2).read_text())
    assert "Fake beside real: ref" in html and "no eye samples" not in html
    assert cards(html) == ["eye-0", "images/0.png", "eye-3", "images/2.png"]  # pairs: fake, real
    want_ours = summarise(sample_iris_statistics(s) for s in ours)
    want_real = summarise(sample_iris_statistics(s) for s in real)
    for key in KEYS:
        assert f"<td class=\"n\">{mean_std(want_ours[key])}</td>" in html, key
        assert f"<td class=\"n\">{mean_std(want_real[key])}</td>" in html, key
    diff = want_ours["diameter_px"]["mean"] - want_real["diameter_px"]["mean"]
    assert f"<td class=\"n\">{diff:.3g}</td>" in html
    assert "rendered 4 of 4 examined have an iris, real 3 of 3" in " ".join(html.split())


def test_output_without_eye_samples_is_compared_by_eye(tmp_path: Path, synthetic_sets: tuple) -> None:
    _, ref, _, real = synthetic_sets
    write_run(tmp_path, make_samples())
    html = section(write_report(tmp_path, reference=ref).read_text())
    assert "Iris statistics" not in html and "no eye samples" not in html  # no iris talk for a non-eye output
    # not eyes: the output's samples beside the real ones all the same (the comparison is by eye, then)
    assert cards(html) == ["synth-000", "images/0.png", "synth-001", "images/1.png", "synth-002", "images/2.png",
                           "synth-003", "synth-004", "synth-005"]  # 6 fake, the 3 real there are
    assert html.count("no real sample") == 3


def test_a_derived_sample_is_shown_beside_its_parent(tmp_path: Path, synthetic_sets: tuple) -> None:
    """Augmented from the reference: each fake goes beside the real sample its provenance names as parent."""
    _, ref, _, _ = synthetic_sets
    kids = [Sample(np.full((20, 20, 3), 60 * i, np.uint8), Annotations(label="a"),
                   Provenance("augment", f"aug-{i}", parents=[f"images/{(2 * i + 1) % 3}.png"])) for i in range(3)]
    write_run(tmp_path, kids, formats=["coco", "manifest"])
    html = section(write_report(tmp_path, reference=ref, reference_samples=3).read_text())
    assert cards(html) == ["aug-0", "images/1.png", "aug-1", "images/0.png", "aug-2", "images/2.png"]
    assert "beside the real sample it was made from" in " ".join(html.split())


def test_reference_without_iris_masks_says_so(tmp_path: Path, synthetic_sets: tuple) -> None:
    out, _, _, _ = synthetic_sets
    folder = tmp_path / "classes"
    (folder / "cat").mkdir(parents=True)
    (folder / "cat" / "a.png").write_bytes(encode_image(np.zeros((8, 8, 3), np.uint8)))
    html = section(write_report(out, html_path=tmp_path / "r.html", reference=folder).read_text())
    assert "The reference set holds no <code>iris</code> masks" in html
    assert cards(html) == ["eye-0", "cat/a.png", "eye-1", "eye-2", "eye-3"]


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
    assert "Fake beside real: mmu_iris_images_and_masks.tar.xz" in html and "mask_pairs" in html
    ids = cards(html)
    assert len(ids) == 6 and all(i.startswith("eyes-") for i in ids[0::2])
    assert all(i.startswith("Dataset/images/") for i in ids[1::2])
    ds = FakevisionDataset(eyes_out)
    want_ours = summarise(sample_iris_statistics(ds.to_sample(i)) for i in range(len(ds)))
    from fakevision.evaluate.iris_stats import mmu_statistics

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
    html = write_report(tmp_path / "X", num_samples=20).read_text()
    # its share of 20 (20 * 12 / 15 = 16), and at least 8 of a small source: all 3 faces
    assert "Source <code>render</code> <small>12 of 12 samples shown" in html
    assert "Source <code>gan_faces</code> <small>3 of 3 samples shown" in html
    faces = [s for s in page_data(html)["samples"] if s["source"] == "gan_faces"]
    assert len(faces) == 3 and all(s["px"] for s in faces)  # 128 px faces are enlarged: drawn as pixels
    v = faces[0]["vectors"]
    assert len(v["keypoints"][0]) == 68 and v["kp_names"][30] == "nose_bridge_3" and len(v["skeleton"]) > 60


# --- tables, charts, histograms, results, scale ----------------------------------------------------------------------

def test_tables_are_formatted_and_provenance_is_whole(tmp_path: Path) -> None:
    write_run(tmp_path, make_samples())
    html = write_report(tmp_path).read_text()
    stats = re.search(r'<section id="statistics">.*?</section>', html, re.S).group(0)
    assert "{'" not in stats and not re.search(r"\d\.\d{4,}", stats), "no dict reprs, no long floats"
    assert re.search(r"<th>box width \(px\)</th><td>min [\d.]+ · median [\d.]+ · mean [\d.]+ · max [\d.]+</td>",
                     stats), stats
    for example in re.findall(r"<pre>(.*?)</pre>", html, re.S):  # whole JSON, not cut at a fixed length
        __import__("json").loads(__import__("html").unescape(example))


def test_counts_are_bar_charts_and_unlabelled_sets_say_so(tmp_path: Path) -> None:
    samples = make_samples(4)
    for s in samples:
        s.annotations.label = None
    write_run(tmp_path, samples)
    html = write_report(tmp_path).read_text()
    counts = re.search(r'<section id="counts">.*?</section>', html, re.S).group(0)
    assert "No sample has a class label" in counts and "(none)" not in counts
    assert "<svg" in counts and "instances per category" in counts and "<title>face: " in counts  # hover values


def test_sampled_parameters_are_histograms(tmp_path: Path) -> None:
    samples = make_samples(4)
    for i, s in enumerate(samples):
        s.provenance.params = {"light": {"ambient": 0.1 * i, "kind": ["sun", "lamp"][i % 2]}, "z": [i] * 8,
                               "seed": i, "constant": 3}
    write_run(tmp_path, samples)
    html = write_report(tmp_path).read_text()
    params = re.search(r'<section id="parameters">.*?</section>', html, re.S).group(0)
    for key in ("light.ambient", "light.kind", "z[]"):
        assert key in params, key
    assert "constant" not in params and ">seed" not in params  # constants and seeds are not sampled parameters
    assert params.count("<svg") == 3


def _pairs(k: int) -> list[dict]:
    import base64

    pic = base64.b64encode(encode_image(np.full((8, 8, 3), 90, np.uint8))).decode()
    return [{"fake": f"f{i}", "real": f"r{i}", "distance": 0.1 * i, "flagged": i == 0, "fake_png": pic,
             "real_png": pic} for i in range(k)]


def test_evaluation_results_are_plotted_with_the_extractor_named(tmp_path: Path) -> None:
    import json

    write_run(tmp_path / "out", make_samples(2))
    res = tmp_path / "results"
    (res / "landmarks").mkdir(parents=True)
    rows = [{"ratio": r, "n_fake": int(100 * (r if r != "inf" else 9)), "test_nme": {"mean": 0.08 - 0.01 * k,
             "std": 0.004, "n": 5}} for k, r in enumerate([0, 1, 2, "inf"])]
    rows[1]["diff_vs_real_only"] = {"diff": -0.01, "ci95": [-0.015, -0.005], "excludes_zero": True}
    (res / "landmarks" / "protocol.json").write_text(json.dumps(
        {"task": "landmarks", "real": "faces_68pt", "fake": "gan-faces", "seeds": [0, 1, 2, 3, 4], "rows": rows}))
    (res / "distances.json").write_text(json.dumps(
        {"real": "a", "fake": "b", "fid": {"value": 12.3456, "extractor": "randconv-v1", "n1": 9, "n2": 9,
                                           "notes": []},
         "kid": {"mean": 0.0123, "std": 0.001, "extractor": "randconv-v1", "subsets": 10, "subset_size": 5,
                 "notes": []},
         "memorisation": {"flagged": 1, "n_fake": 3, "flagged_fraction": 1 / 3, "extractor": "pixels-v1",
                          "expected_chance_fraction": 0.02, "median_ratio": 1.1, "closest_pairs": _pairs(3)}}))
    (res / "identity_leak.json").write_text(json.dumps({"title": "Identity leak (dlib ResNet)", "flagged": 0,
                                                         "n_fake": 2, "extractor": "dlib-resnet-128",
                                                         "pairs": _pairs(2)}))
    r = fv("report", str(tmp_path / "out"), "--results", str(res))
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "out" / "report.html").read_text()
    ev = re.search(r'<section id="evaluation">.*?</section>', html, re.S).group(0)
    assert "Downstream protocol: landmarks" in ev and "NME vs fake:real ratio" in ev and "(↓ better)" in ev
    assert "0.08 ± 0.004" in ev and "-0.01 [-0.01, -0.01] *" in ev.replace("−", "-")
    assert "12.346" in ev and ev.count("randconv-v1") >= 2 and "pixels-v1" in ev  # extractor beside each number
    assert ev.count('<figure class="pair">') == 5 and "Identity leak (dlib ResNet)" in ev
    assert "dlib-resnet-128" in ev
    assert "<code>landmarks/protocol.json</code>" in ev  # named within the --results folder, not by absolute path


def test_a_large_output_stays_small_and_paginated(tmp_path: Path) -> None:
    """3,000 samples: the page holds the default 96 of them in pages of 24, not 3,000 pictures."""
    samples = [Sample(np.full((16, 16, 3), i % 250, np.uint8), Annotations(label=["a", "b"][i % 2]),
                      Provenance("bulk", f"bulk-{i:05d}", params={"x": float(i)})) for i in range(3000)]
    write_run(tmp_path, samples, shard_size=500, formats=["coco", "manifest"])
    html = write_report(tmp_path).read_text()
    assert len(cards(html)) == 96 and 'data-pages="4"' in html
    assert '<small>96 of 3,000 samples shown, evenly spaced</small>' in html
    assert "n=3,000" in html  # histograms cover every sample (from the manifest), not only the shown ones
    assert len(html) < 3_000_000


def test_histograms_count_in_whole_samples_and_give_whole_numbers_one_bar_each() -> None:
    """A drawn count or variant (3..6 objects) gets one bar per value (tooltips ``4: 2``), and no axis of counts
    shows fractions of a sample."""
    from fakevision.report.params import Series
    from fakevision.report.plots import histogram

    svg = histogram(Series("scene.objects (count)", numbers=[3, 4, 4, 6] * 3), "t")
    tips = re.findall(r"<title>([^<]*)</title>", svg)
    assert tips == ["3: 3", "4: 6", "5: 0", "6: 3"]
    labels = re.findall(r">([^<>]*)</text>", svg)
    assert not [t for t in labels if re.fullmatch(r"[−-]?\d+\.\d+", t.strip())], labels  # integer ticks only
    svg = histogram(Series("light.ambient", numbers=list(np.linspace(0.1, 0.9, 30))), "u")
    assert all(t.startswith("[") for t in re.findall(r"<title>([^<]*)</title>", svg))  # real numbers: bins


def test_depth_is_coloured_without_banding() -> None:
    """A smooth depth ramp (the issue's contour banding) takes hundreds of colours, whatever its range (the colour
    map is dithered between its 256 entries), and it darkens with depth (near = bright)."""
    from fakevision.report.layers import depth_picture

    for far in (5.0, 1.2):
        ramp = np.linspace(1.0, far, 1000, dtype=np.float32)[None]
        pic = depth_picture(ramp)[0].astype(int)
        assert len({tuple(c) for c in pic}) > 500, far
        lum = (pic @ np.array([299, 587, 114])).reshape(50, 20).mean(axis=1)  # dithered: compare runs of 20
        assert (np.diff(lum) < 0).all()  # farther is darker
