"""Fuzzing every reader and the recipe loader: whatever the bytes, opening and reading ends in a fakevision error
(``fakevision.core.errors``: one line naming the file) or in valid samples; never another exception (a traceback
for the user), never a hang (each case runs under a hard time limit).

Inputs start from a small valid data set of each format and are damaged the ways files get damaged: random bytes,
truncation, wrong JSON types anywhere in a document, huge / negative / zero dimensions, NaN and infinite
coordinates, images whose header lies about their size. CI runs ``FAKEVISION_FUZZ_EXAMPLES`` cases per target
(default 30, derandomized so CI is repeatable); a long run::

    FAKEVISION_FUZZ_EXAMPLES=2000 FAKEVISION_FUZZ_RANDOM=1 pytest tests/io/test_fuzz.py -n 2 \\
        --hypothesis-show-statistics
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import signal
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakevision.core.errors import FakevisionError
from fakevision.engine.recipe import Recipe
from fakevision.io.dataset import FakevisionDataset
from fakevision.io.images import encode_image
from fakevision.io.readers import open_reader
from tests.engine import helpers  # noqa: F401 - registers the test sources

EXAMPLES = int(os.environ.get("FAKEVISION_FUZZ_EXAMPLES", "30"))
CASE_SECONDS = 30  # a hang fails the case; real cases take milliseconds
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=not os.environ.get("FAKEVISION_FUZZ_RANDOM"),
                suppress_health_check=list(HealthCheck))


class Hang(Exception):
    """A case ran past ``CASE_SECONDS``."""


@contextlib.contextmanager
def bounded(seconds: float = CASE_SECONDS) -> Iterator[None]:
    def alarm(*_: object) -> None:
        raise Hang(f"case did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def survive(fn: Callable[[], Any]) -> None:
    """Run ``fn`` (open a reader and read every item); fakevision's own errors are the expected outcome for bad
    input; anything else propagates and fails the case."""
    with bounded():
        try:
            fn()
        except FakevisionError as e:
            assert str(e) and "\n" not in str(e), repr(e)


def read_all(reader: Any) -> None:
    for i in range(min(len(reader), 8)):
        reader[i]


# ---- damage ---------------------------------------------------------------------------------------------------
SPECIAL_NUMBERS = [0, -1, 1, -(2**31), 2**31 - 1, 2**63, -(10**12), 10**12, 1e308, -1e-300, 0.5,
                   float("nan"), float("inf"), float("-inf")]
scalars = st.one_of(st.none(), st.booleans(), st.sampled_from(SPECIAL_NUMBERS),
                    st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=6))
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c,
                                                                                       max_size=4), max_leaves=8)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


@st.composite
def mutated_json(draw: st.DrawFn, base: Any) -> bytes:
    """``base`` with 0-3 nodes replaced by any JSON value (wrong types, NaN, huge numbers), maybe deleted, then
    maybe truncated or with a byte flipped."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        if path and draw(st.booleans()) and isinstance(parent := _get(doc, path[:-1]), dict):
            del parent[path[-1]]
        else:
            doc = _set(doc, path, draw(json_values))
    return draw(damaged(json.dumps(doc).encode()))


def _get(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["intact", "intact", "truncate", "flip", "random"]))
    if kind == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    if kind == "random":
        return draw(st.binary(max_size=300))
    return data


def png_claiming(width: int, height: int, colour: int = 2) -> bytes:
    """A PNG whose header says ``width`` x ``height`` but whose data is one tiny row: a lying header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(
        b"IEND", b"")


VALID_PNG = encode_image(np.full((8, 10, 3), 90, np.uint8))
VALID_JPG = encode_image(np.full((8, 10, 3), 90, np.uint8), "jpg")
huge_dims = st.tuples(st.sampled_from([1, 2, 7, 65_535, 1 << 20, (1 << 31) - 1]) | st.integers(1, (1 << 31) - 1),
                      st.sampled_from([1, 3, 65_535, 1 << 20, (1 << 31) - 1]) | st.integers(1, (1 << 31) - 1))


@st.composite
def image_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["png", "jpg", "liar", "damaged"]))
    if kind == "liar":
        w, h = draw(huge_dims)
        return png_claiming(w, h, draw(st.sampled_from([0, 2, 6])))
    if kind == "damaged":
        return draw(damaged(draw(st.sampled_from([VALID_PNG, VALID_JPG]))))
    return VALID_PNG if kind == "png" else VALID_JPG


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fvfuzz-") as d:
        yield Path(d)


# ---- readers --------------------------------------------------------------------------------------------------
@FUZZ
@given(images=st.lists(image_bytes(), min_size=1, max_size=3))
def test_fuzz_folder_reader(images: list[bytes]) -> None:
    with workdir() as root:
        for i, data in enumerate(images):
            (root / "cls").mkdir(exist_ok=True)
            (root / "cls" / f"{i}.png").write_bytes(data)
        survive(lambda: read_all(open_reader("folder", root)))


CSV = "path,age,gender\na.png,31,1\nb.png,7,0\n"


@FUZZ
@given(text=damaged(CSV.encode()) | st.text(max_size=200).map(str.encode), image=image_bytes())
def test_fuzz_csv_reader(text: bytes, image: bytes) -> None:
    with workdir() as root:
        (root / "a.png").write_bytes(image)
        (root / "b.png").write_bytes(VALID_PNG)
        (root / "labels.csv").write_bytes(text)
        survive(lambda: read_all(open_reader("csv", root / "labels.csv", label_column="gender")))


COCO = {
    "images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 8, "label": "x",
                "depth_file": "d.png", "depth_scale": 0.001}],
    "categories": [{"id": 1, "name": "cube", "keypoints": ["l", "r"], "skeleton": [[1, 2]]}],
    "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 3], "iscrowd": 0,
                     "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]], "keypoints": [2, 2, 2, 4.5, 3, 1]},
                    {"id": 6, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 8], "iscrowd": 1,
                     "segmentation": {"size": [8, 10], "counts": "0`1"}}],
}


@FUZZ
@given(doc=mutated_json(COCO), image=image_bytes(), depth=image_bytes())
def test_fuzz_coco_reader(doc: bytes, image: bytes, depth: bytes) -> None:
    with workdir() as root:
        (root / "a.png").write_bytes(image)
        (root / "d.png").write_bytes(depth)
        (root / "ann.json").write_bytes(doc)
        survive(lambda: read_all(open_reader("coco", root / "ann.json")))
        survive(lambda: read_all(FakevisionDataset(root / "ann.json")))


PTS = "version: 1\nn_points: 5\n{\n1 2\n3.5 4\n5 6\n7 7\n2 3\n}\n"
pts_lines = st.lists(st.tuples(st.sampled_from(SPECIAL_NUMBERS) | st.floats(-50, 50),
                               st.sampled_from(SPECIAL_NUMBERS) | st.floats(-50, 50)), min_size=0, max_size=7)


@FUZZ
@given(text=damaged(PTS.encode()) | pts_lines.map(
    lambda p: ("n_points: 5\n{\n" + "".join(f"{x} {y}\n" for x, y in p) + "}\n").encode()), image=image_bytes())
def test_fuzz_pts_reader(text: bytes, image: bytes) -> None:
    with workdir() as root:
        (root / "f.png").write_bytes(image)
        (root / "f.pts").write_bytes(text)
        survive(lambda: read_all(open_reader("pts", root, keypoint_schema="face5")))


@FUZZ
@given(image=image_bytes(), mask=image_bytes(), as_tar=st.booleans(), tar_damage=st.data())
def test_fuzz_mask_pair_reader(image: bytes, mask: bytes, as_tar: bool, tar_damage: st.DataObject) -> None:
    with workdir() as root:
        if as_tar:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as t:
                for name, data in (("set/images/e.png", image), ("set/mask/e.png", mask)):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    t.addfile(info, io.BytesIO(data))
            (root / "set.tar.gz").write_bytes(tar_damage.draw(damaged(buf.getvalue())))
            path = root / "set.tar.gz"
        else:
            for sub, data in (("images", image), ("masks", mask)):
                (root / sub).mkdir()
                (root / sub / "e.png").write_bytes(data)
            path = root
        survive(lambda: read_all(open_reader("mask_pairs", path, cache_dir=root / "cache")))


LABELME = {"shapes": [{"label": "a", "points": [[1, 1], [6, 1], [6, 5]], "shape_type": "polygon", "group_id": None},
                      {"label": "b", "points": [[2, 2], [4, 4]], "shape_type": "rectangle", "group_id": 1},
                      {"label": "c", "points": [[5, 4], [7, 4]], "shape_type": "circle", "group_id": None}],
           "imagePath": "a.png", "imageHeight": 8, "imageWidth": 10}


@FUZZ
@given(doc=mutated_json(LABELME), image=image_bytes())
def test_fuzz_labelme_reader(doc: bytes, image: bytes) -> None:
    with workdir() as root:
        (root / "a.png").write_bytes(image)
        (root / "a.json").write_bytes(doc)
        survive(lambda: read_all(open_reader("labelme", root)))


DLIB = ("<dataset><images><image file='a.png'><box top='{t}' left='{l}' width='{w}' height='{h}'>"
        "<part name='{n}' x='{x}' y='{y}'/></box></image></images></dataset>")
xml_numbers = st.sampled_from(["1", "-3", "0", "nan", "inf", "1e9", "2147483648", "x", "", "4.5"])


@FUZZ
@given(fields=st.fixed_dictionaries(dict.fromkeys("tlwhnxy", xml_numbers)), damage=st.data(), image=image_bytes())
def test_fuzz_dlib_reader(fields: dict[str, str], damage: st.DataObject, image: bytes) -> None:
    with workdir() as root:
        (root / "a.png").write_bytes(image)
        (root / "f.xml").write_bytes(damage.draw(damaged(DLIB.format(**fields).encode())))
        survive(lambda: read_all(open_reader("dlib", root / "f.xml")))


# ---- the torch Dataset over fakevision outputs -----------------------------------------------------------------
@pytest.fixture(scope="module")
def small_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fakevision.engine import make

    out = tmp_path_factory.mktemp("fuzz-out") / "o"
    make(Recipe.from_dict({"seed": 1, "shard_size": 2, "sources": [{"type": "test_squares", "count": 3}],
                           "outputs": ["coco", "webdataset", "imagefolder", "manifest"]}), out)
    return out


@FUZZ
@given(target=st.sampled_from(["coco/annotations.json", "webdataset/shard-000000.tar", "webdataset/info.json",
                               "manifest.jsonl", "coco/images/test_squares-000000.png"]), data=st.data())
def test_fuzz_dataset_over_outputs(small_output: Path, target: str, data: st.DataObject) -> None:
    import shutil

    with workdir() as root:
        out = root / "o"
        shutil.copytree(small_output, out)
        raw = (out / target).read_bytes()
        if target.endswith(".json") and data.draw(st.booleans()):
            new = data.draw(mutated_json(json.loads(raw)))
        else:
            new = data.draw(damaged(raw))
        (out / target).write_bytes(new)
        for fmt in ("coco", "webdataset", "imagefolder"):
            survive(lambda fmt=fmt: read_all(FakevisionDataset(out, format=fmt)))


# ---- the recipe loader -----------------------------------------------------------------------------------------
RECIPE = {"name": "r", "seed": 3, "shard_size": 4,
          "sources": [{"type": "render", "count": 5, "width": 64, "height": 48},
                      {"type": "augment", "count": 2, "input": {"format": "folder", "path": "data"},
                       "preset": "camera"}],
          "outputs": ["coco", {"format": "webdataset", "image_format": "jpg"}]}


@FUZZ
@given(doc=mutated_json(RECIPE), as_yaml=st.booleans())
def test_fuzz_recipe_loader(doc: bytes, as_yaml: bool) -> None:
    import yaml

    with workdir() as root:
        p = root / "r.yaml"
        if as_yaml:
            try:
                doc = yaml.safe_dump(json.loads(doc)).encode()
            except ValueError:
                pass
        p.write_bytes(doc)
        survive(lambda: Recipe.from_file(p))


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_fuzz_recipe_loader_random_text(text: str) -> None:
    with workdir() as root:
        p = root / "r.yaml"
        p.write_bytes(text.encode("utf-8", "surrogatepass"))
        survive(lambda: Recipe.from_file(p))
