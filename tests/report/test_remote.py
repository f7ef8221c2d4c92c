"""``fakevision report URL``: an output in object storage (``memory://``, ``s3://`` on a real S3 server, ``file://``)
gets the same report as the same output in a local folder, for every layout ``make`` writes; where the page goes
(default: ``report.html`` into the storage beside the data; ``--html`` anywhere); results found in the storage;
bad URLs and missing outputs fail in one line naming them."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fakevision.cli import app
from fakevision.core.errors import InputError
from fakevision.engine import Recipe, make
from fakevision.io.images import encode_image
from fakevision.io.storage import as_storage
from fakevision.report import write_report

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

LAYOUTS = [pytest.param(["coco", "manifest"], id="coco"), pytest.param(["webdataset"], id="webdataset"),
           pytest.param(["imagefolder"], id="imagefolder"),
           pytest.param(["coco", "webdataset", "imagefolder", "manifest"], id="all", marks=pytest.mark.slow)]

def recipe(outputs: list[str]) -> Recipe:
    return Recipe.from_dict({"name": "remote-report", "seed": 3, "shard_size": 4, "outputs": outputs,
                             "sources": [{"type": "render", "count": 6, "width": 48, "height": 48}]})


def page_numbers(page: str) -> dict[str, object]:
    """What the report says about the data: the summary line, the statistics table, the counts and histograms
    (their SVGs), the samples' data (ids, vectors, captions, provenance) and the provenance table."""
    data = re.search(r'<script type="application/json" id="fv-data">(.*?)</script>', page, re.S)
    assert data, "no data block"
    sections = {k: re.search(rf'<section id="{k}".*?</section>', page, re.S) for k in
                ("stats", "counts", "params", "provenance")}
    summary = re.search(r'<p class="summary">(.*?)</p>', page, re.S)
    assert summary
    return {"summary": summary.group(1), "data": json.loads(data.group(1).replace("<\\/", "</")),
            **{k: m.group(0) if m else None for k, m in sections.items()}}


@pytest.mark.parametrize("outputs", LAYOUTS)
def test_a_memory_url_reports_what_the_local_folder_reports(tmp_path: Path, outputs: list[str]) -> None:
    r = recipe(outputs)
    local = tmp_path / "run"
    url = f"memory://fv-report-{uuid.uuid4().hex}/run"  # the same last name: the page names its folder
    make(r, local)
    make(r, url)
    expected = Path(write_report(local, num_samples=6)).read_text()
    assert "6 samples in <code>run</code>" in expected

    where = write_report(url, num_samples=6)  # default: report.html into the storage, beside the data
    assert where == f"{url}/report.html"
    remote = as_storage(url).read_bytes("report.html").decode("utf-8")
    assert page_numbers(remote) == page_numbers(expected)
    assert remote == expected  # nothing in the page depends on where the output lives


def test_file_urls_and_html_paths(tmp_path: Path) -> None:
    r = recipe(["coco", "manifest"])
    local = tmp_path / "run"
    url = f"memory://fv-report-{uuid.uuid4().hex}/run"
    make(r, local)
    make(r, url)
    via_file = write_report(f"file://{local}", num_samples=6)  # file:// is a local folder: report.html in it
    assert via_file == local / "report.html"
    expected = via_file.read_text()
    target = tmp_path / "elsewhere" / "r.html"  # html_path (--html): a local path, for a remote output
    target.parent.mkdir()
    assert write_report(url, html_path=target, num_samples=6) == target and target.read_text() == expected
    assert not as_storage(url).exists("report.html")


def test_results_in_the_storage_and_a_report_url_as_html(tmp_path: Path) -> None:
    url = f"memory://fv-report-{uuid.uuid4().hex}/run"
    make(recipe(["webdataset"]), url)
    store = as_storage(url)
    protocol = {"task": "classification", "real": "r", "fake": "f", "seeds": [0, 1], "rows": [
        {"ratio": 0, "n_fake": 0, "test_acc": {"mean": 0.5, "std": 0.01, "n": 2}},
        {"ratio": 1, "n_fake": 6, "test_acc": {"mean": 0.75, "std": 0.02, "n": 2}}]}
    store.write_json("eval/protocol.json", protocol)
    results = f"memory://fv-results-{uuid.uuid4().hex}/faces_table"
    as_storage(results).write_json("faces_table.json", {"n": 6, "rows": {"real": {
        "nme_extent": {"median": 0.04, "mean": 0.08}}}})
    grid = encode_image(np.full((4, 8, 3), 7, np.uint8))
    as_storage(results).write_bytes("grid_real.png", grid)  # read beside the JSON, from the storage
    html_url = f"memory://fv-pages-{uuid.uuid4().hex}/reports/run.html"
    assert write_report(url, html_path=html_url, results=[results]) == html_url
    page = as_storage(html_url.rsplit("/", 1)[0]).read_bytes("run.html").decode()
    assert "Downstream protocol: classification" in page and "<code>eval/protocol.json</code>" in page
    assert "75.0 ± 2.0 %" in page and "Face sources" in page and 'data-row="real"' in page
    assert f'alt="grid real" src="data:image/png;base64,{base64.b64encode(grid).decode()}"' in page
    assert not store.exists("report.html")  # written where asked, nowhere else


def test_missing_outputs_and_bad_urls_name_themselves(tmp_path: Path) -> None:
    missing = f"memory://fv-report-{uuid.uuid4().hex}/nothing"
    with pytest.raises(InputError, match=re.escape(f"{missing}: output not found")):
        write_report(missing)
    with pytest.raises(InputError, match=r"^foo://bucket/run: cannot open this storage \(.*foo"):
        write_report("foo://bucket/run")
    url = f"memory://fv-report-{uuid.uuid4().hex}/run"
    make(recipe(["webdataset"]), url)
    with pytest.raises(InputError, match=re.escape(f"{url}/recipe.json: is a file; give the output's folder")):
        write_report(f"{url}/recipe.json")
    with pytest.raises(InputError, match="results folder not found"):
        write_report(url, results=[f"memory://fv-report-{uuid.uuid4().hex}/none"])
    runner = CliRunner()
    for arg, says in ((missing, f"{missing}: output not found"), ("foo://bucket/run", "foo://bucket/run: cannot open"),
                      (str(tmp_path / "absent"), f"{tmp_path / 'absent'}: output folder not found")):
        res = runner.invoke(app, ["report", arg])
        assert res.exit_code == 2, res.output
        lines = [x for x in res.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], res.stderr
    ok = runner.invoke(app, ["report", url, "--samples", "2"])
    assert ok.exit_code == 0 and ok.stdout.strip() == f"{url}/report.html", ok.output


@pytest.mark.slow
def test_report_of_an_s3_output_from_the_command_line(tmp_path: Path, s3_server) -> None:
    """A bucket on a real S3 server (moto on loopback): the CLI in a fresh process reads it, writes report.html
    into the bucket, and the page equals the local folder's; an unreachable bucket is one line."""
    import subprocess
    import sys

    r = recipe(["coco", "webdataset", "manifest"])
    url = s3_server.bucket() + "/sets/run"
    make(r, url)
    make(r, tmp_path / "run")
    expected = Path(write_report(tmp_path / "run", num_samples=6)).read_text()
    cmd = [sys.executable, "-m", "fakevision", "report", url, "--samples", "6"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and res.stdout.strip() == f"{url}/report.html", res.stderr
    assert as_storage(url).read_bytes("report.html").decode() == expected
    res = subprocess.run([*cmd[:4], "s3://no-such-bucket-fv/run"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and "s3://no-such-bucket-fv/run" in res.stderr, res.stderr


def test_a_reference_in_a_bucket_is_shown_as_the_local_one(tmp_path: Path) -> None:
    """``--reference`` may be an output (or its COCO file) in object storage: the comparison shows the same real
    samples as the same data set on disk."""
    r = recipe(["coco", "manifest"])
    make(r, tmp_path / "run")
    ref_local = tmp_path / "real"
    ref_url = f"memory://fv-ref-{uuid.uuid4().hex}/real"  # the same last name: the page names the reference by it
    make(r, ref_local)
    make(r, ref_url)
    expected = Path(write_report(tmp_path / "run", html_path=tmp_path / "a.html", num_samples=6,
                                 reference=ref_local)).read_text()
    got = Path(write_report(tmp_path / "run", html_path=tmp_path / "b.html", num_samples=6,
                            reference=ref_url)).read_text()
    assert page_numbers(got) == page_numbers(expected)  # the same samples, numbers and pictures
    assert f"<code>{ref_url}</code> (read as\n<code>fakevision</code>, 6 samples)" in got  # named by its URL
    coco = Path(write_report(tmp_path / "run", html_path=tmp_path / "c.html", num_samples=6,
                             reference=f"{ref_url}/coco/annotations.json")).read_text()
    assert page_numbers(coco)["summary"] == page_numbers(expected)["summary"]
    with pytest.raises(InputError, match=r"coco/images: reference data set: cannot tell .*from object storage"):
        write_report(tmp_path / "run", html_path=tmp_path / "d.html", reference=f"{ref_url}/coco/images")
