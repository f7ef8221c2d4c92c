"""COCO instances / keypoints JSON (``images``, ``annotations``, ``categories``).

Coordinate conventions (COCO -> ours):

* ``bbox`` is ``[x, y, w, h]`` in continuous pixel coordinates whose (0, 0) is the top-left *corner* of the image
  (segmentations span [0, W]), i.e. already ours: ``xyxy = [x, y, x + w, y + h]``. A box that leaves the image
  by more than ``box_tolerance`` pixels is an error naming the annotation id; within the tolerance it is clipped
  (exports often round a box edge to 640.01 on a 640-wide image).
* ``segmentation`` polygons and RLE are decoded with pycocotools (the reference decoder): a pixel is in the mask
  when its centre (i + 0.5, j + 0.5) lies inside the polygon, which is our convention too.
* ``keypoints`` are integer *pixel indices* in practice (COCO's tools round them; Detectron2 documents the same
  and adds 0.5 on load), so ``x_ours = x_coco + keypoint_offset`` with default 0.5. Visibility v is COCO's 0/1/2,
  unchanged (points with v = 0 are shifted too: COCO writes them as 0, 0, fakevision's writer keeps their
  coordinates). Pass ``keypoint_offset=0`` for files written with continuous keypoints.

Extra fields that fakevision's COCO writer adds are read when present: the image's ``label`` and
``attributes``, its ``depth_file`` (+ ``depth_scale``) and ``normals_file`` (+ ``normals_encoding``), both relative
to the JSON's folder and decoded as ``fakevision.io.codecs`` writes them (so augmenting a fakevision
output keeps its depth and normals, which then move with the pixels), each annotation's ``attributes`` (else
``instance_attributes`` = ``{"coco_id", "iscrowd"}``) and the category's ``fakevision_schema``. Masks are
returned when every instance of an image has a segmentation; otherwise None (a box-only instance has no honest
mask).

Keypoint schema: if a category's ``keypoints`` names equal a shipped schema's names (e.g. ``ibug68``) that one
is used; otherwise a schema ``coco:<category>`` is made from the names, with left/right pairs taken from
the names (``left_eye`` <-> ``right_eye``) so flips swap them, and the skeleton from the category; a category
with keypoints but no names gets ``generic<K>``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from fakevision.core.errors import InputError
from fakevision.core.keypoints import SHIPPED, KeypointSchema, generic_schema, schema
from fakevision.core.sample import UNLABELLED, Provenance, Sample
from fakevision.io.readers.base import Reader, decode_rle, make_sample, relative_inside, require_path
from fakevision.io.storage import LocalStorage, Storage, as_storage, is_url

SHIPPED_SCHEMAS = ("ibug68", "face49", "face5")
_DENSE_FIELDS = ("depth_file", "depth_scale", "normals_file", "normals_encoding", "label_map_file")
_OUTPUT_FIELDS = ("fakevision_id", "fakevision_provenance", "fakevision_keypoint_schema", "fakevision_extras",
                  "label_names")


def _swap_side(name: str) -> str:
    out = []
    for tok in name.split("_"):
        low = tok.lower()
        swapped = {"left": "right", "right": "left", "l": "r", "r": "l"}.get(low, tok)
        if swapped != tok and tok.isupper():
            swapped = swapped.upper()
        elif swapped != tok and tok[:1].isupper():
            swapped = swapped.capitalize()
        out.append(swapped)
    return "_".join(out)


def schema_for_names(names: list[str], skeleton: list[list[int]], category: str, k: int,
                     preferred: str | None = None, flip_perm: list[int] | None = None) -> KeypointSchema:
    """The keypoint schema of a COCO category (see module docstring), as a value.

    ``preferred`` is the schema name fakevision's COCO writer records (``fakevision_schema``) and ``flip_perm`` the
    permutation it records (``fakevision_flip_perm``): with them a round trip gives back the schema it wrote.

    >>> s = schema_for_names(["nose", "left_eye", "right_eye"], [[1, 2]], "doc_head", 3)
    >>> s.name, s.flip_perm, s.skeleton
    ('coco:doc_head', (0, 2, 1), ((0, 1),))
    """
    if not names:
        return generic_schema(k)
    names_t = tuple(str(n) for n in names)
    for cand in ((preferred,) if preferred else ()) + tuple(SHIPPED) + (generic_schema(k).name,):
        try:
            shipped = schema(cand)
        except ValueError:  # a name that is not a shipped one
            continue
        if shipped.names == names_t:
            return shipped
    skel = tuple((int(a) - 1, int(b) - 1) for a, b in skeleton
                 if 1 <= int(a) <= len(names_t) and 1 <= int(b) <= len(names_t))
    name = preferred or f"coco:{category}"
    if flip_perm is not None:
        try:
            return KeypointSchema(name, names_t, tuple(int(i) for i in flip_perm), skel)
        except (ValueError, TypeError):
            pass  # a broken permutation: infer one from the names below
    pos = {n: i for i, n in enumerate(names_t)}
    perm = tuple(pos.get(_swap_side(n), i) for i, n in enumerate(names_t))
    if any(perm[perm[i]] != i for i in range(len(perm))):  # inconsistent names: keep indices on flip
        perm = tuple(range(len(names_t)))
    return KeypointSchema(name, names_t, perm, skel)


def _read_file(store: Storage, rel: str) -> bytes:
    try:
        return store.read_bytes(rel)
    except FileNotFoundError:
        raise InputError("file not found", store.url(rel)) from None
    except IsADirectoryError:
        raise InputError("is a folder, expected a file", store.url(rel)) from None
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror or e})", store.url(rel)) from None


def _finite(values: Any) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def _locate(path: str | Path) -> tuple[Storage, str]:
    """(storage of the JSON's folder, the JSON's name in it) for a local path or a URL; a missing file is named."""
    text = str(path)
    if not is_url(text):
        p = require_path(text[len("file://"):] if text.startswith("file://") else text, "file")
        return LocalStorage(p.parent), p.name
    parent, _, name = text.rstrip("/").rpartition("/")
    store = as_storage(parent)
    try:
        found = store.is_file(name)
    except OSError as e:
        raise InputError(f"cannot read ({e})", text) from None
    if not found:
        raise InputError("file not found", text)
    return store, name


def _relative(root: Path | None, name: str) -> str | None:
    """``relative_inside`` for a local root; in remote storage (``root`` None) only relative names stay inside."""
    if root is None:
        return None if name.replace("\\", "/").startswith("/") else relative_inside(Path("."), name)
    return relative_inside(root, name)


class CocoReader(Reader):
    """Read a COCO JSON file: one sample per image, one instance per annotation. The one COCO decoder: users'
    files (``read:coco`` provenance, ids = image paths) and, with ``output=True``, fakevision's own outputs as
    ``FakevisionDataset`` reads them back (see below).

    ``path`` is a local file or a URL (``s3://bucket/out/coco/annotations.json``; read through
    ``fakevision.io.storage``, so a remote data set is read with the same checks). ``image_root`` is the folder
    ``file_name``s are relative to (default: the JSON's folder). ``masks=False`` skips mask decoding (boxes only,
    faster). ``include_crowd=False`` drops ``iscrowd`` annotations. Images without annotations are kept (zero
    instances), as negatives. Every listed image file is checked to exist at open (one listing for remote storage),
    so a missing file fails before a run starts, not in the middle of it.

    ``output=True`` reads a file fakevision's COCO writer made exactly as it was written: samples in image-id order
    (the run's order) with their ``fakevision_id`` as id and their stored provenance, keypoints only on the images
    the writer flagged (``fakevision_keypoint_schema``), instance attributes only where they were written.

    >>> import tempfile
    >>> from fakevision.io.images import encode_image
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.png").write_bytes(encode_image(np.zeros((10, 10, 3), np.uint8)))
    >>> coco = {"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}],
    ...         "categories": [{"id": 3, "name": "cube"}],
    ...         "annotations": [{"id": 7, "image_id": 1, "category_id": 3, "bbox": [2, 1, 4, 3],
    ...                          "segmentation": [[2, 1, 6, 1, 6, 4, 2, 4]], "iscrowd": 0}]}
    >>> _ = (root / "ann.json").write_text(json.dumps(coco))
    >>> s = CocoReader(root / "ann.json")[0]
    >>> s.annotations.categories, s.annotations.boxes.tolist(), int(s.annotations.masks.sum())
    (['cube'], [[2.0, 1.0, 6.0, 4.0]], 12)
    """

    format = "coco"

    def __init__(
        self,
        path: str | Path,
        image_root: str | Path | None = None,
        masks: bool = True,
        include_crowd: bool = True,
        keypoint_offset: float = 0.5,
        box_tolerance: float = 1.0,
        mode: str = "RGB",
        output: bool = False,
    ) -> None:
        self.store, self._json_name = _locate(path)
        if image_root is None:
            self.image_store = self.store
        elif is_url(image_root):
            self.image_store = as_storage(image_root)
        else:
            self.image_store = LocalStorage(require_path(image_root, "folder"))
        super().__init__(self.image_store.local_path or Path("."), mode)
        self.json_path: str | Path = (self.store.local_path / self._json_name if self.store.local_path is not None
                                      else self.store.url(self._json_name))
        self.decode_masks = masks
        self.keypoint_offset = float(keypoint_offset)
        self.output = output
        data = self._load_json()
        self.categories: dict[int, str] = {}
        self._cat_schema: dict[int, tuple[KeypointSchema, int]] = {}
        try:  # the checks below name what they know; anything else malformed is still this file's fault
            self._read_categories(data["categories"])
            images = self._read_images(data["images"])
            for a in data["annotations"]:
                if not isinstance(a, dict):
                    raise InputError(f"annotation entry is not an object: {str(a)[:80]}", self.json_path)
                self._check_annotation(a, images, box_tolerance, include_crowd)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
            raise InputError(f"malformed COCO file ({type(e).__name__}: {e})", self.json_path) from None
        order = (lambda kv: kv[0]) if output else (lambda kv: (kv[1]["file"], kv[0]))
        self._images = sorted(images.items(), key=order)
        self._files = self._image_files()
        self._ids = ([str(im.get("fakevision_id", Path(im["file"]).stem)) for _, im in self._images] if output
                     else list(self._files))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.json_path)!r}, {len(self)} samples)"

    def _where(self, i: int) -> str | Path:
        return self.image_store.url(self._files[i])

    def _read_categories(self, categories: list[Any]) -> None:
        for c in categories:
            try:
                cid, name = int(c["id"]), str(c["name"])
            except (KeyError, TypeError, ValueError):
                raise InputError(f"category without integer id and name: {str(c)[:80]}", self.json_path) from None
            self.categories[cid] = name
            kp_names = c.get("keypoints") or []
            if kp_names:
                preferred = c.get("fakevision_schema")
                flip = c.get("fakevision_flip_perm")
                value = schema_for_names(kp_names, c.get("skeleton") or [], name, len(kp_names),
                                         str(preferred) if preferred else None,
                                         flip if isinstance(flip, list) else None)
                self._cat_schema[cid] = (value, len(kp_names))

    def _read_images(self, entries: list[Any]) -> dict[int, dict[str, Any]]:
        images: dict[int, dict[str, Any]] = {}
        for im in entries:
            try:
                iid, w, h, fname = int(im["id"]), int(im["width"]), int(im["height"]), str(im["file_name"])
            except (KeyError, TypeError, ValueError):
                msg = f"image entry needs id, file_name, width, height: {str(im)[:80]}"
                raise InputError(msg, self.json_path) from None
            if iid in images:
                raise InputError(f"duplicate image id {iid}", self.json_path)
            if w < 1 or h < 1:
                raise InputError(f"image {iid}: width and height must be positive, got {w}x{h}", self.json_path)
            label, attributes = im.get("label"), im.get("attributes")
            images[iid] = {"w": w, "h": h, "file": fname, "anns": [],
                           "label": None if label is None else str(label),
                           "attributes": attributes if isinstance(attributes, dict) else {},
                           "dense": {k: im[k] for k in _DENSE_FIELDS if k in im}}
            for key in _OUTPUT_FIELDS:
                if key in im:
                    images[iid][key] = im[key]
        return images

    def _image_files(self) -> list[str]:
        """Relative paths of the images, checked to exist (a missing file fails at open, not mid-run)."""
        files: list[str] = []
        seen: set[str] = set()
        root = self.image_store.local_path
        try:
            listing = self.image_store.all_files() if root is None else None
        except OSError as e:
            raise InputError(f"cannot list the images ({e})", self.image_store.url()) from None
        for iid, im in self._images:
            rel = _relative(root, im["file"])
            if rel is None:
                raise InputError(f"image {iid}: file_name {im['file']!r} is outside the image root", self.json_path)
            if rel in seen:
                raise InputError(f"image {iid}: file {rel!r} listed twice", self.json_path)
            seen.add(rel)
            found = (root / rel).is_file() if root is not None else rel in (listing or ())
            if not found:
                where = root if root is not None else self.image_store.url()
                raise InputError(f"image {iid}: image file not found: {rel} (under {where})", self.json_path)
            files.append(rel)
        return files

    @property
    def labels(self) -> list[str | None]:
        """Image-level labels (present in files written by fakevision) without decoding any image."""
        return [im["label"] for _, im in self._images]

    def _load_json(self) -> dict[str, Any]:
        p = self.json_path
        try:
            data = json.loads(_read_file(self.store, self._json_name).decode("utf-8"))
        except UnicodeDecodeError as e:
            raise InputError(f"cannot read ({e})", p) from None
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON ({e.msg} at line {e.lineno})", p) from None
        if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
            raise InputError("not a COCO file (needs 'images' and 'annotations')", p)
        data.setdefault("categories", [])
        for key in ("images", "annotations", "categories"):
            if not isinstance(data[key], list):
                raise InputError(f"'{key}' must be a list, got {type(data[key]).__name__}", p)
        return data

    def _check_annotation(self, a: dict[str, Any], images: dict[int, dict[str, Any]], tol: float,
                          include_crowd: bool) -> None:
        p = self.json_path
        aid = a.get("id", "?")
        try:
            iid, cid = int(a["image_id"]), int(a["category_id"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"annotation {aid}: needs integer image_id and category_id", p) from None
        if iid not in images:
            raise InputError(f"annotation {aid}: unknown image id {iid}", p)
        if cid not in self.categories:
            raise InputError(f"annotation {aid}: unknown category id {cid} (known: {sorted(self.categories)})", p)
        if a.get("iscrowd", 0) and not include_crowd:
            return
        im = images[iid]
        w, h = im["w"], im["h"]
        bbox = a.get("bbox")
        if bbox is None or len(bbox) != 4 or not _finite(bbox):
            raise InputError(f"annotation {aid}: bbox must be 4 finite numbers [x, y, w, h], got {bbox}", p)
        x, y, bw, bh = (float(v) for v in bbox)
        if bw < 0 or bh < 0:
            raise InputError(f"annotation {aid}: bbox has negative width or height {bbox}", p)
        box = [x, y, x + bw, y + bh]
        if box[0] < -tol or box[1] < -tol or box[2] > w + tol or box[3] > h + tol:
            raise InputError(f"annotation {aid}: bbox {bbox} (xywh) lies outside the {w}x{h} image {iid}", p,
                             fix=("box_tolerance", f"a larger tolerance in pixels than {tol:g} to clip it instead"))
        box = [min(max(box[0], 0.0), w), min(max(box[1], 0.0), h), min(max(box[2], 0.0), w),
               min(max(box[3], 0.0), h)]
        kp = a.get("keypoints")
        if kp:
            k = self._cat_schema.get(cid, (None, len(kp) // 3))[1]
            if len(kp) != 3 * k:
                raise InputError(f"annotation {aid}: {len(kp)} keypoint values, expected 3 x {k}", p)
            if not _finite(kp):
                raise InputError(f"annotation {aid}: keypoints contain NaN or non-numbers", p)
            if cid not in self._cat_schema:
                self._cat_schema[cid] = (generic_schema(k), k)
        seg = a.get("segmentation")
        if isinstance(seg, list):
            for poly in seg:
                if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2 or not _finite(poly):
                    raise InputError(f"annotation {aid}: polygon must be >= 3 finite (x, y) pairs", p)
        attrs = a.get("attributes")
        written = isinstance(attrs, dict)
        if not written:
            attrs = {} if self.output else {"coco_id": aid, "iscrowd": int(a.get("iscrowd", 0))}
        im["anns"].append({"id": aid, "cat": cid, "box": box, "seg": seg, "kp": kp, "attributes": attrs,
                           "iscrowd": int(a.get("iscrowd", 0)), "written_attributes": written})

    def _mask(self, seg: Any, h: int, w: int, aid: Any) -> np.ndarray:
        try:
            if isinstance(seg, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
            elif isinstance(seg, dict) and isinstance(seg.get("counts"), list):
                rle = mask_utils.frPyObjects(seg, h, w)
            elif isinstance(seg, dict):
                rle = dict(seg)
                if isinstance(rle["counts"], str):
                    rle["counts"] = rle["counts"].encode("ascii")
                if list(rle.get("size", [])) != [h, w]:
                    raise ValueError(f"RLE size {rle.get('size')} is not the image's [{h}, {w}]")
            else:
                raise ValueError("unknown segmentation type")
            return decode_rle(rle)
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"annotation {aid}: cannot decode segmentation ({e})", self.json_path) from None

    def _dense_rel(self, iid: int, name: Any) -> str:
        rel = _relative(self.store.local_path, str(name))
        if rel is None:
            raise InputError(f"image {iid}: {name!r} is outside the annotation file's folder", self.json_path)
        return rel

    def _dense(self, iid: int, im: dict[str, Any]) -> dict[str, Any]:
        """The depth, normal and label maps fakevision's writer referenced from image ``iid`` (relative to the
        JSON's folder; none for plain COCO), decoded as ``fakevision.io.codecs`` wrote them, and the sample's
        ``fakevision_extras`` (e.g. camera intrinsics)."""
        from fakevision.io.codecs import (
            DEPTH_SCALE,
            check_normals_encoding,
            decode_label_map,
            decode_normals_png,
            decode_png_unchanged,
        )
        from fakevision.io.records import label_names_from_json

        fields, st = im["dense"], self.store
        out: dict[str, Any] = {}
        if "depth_file" in fields:
            rel = self._dense_rel(iid, fields["depth_file"])
            scale = float(fields.get("depth_scale", DEPTH_SCALE))
            out["depth"] = (decode_png_unchanged(_read_file(st, rel), st.url(rel)) * scale).astype(np.float32)
        if "normals_file" in fields:
            rel = self._dense_rel(iid, fields["normals_file"])
            check_normals_encoding(fields.get("normals_encoding"), st.url(rel))
            out["normals"] = decode_normals_png(_read_file(st, rel), st.url(rel))
        if "label_map_file" in fields:
            rel = self._dense_rel(iid, fields["label_map_file"])
            out["label_map"] = decode_label_map(_read_file(st, rel), st.url(rel))
            out["label_names"] = label_names_from_json(im.get("label_names") or {})
        extras = im.get("fakevision_extras")
        if isinstance(extras, dict) and extras:
            out["extras"] = extras
        return out

    def _keypoints(self, iid: int, im: dict[str, Any], anns: list[dict[str, Any]]) -> dict[str, Any]:
        """Keypoints (ours = COCO's + ``keypoint_offset``), visibility and the schema of image ``iid``'s instances.
        A user's file: every instance of a category with keypoints gets them (unlabelled where it has none); one of
        ours: only when the writer flagged the sample as having keypoints."""
        if self.output and "fakevision_keypoint_schema" not in im:
            return {}
        schemas = {self._cat_schema[a["cat"]] for a in anns if a["cat"] in self._cat_schema}
        if len(schemas) > 1:
            raise InputError(f"image {iid}: instances with different keypoint schemas "
                             f"{sorted(v.name for v, _ in schemas)}", self.json_path)
        if not schemas:
            return {}
        value, k = schemas.pop()
        kps = np.zeros((len(anns), k, 2))
        vis = np.full((len(anns), k), UNLABELLED, np.uint8)
        for j, a in enumerate(anns):
            if a["kp"]:
                arr = np.asarray(a["kp"], dtype=np.float64).reshape(k, 3)
                kps[j] = arr[:, :2] + self.keypoint_offset
                vis[j] = arr[:, 2].astype(np.uint8)
        return {"keypoints": kps, "visibility": vis, "keypoint_schema": value}

    def _load(self, i: int) -> Sample:
        rel = self._files[i]
        iid, im = self._images[i]
        name = self.image_store.url(rel)
        image = self._decode_image(_read_file(self.image_store, rel), name)
        h, w = image.shape[:2]
        if (h, w) != (im["h"], im["w"]):
            raise InputError(f"image {iid} is {w}x{h} but the JSON says {im['w']}x{im['h']}", name)
        anns = im["anns"]
        extra: dict[str, Any] = {}
        if self.decode_masks and anns and all(a["seg"] for a in anns):
            extra["masks"] = np.stack([self._mask(a["seg"], h, w, a["id"]) for a in anns])
        extra.update(self._keypoints(iid, im, anns))
        extra.update(self._dense(iid, im))
        if self.output:
            written = any(a["written_attributes"] for a in anns)
            inst = [dict(a["attributes"]) for a in anns] if written else None
            stored = im.get("fakevision_provenance")
            prov = (Provenance.from_dict(stored) if isinstance(stored, dict)
                    else Provenance(source="coco", sample_id=self._ids[i]))
        else:
            inst = [dict(a["attributes"]) for a in anns]
            prov = self._provenance(rel, image_id=iid)
        return make_sample(
            image, self.json_path, prov,
            categories=[self.categories[a["cat"]] for a in anns],
            boxes=np.asarray([a["box"] for a in anns], dtype=np.float64).reshape(-1, 4),
            instance_attributes=inst,
            label=im["label"], attributes=dict(im["attributes"]),
            **extra,
        )
