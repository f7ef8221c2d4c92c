"""COCO instances + keypoints JSON, the format detection and pose libraries load (pycocotools, detectron2, mmdet).

Conventions of the format, and how ours maps onto them:

* ``bbox`` is ``[x, y, w, h]`` with (0, 0) at the top-left *corner* (same origin as ours): ``x, y = x0, y0`` and
  ``w, h = x1 - x0, y1 - y0``. Instance masks are compressed RLE (``pycocotools.mask.encode``, counts as str),
  lossless; ``area`` is the mask's pixel count, or the box area when the sample has no masks.
* ``keypoints`` are *pixel indices* (a pixel's centre is integer), as COCO's annotators clicked them and as
  detectron2 reads them (it adds 0.5). Ours put centres at +0.5, so we write ``x - 0.5, y - 0.5``. Points with
  ``v = 0`` keep their coordinates instead of COCO's ``0, 0`` so the round trip is exact; COCO tools ignore them.
  Floats are written at full precision; the only loss is float64 rounding of the 0.5 shift (< 1e-12 px).
* Image-level extras ride as extra fields of the image entry: ``fakevision_id``, ``fakevision_provenance``,
  ``label``, ``attributes``, ``fakevision_extras`` (e.g. camera intrinsics), ``fakevision_keypoint_schema`` (only
  when the sample has keypoints), ``depth_file`` + ``depth_scale`` (16-bit millimetre PNG), ``normals_file`` +
  ``normals_encoding`` (16-bit RGB PNG of camera-frame unit normals, ``coco/normals/<id>.png``, see
  ``io.codecs``), ``label_map_file`` +
  ``label_names`` (semantic label map PNG, ``coco/labelmaps/<id>.png``). Per-instance
  attributes ride as ``attributes`` on each annotation.
* Category ids are the run's one class id space (``io.records.class_ids``): a class that label maps name has the id
  its pixels carry in every label map (render: box 1, sphere 2, cylinder 3; eyes: skin 1, sclera 2, iris 3, pupil
  4), other classes the next free ids in name order (the default job's ``face``: 4). Classes only the label maps
  know (``skin``) are listed as categories too, so the category table is the legend of every label map. Ids come
  from the shards' parts in shard order, so they do not depend on which worker ran which shard.
* A category whose instances carry keypoints lists the schema's point names and its (1-based) skeleton and
  names it in ``fakevision_schema`` (with ``fakevision_flip_perm``, so readers can restore the schema); its
  instances in samples without keypoints get all-zero keypoints.

Each shard writes its images and one part file ``.state/parts/coco/<shard>.json``; ``finalize`` merges the parts into
``coco/annotations.json`` and numbers annotations in shard order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from fakevision._version import __version__
from fakevision.core.errors import OutputError
from fakevision.core.keypoints import KeypointSchema, generic_schema
from fakevision.core.sample import Sample, jsonable
from fakevision.io.atomic import dumps_json
from fakevision.io.codecs import (
    DEPTH_SCALE,
    NORMALS_ENCODING,
    EncodedSample,
    check_unique_stems,
    encoded,
    file_stem,
    image_ext,
)
from fakevision.io.records import class_ids, label_id_claims, label_names_to_json, schema_def
from fakevision.io.storage import Storage, as_storage
from fakevision.io.writers.base import RUN_STATE_DIR, ShardInfo

COCO_DIR = "coco"
ANNOTATIONS = f"{COCO_DIR}/annotations.json"
KEYPOINT_SHIFT = 0.5  # ours (pixel centre at +0.5) minus COCO's (pixel centre at integer)


def part_name(fmt: str, shard_index: int, suffix: str = "json") -> str:
    """Where (relative to the output root) a writer keeps the per-shard part that ``finalize`` merges: inside the
    run state (``.state/``), which the engine deletes once the run has finished, so a finished output holds only
    what users load.

    >>> part_name("coco", 3)
    '.state/parts/coco/000003.json'
    """
    return f"{RUN_STATE_DIR}/parts/{fmt}/{shard_index:06d}.{suffix}"


def part_path(out_dir: Path, fmt: str, shard_index: int, suffix: str = "json") -> Path:
    """``part_name`` under a local folder."""
    return Path(out_dir) / part_name(fmt, shard_index, suffix)


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """A bool H x W mask as COCO compressed RLE with ``counts`` as str (JSON-ready).

    >>> m = np.zeros((4, 5), bool); m[1:3, 2:4] = True
    >>> encode_rle(m)
    {'counts': '92203', 'size': [4, 5]}
    """
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"counts": rle["counts"].decode("ascii"), "size": [int(v) for v in rle["size"]]}


class CocoWriter:
    """Writes ``coco/images/<id>.<ext>``, ``coco/depth/<id>.png``, ``coco/normals/<id>.png`` and, at finalize,
    ``coco/annotations.json``.

    >>> import tempfile
    >>> from fakevision.core import Annotations, Provenance, Sample
    >>> out = Path(tempfile.mkdtemp())
    >>> s = Sample(np.zeros((8, 8, 3), np.uint8), Annotations(categories=["cube"], boxes=[[1, 2, 5, 6]]),
    ...            Provenance("demo", "demo-0"))
    >>> w = CocoWriter()
    >>> w.write_shard(out, ShardInfo(0, 1, 0), [s]); w.finalize(out, 1)
    >>> from pycocotools.coco import COCO
    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     coco = COCO(str(out / "coco/annotations.json"))
    >>> coco.loadAnns(coco.getAnnIds())[0]["bbox"]
    [1.0, 2.0, 4.0, 4.0]
    """

    name = "coco"

    def __init__(self, image_format: str = "png", jpeg_quality: int = 95) -> None:
        self.ext = image_ext(image_format)
        self.jpeg_quality = jpeg_quality

    def sample_files(self, shard: ShardInfo, sample: Sample) -> dict[str, str]:
        """Paths (relative to ``out_dir``) of the files this writer makes for ``sample``."""
        stem = file_stem(sample.id)
        files = {"image": f"{COCO_DIR}/images/{stem}.{self.ext}"}
        if sample.annotations.depth is not None:
            files["depth"] = f"{COCO_DIR}/depth/{stem}.png"
        if sample.annotations.normals is not None:
            files["normals"] = f"{COCO_DIR}/normals/{stem}.png"
        if sample.annotations.label_map is not None:
            files["label_map"] = f"{COCO_DIR}/labelmaps/{stem}.png"
        return files

    def write_shard(self, out_dir: Path | str | Storage, shard: ShardInfo,
                    inputs: Sequence[Sample | EncodedSample]) -> None:
        store = as_storage(out_dir)
        part = part_name(self.name, shard.index)
        enc = [encoded(s) for s in inputs]
        samples = [e.sample for e in enc]
        check_unique_stems(samples, store.url(part))
        images: list[dict[str, Any]] = []
        annotations: list[dict[str, Any]] = []
        schemas: dict[str, str | None] = {}
        defs: dict[str, dict[str, Any]] = {}
        for i, (e, s) in enumerate(zip(enc, samples, strict=True)):
            files = self.sample_files(shard, s)
            store.write_bytes(files["image"], e.image_bytes(self.ext, self.jpeg_quality))
            if s.annotations.depth is not None:
                store.write_bytes(files["depth"], e.depth_png())
            if s.annotations.normals is not None:
                store.write_bytes(files["normals"], e.normals_png())
            if s.annotations.label_map is not None:
                store.write_bytes(files["label_map"], e.label_map_png(store.url(files["label_map"])))
            image_id = shard.first + i + 1
            images.append(self._image_entry(s, image_id, files))
            annotations += self._annotations(s, image_id, schemas)
            value = _schema_of(s)
            if value is not None and value.name not in defs:
                defs[value.name] = _schema_def(value)
        # The part goes last: its presence means every file of the shard is stored.
        try:
            text = dumps_json(jsonable({"images": images, "annotations": annotations, "schemas": schemas,
                                        "schema_defs": defs, "label_ids": label_id_claims(samples)}))
        except ValueError as e:  # NaN or infinity in attributes / extras / params: JSON has no such numbers
            raise OutputError(f"{store.url(part)}: cannot encode the shard's annotations ({e})") from None
        store.write_text(part, text)

    @staticmethod
    def _image_entry(s: Sample, image_id: int, files: dict[str, str]) -> dict[str, Any]:
        a = s.annotations
        entry: dict[str, Any] = {
            "id": image_id,
            "file_name": files["image"][len(COCO_DIR) + 1 :],
            "width": s.width,
            "height": s.height,
            "fakevision_id": s.id,
            "fakevision_provenance": s.provenance.to_dict(),
            "label": a.label,
            "attributes": a.attributes,
        }
        if a.extras:
            entry["fakevision_extras"] = a.extras
        value = _schema_of(s)
        if value is not None:
            entry["fakevision_keypoint_schema"] = value.name
        if "depth" in files:
            entry["depth_file"] = files["depth"][len(COCO_DIR) + 1 :]
            entry["depth_scale"] = DEPTH_SCALE
        if "normals" in files:
            entry["normals_file"] = files["normals"][len(COCO_DIR) + 1 :]
            entry["normals_encoding"] = NORMALS_ENCODING
        if "label_map" in files:
            entry["label_map_file"] = files["label_map"][len(COCO_DIR) + 1 :]
            entry["label_names"] = label_names_to_json(a.label_names)
        return entry

    @staticmethod
    def _annotations(s: Sample, image_id: int, schemas: dict[str, str | None]) -> list[dict[str, Any]]:
        a = s.annotations
        value = _schema_of(s)
        schema = None if value is None else value.name
        out = []
        for j, cat in enumerate(a.categories):
            x0, y0, x1, y1 = (float(v) for v in a.boxes[j])
            ann: dict[str, Any] = {"image_id": image_id, "category": cat, "bbox": [x0, y0, x1 - x0, y1 - y0],
                                   "iscrowd": 0}
            if a.masks is not None:
                ann["segmentation"] = encode_rle(a.masks[j])
                ann["area"] = int(a.masks[j].sum())
            else:
                ann["area"] = (x1 - x0) * (y1 - y0)
            if a.keypoints is not None and a.visibility is not None:
                kp = np.concatenate([a.keypoints[j] - KEYPOINT_SHIFT, a.visibility[j][:, None].astype(float)], 1)
                ann["keypoints"] = [int(v) if k % 3 == 2 else float(v) for k, v in enumerate(kp.ravel())]
                ann["num_keypoints"] = int((a.visibility[j] > 0).sum())
            if a.instance_attributes is not None:
                ann["attributes"] = a.instance_attributes[j]
            prev = schemas.setdefault(cat, schema)
            if prev is None and schema is not None:
                schemas[cat] = schema
            elif schema is not None and prev != schema:
                raise OutputError(f"sample {s.id!r}: category {cat!r} has keypoint schema {schema}, earlier {prev}")
            out.append(ann)
        return out

    def finalize(self, out_dir: Path | str | Storage, num_shards: int) -> None:
        store = as_storage(out_dir)
        images: list[dict[str, Any]] = []
        anns: list[dict[str, Any]] = []
        schemas: dict[str, str | None] = {}
        defs: dict[str, dict[str, Any]] = {}
        claims: list[list[int | str]] = []
        for k in range(num_shards):
            part = _read_part(store, part_name(self.name, k))
            images += part["images"]
            anns += part["annotations"]
            defs.update(part["schema_defs"])
            claims += part.get("label_ids", [])
            for name, schema in part["schemas"].items():
                prev = schemas.get(name)
                if prev is not None and schema is not None and prev != schema:
                    raise OutputError(
                        f"{store.url(ANNOTATIONS)}: category {name!r} has keypoint schemas {prev} and {schema}"
                    )
                schemas[name] = prev or schema
        cat_ids = class_ids(claims, schemas)
        categories = []
        for c in cat_ids:
            cat: dict[str, Any] = {"id": cat_ids[c], "name": c, "supercategory": c}
            schema = schemas.get(c)
            if schema is not None:
                cat.update(defs[schema], fakevision_schema=schema)
            categories.append(cat)
        for n, ann in enumerate(anns):
            ann["id"] = n + 1
            c = ann.pop("category")
            ann["category_id"] = cat_ids[c]
            schema = schemas[c]
            if schema is not None and "keypoints" not in ann:
                ann["keypoints"] = [0] * (3 * len(defs[schema]["keypoints"]))
                ann["num_keypoints"] = 0
        coco = {
            "info": {"description": "synthetic data made by fakevision", "version": __version__},
            "licenses": [],
            "images": images,
            "annotations": anns,
            "categories": categories,
        }
        store.write_json(ANNOTATIONS, coco)


def _schema_of(s: Sample) -> KeypointSchema | None:
    """The keypoint schema of a sample with keypoints (``genericK`` when it names none), else None."""
    a = s.annotations
    if a.keypoints is None:
        return None
    return a.keypoint_schema or generic_schema(a.keypoints.shape[1])


def _schema_def(value: KeypointSchema) -> dict[str, Any]:
    """COCO's category fields for a schema: point names, the 1-based skeleton, and (ours) the flip permutation,
    which lets a reader restore a schema that is not a shipped one."""
    d = schema_def(value)
    return {"keypoints": d["names"], "skeleton": [[a + 1, b + 1] for a, b in d["skeleton"]],
            "fakevision_flip_perm": d["flip_perm"]}


def _read_part(store: Storage, rel: str) -> dict[str, Any]:
    try:
        return json.loads(store.read_bytes(rel).decode("utf-8"))
    except FileNotFoundError:
        raise OutputError(f"{store.url(rel)}: shard part missing; rerun the shard before finalizing") from None
    except (OSError, ValueError) as e:
        raise OutputError(f"{store.url(rel)}: unreadable shard part ({e})") from None
