"""The face-source table (``faces_table.json`` of ``experiments/faces_table.py``) as a report section: what each row
and column says — values with their units, the best generated source per column, the issue's goals, carried (†)
and reference rows marked, the FID/KID extractor named, the calibration line — and the sample grids beside it;
once from a small synthetic table and once from the published one's real keys and numbers."""

from __future__ import annotations

import copy
import html as html_lib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fakevision.io.images import encode_image
from fakevision.report import write_report
from fakevision.report.faces import faces_table_section
from fakevision.report.results import find_results, results_sections
from tests.io.test_writers import make_samples, write_run

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "results" / "faces_table" / "faces_table.json"

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def table(section: str) -> dict[str, list[str]]:
    """Row name -> the texts of its cells (the source cell first), from the section's HTML."""
    m = re.search(r'<table class="fv-table faces-table">.*?</table>', section, re.S)
    assert m, "no faces table in the section"
    rows = {}
    for name, body in re.findall(r'<tr class="[^"]*" data-row="([^"]+)">(.*?)</tr>', m.group(0), re.S):
        rows[name] = [_text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", body, re.S)]
    return rows


def bold(section: str, row: str) -> list[str]:
    """The values marked best in a row."""
    m = re.search(rf'data-row="{re.escape(row)}">(.*?)</tr>', section, re.S)
    assert m
    return [_text(b) for b in re.findall(r'<b class="best"[^>]*>(.*?)</b>', m.group(1))]


def header(section: str) -> list[str]:
    m = re.search(r"<thead><tr>(.*?)</tr></thead>", section, re.S)
    assert m
    return [_text(h.replace("<br>", " | ")) for h in re.findall(r"<th>(.*?)</th>", m.group(1), re.S)]


SYNTH = {
    "n": 200, "size": 64, "celeba": {"train": 1500, "held": 300}, "loadavg_at_start": [3.0, 3, 3], "loadavg_at_end": [5.0, 5, 5],
    "identity_calibration": {"held_out_people_flagged": 0.05, "held_out_people_n": 100, "quantile": 0.05,
                             "threshold": 0.5, "training_people_new_photos_flagged": 0.7,
                             "training_people_new_photos_n": 20},
    "rows": {
        "good": {"n": 200, "reference": "celeba", "nme_extent": {"median": 0.05, "mean": 0.07},
                 "nme_dlib": {"median": 0.051, "mean": 0.06}, "nme_blank_floor_extent": {"median_nme": 0.33},
                 "identity": {"flagged_fraction": 0.02, "variety_vs_real": 0.95, "expected_chance_fraction": 0.05},
                 "identity_n": 150, "memorised_pixels-v1": 0.01, "memorised_randconv-v1": 0.03,
                 "fid_randconv": 1.5, "kid_randconv": 0.004, "sharpness_vs_real": 0.3,
                 "faces_per_s_one_thread": 90.0},
        "real": {"n": 50, "reference": "faces68", "nme_extent": {"median": 0.04, "mean": 0.08},
                 "nme_dlib": {"median": 0.039, "mean": 0.041}, "nme_blank_floor_extent": {"median_nme": 0.35},
                 "identity": {"held_out_people_flagged": 0.05}, "faces_per_s_one_thread": float("nan")},
        "old": {"n": 200, "reference": "faces68", "nme_extent": {"median": 0.15, "mean": 0.17},
                "nme_dlib": {"median": 0.14, "mean": 0.15}, "nme_blank_floor_extent": {"median_nme": 0.32},
                "identity": {}, "identity_n": None, "memorised_pixels-v1": 0.02, "memorised_randconv-v1": 0.08,
                "fid_randconv": 4.5, "kid_randconv": 0.03, "sharpness_vs_real": 0.02,
                "faces_per_s_one_thread": 21.0, "from": "/machine/path/prev_rows"},
        "leaky": {"n": 200, "reference": "celeba", "nme_extent": {"median": 0.045, "mean": 0.1},
                  "nme_dlib": {"median": 0.044, "mean": 0.05}, "nme_blank_floor_extent": {"median_nme": 0.34},
                  "identity": {"flagged_fraction": 0.4, "variety_vs_real": 1.1}, "identity_n": 150,
                  "memorised_pixels-v1": 0.4, "memorised_randconv-v1": 0.12, "fid_randconv": 1.6,
                  "kid_randconv": 0.012, "sharpness_vs_real": 0.48, "faces_per_s_one_thread": 14.0,
                  "label": "morph k = 3", "people": 0.2, "training_photos": 6500},
    },
}


def test_synthetic_table_rows_columns_units_best_goals_and_marks() -> None:
    res = copy.deepcopy(SYNTH)
    sec = faces_table_section(res, {})
    rows = table(sec)
    assert list(rows) == ["real", "good", "leaky", "old"]  # yardstick first, carried last
    real, good, leaky, old = rows["real"], rows["good"], rows["leaky"], rows["old"]
    # source cell: label, reference / carried marks, the real set it is compared with
    assert real[0].startswith("real faces") and "reference" in real[0] and "vs faces_68pt helen_test" in real[0]
    assert leaky[0].startswith("morph k = 3") and "vs CelebA held-out" in leaky[0]
    assert "identity / memorisation vs its 6,500 training photos" in leaky[0] and "training photos" not in good[0]
    assert old[0].startswith("old †") and "†" not in good[0]
    # values with units; missing ones say so instead of 0
    assert good[1:] == ["0.050 ✓ / 0.070", "0.051 / 0.060", "0.330", "2.0 % (n = 150) ✓", "0.95 ✓",
                        "1.0 % / 3.0 %", "1.50 / 0.0040", "0.30", "90"]
    assert leaky[4] == "40.0 % (n = 150) ✗" and leaky[5] == "1.10 ✓"
    assert old[1] == "0.150 ✗ / 0.170" and old[4] == "not measured" and old[5] == "not measured"
    assert real[4] == "5.0 % (held-out people)" and real[5] == "1 (reference)"  # variety: relative to real
    assert real[6:] == ["–", "–", "1 (reference)", "–"]  # no memorisation or FID for real; NaN speed -> –
    # best generated value per part of a column; the real row never competes (its 0.040 is lower)
    assert bold(sec, "good") == ["0.070", "2.0 % (n = 150)", "1.0 %", "3.0 %", "1.50", "0.0040", "90"]
    assert bold(sec, "leaky") == ["0.045", "0.044", "0.050", "1.10", "0.48"]
    assert bold(sec, "real") == [] and bold(sec, "old") == []
    # headers: units, the extractor beside FID/KID, chance levels, the goals
    heads = header(sec)
    assert heads[0] == "source"
    assert any(h.startswith("FID / KID | randconv-v1 features") for h in heads), heads
    assert any(h.startswith("memorised | pixels-v1 / randconv-v1; chance 2.0 %") for h in heads), heads
    assert any("goal: median ≤ 0.06" in h for h in heads) and any("goal: ≤ 7 % flagged" in h for h in heads)
    assert any(h.startswith("identity variety | × real faces'") and "goal: ≥ 0.9" in h for h in heads)
    # the notes: carried rows named with their source folder (not the machine path), the calibration
    assert "† old: carried from an earlier run of the table (prev_rows)" in _text(sec)
    assert "/machine/path" not in sec
    cal = re.search(r"Identity-check calibration: [^<]*", sec)
    assert cal and "held-out people flagged 5.0 % (n = 100, chance 5.0 %)" in cal.group(0)
    assert "held-out photos of training people 70.0 % (n = 20)" in cal.group(0)
    assert "threshold 0.500" in cal.group(0) and "leave one out" not in cal.group(0)
    assert "200 faces per source at 64×64" in sec and "load average 3.0 → 5.0" in sec
    assert "CelebA sets: 1,500 training photos, 300 held-out photos" in sec
    assert "faces-grids" not in sec  # no pictures given, none promised
    assert "Morphs:" not in sec  # no trade-off measured, no empty table


def test_the_morph_tradeoff_table() -> None:
    res = {**copy.deepcopy(SYNTH), "morph_tradeoff": [
        {"k": 2, "flagged_fraction": 0.6, "variety": 1.2, "sharpness_vs_real": 0.6},
        {"k": 8, "flagged_fraction": 0.05, "variety": 1.0, "sharpness_vs_real": 0.3}]}
    sec = faces_table_section(res, {})
    m = re.search(r"<caption>Morphs:.*?</table>", sec, re.S)
    assert m
    cells = [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", m.group(0))]
    assert cells == ["2", "60.0 %", "1.20", "0.60", "8", "5.0 %", "1.00", "0.30"]


def test_json_goals_labels_default_and_extractor_override_the_built_ins() -> None:
    res = copy.deepcopy(SYNTH)
    res.update(goals={"nme": {"op": "<=", "value": 0.048, "text": "tighter"}, "variety": None,
                      "speed": {"op": ">=", "value": 50, "text": "50 a second"}},
               labels={"good": "the good one"}, default="leaky", extractor="inception-v3")
    sec = faces_table_section(res, {})
    rows = table(sec)
    assert list(rows) == ["real", "leaky", "good", "old"]
    assert rows["leaky"][0].startswith("morph k = 3") and "default" in rows["leaky"][0]
    assert rows["good"][0].startswith("the good one")
    assert rows["good"][1] == "0.050 ✗ / 0.070" and rows["leaky"][1] == "0.045 ✓ / 0.100"  # the JSON's goal
    assert rows["good"][5] == "0.95" and rows["good"][9] == "90 ✓" and rows["leaky"][9] == "14 ✗"
    heads = header(sec)
    assert any(h.startswith("FID / KID | inception-v3 features") for h in heads)
    assert any("goal: tighter" in h for h in heads) and not any("goal: ≥ 0.9" in h for h in heads)


def test_grids_beside_the_json_are_shown_in_row_order(tmp_path: Path) -> None:
    folder = tmp_path / "faces_table"
    folder.mkdir()
    (folder / "faces_table.json").write_text(json.dumps(SYNTH))
    pngs = {}
    for k, name in enumerate(("old", "good", "unrelated")):
        pngs[name] = encode_image(np.full((8, 16, 3), 40 * k, np.uint8))
        (folder / f"grid_{name}.png").write_bytes(pngs[name])
    files = find_results(folder)
    assert [f.rel for f in files] == ["faces_table.json"]
    (sec,) = results_sections(files)
    assert sec["title"].startswith("Face sources") and sec["where"] == "faces_table.json"
    figs = re.findall(r'<figure class="faces-grid"><img alt="grid ([^"]+)" src="data:image/png;base64,([^"]+)">'
                      r"<figcaption>(.*?)</figcaption>", sec["html"])
    import base64

    assert [(n, base64.b64decode(b), _text(c)) for n, b, c in figs] == [
        ("good", pngs["good"], "good"), ("old", pngs["old"], "old †")]


def test_a_broken_faces_table_is_a_section_saying_so(tmp_path: Path) -> None:
    (tmp_path / "faces_table.json").write_text(json.dumps({"rows": ["not", "a", "mapping"]}))
    (sec,) = results_sections(find_results(tmp_path))
    assert "unexpected layout" in sec["html"] and "faces_table.json" in sec["html"]


@pytest.mark.skipif(not PUBLISHED.is_file(), reason="results/faces_table/faces_table.json not in this checkout")
def test_the_published_table_in_a_report(tmp_path: Path) -> None:
    """The real JSON's keys and numbers through ``write_report --results``: every row, the numbers the markdown
    table of the same JSON shows, the best sources, carried rows, the calibration, and a grid beside it."""
    res = json.loads(PUBLISHED.read_text())
    folder = tmp_path / "faces_table"
    folder.mkdir()
    shutil.copy(PUBLISHED, folder / "faces_table.json")
    (folder / "grid_real.png").write_bytes(encode_image(np.zeros((4, 4, 3), np.uint8)))
    out = tmp_path / "out"
    write_run(out, make_samples()[:2], formats=["coco", "manifest"])
    page = Path(write_report(out, results=[folder], num_samples=2)).read_text()
    m = re.search(r'<div class="result">\s*<h3>Face sources.*?</div>\s*</div>', page, re.S)
    assert m, "no face-source section in the report"
    sec = m.group(0)
    rows = table(sec)
    assert set(rows) == set(res["rows"]) and next(iter(rows)) == "real"
    for name, r in res["rows"].items():
        cells = rows[name]
        assert cells[1].replace(" ✓", "").replace(" ✗", "") == (
            f"{r['nme_extent']['median']:.3f} / {r['nme_extent']['mean']:.3f}"), name
        assert cells[3] == f"{r['nme_blank_floor_extent']['median_nme']:.3f}", name
        assert ("†" in cells[0]) == ("from" in r), name
        if "fid_randconv" in r:
            assert cells[7] == f"{r['fid_randconv']:.2f} / {r['kid_randconv']:.4f}", name
    assert rows["appearance_p05_m64"][4] == "0.6 % (n = 500) ✓" and rows["morph_k3"][4] == "42.0 % (n = 150) ✗"
    gen = {k: r for k, r in res["rows"].items() if k != "real"}
    best_nme = min(gen, key=lambda k: gen[k]["nme_extent"]["median"])
    assert f"{gen[best_nme]['nme_extent']['median']:.3f}" in bold(sec, best_nme)
    best_fid = min((k for k in gen if "fid_randconv" in gen[k]), key=lambda k: gen[k]["fid_randconv"])
    assert f"{gen[best_fid]['fid_randconv']:.2f}" in bold(sec, best_fid)
    assert any(h.startswith("FID / KID | randconv-v1 features") for h in header(sec))
    cal = res["identity_calibration"]
    assert f"held-out people flagged {100 * cal['held_out_people_flagged']:.1f} %" in sec
    assert f"{res['n']:,} faces per source" in sec
    assert sec.count('<figure class="faces-grid">') == 1 and 'alt="grid real"' in sec
