"""The per-sample JSON record that rides beside the pixels (WebDataset ``.json``, COCO ``fakevision_*`` fields,
manifests): everything about a sample except its pixel arrays, in the project's coordinate convention, floats at
full precision so the round trip is exact; keypoint schemas that are not shipped travel as data; label names and
the one class id space (COCO category ids = label-map ids = dataset labels). Written by the writers, read by the
readers: one module, so the two cannot drift apart. The files' codecs are ``fakevision.io.codecs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fakevision.core.errors import InputError
from fakevision.core.keypoints import SHIPPED, KeypointSchema, schema
from fakevision.core.sample import Annotations, Provenance, Sample, jsonable
from fakevision.io.codecs import DEPTH_SCALE, NORMALS_ENCODING


def label_names_to_json(names: dict[int, str] | None) -> dict[str, str]:
    return {str(int(k)): str(v) for k, v in (names or {}).items()}


def label_names_from_json(names: dict[str, str] | None) -> dict[int, str] | None:
    return None if names is None else {int(k): v for k, v in names.items()}


def label_id_claims(samples: Sequence[Sample]) -> list[list[int | str]]:
    """The (class id, name) pairs the label maps of ``samples`` use, in order of first appearance, background (0)
    left out: what a writer keeps per shard so that ``class_ids`` can give COCO categories the same ids.

    >>> import numpy as np
    >>> from fakevision.core.sample import Annotations
    >>> lm = np.zeros((2, 2), np.int32)
    >>> s = Sample(np.zeros((2, 2, 3), np.uint8), Annotations(label_map=lm, label_names={0: "bg", 3: "iris"}))
    >>> label_id_claims([s, s])
    [[3, 'iris']]
    """
    seen: dict[tuple[int, str], None] = {}
    for s in samples:
        for k, v in sorted((s.annotations.label_names or {}).items()):
            if int(k) != 0:
                seen.setdefault((int(k), str(v)), None)
    return [[k, v] for k, v in seen]


def class_ids(claims: Iterable[Sequence[int | str]], names: Iterable[str]) -> dict[str, int]:
    """One id space for the classes of a run: COCO category ids, label map values and ``FakevisionDataset``'s
    ``labels`` all use it. A class a label map names keeps that label map's id (the first claim wins, in run
    order); every other class (e.g. ``face`` from a source without label maps) gets the next free id, in name
    order. Ids start at 1: 0 is the label maps' background, never a category.

    When two label maps disagree (``3: cylinder`` in one, ``3: iris`` in another; only a recipe mixing ``render`` and
    ``render_eye`` does that), the later class gets an id no label map uses: COCO then cannot match both, and a
    reader must use the ``label_names`` written beside every label map, as all of ours do.

    >>> class_ids([[1, "box"], [2, "sphere"], [3, "cylinder"]], ["face", "box", "cylinder", "sphere"])
    {'box': 1, 'sphere': 2, 'cylinder': 3, 'face': 4}
    >>> class_ids([[3, "cylinder"], [3, "iris"], [1, "skin"]], ["cylinder", "iris"])
    {'skin': 1, 'iris': 2, 'cylinder': 3}
    """
    pairs = [(int(k), str(name)) for k, name in claims if int(k) > 0]
    ids: dict[str, int] = {}
    for k, name in pairs:
        if name not in ids and k not in ids.values():
            ids[name] = k
    taken = {k for k, _ in pairs}  # an id some label map uses is never given to another class
    nxt = 1
    for name in sorted(set(names) | {n for _, n in pairs}):
        if name in ids:
            continue
        while nxt in taken:
            nxt += 1
        ids[name] = nxt
        taken.add(nxt)
    return dict(sorted(ids.items(), key=lambda kv: kv[1]))


def sample_record(sample: Sample) -> dict[str, Any]:
    """Everything about a sample except its pixel arrays, as JSON in the project's coordinate convention
    (continuous, corner origin; boxes xyxy), floats at full precision so the round trip is exact."""
    a = sample.annotations
    rec: dict[str, Any] = {
        "id": sample.id,
        "width": sample.width,
        "height": sample.height,
        "channels": int(sample.image.shape[2]),
        "label": a.label,
        "attributes": a.attributes,
        "categories": a.categories,
        "boxes": a.boxes.tolist(),
        "masks": a.masks is not None,
        "provenance": sample.provenance.to_dict(),
        "extras": a.extras,
    }
    if a.keypoints is not None:
        assert a.visibility is not None
        rec["keypoints"] = a.keypoints.tolist()
        rec["visibility"] = a.visibility.astype(int).tolist()
        rec["keypoint_schema"] = None if a.keypoint_schema is None else a.keypoint_schema.name
        if a.keypoint_schema is not None and a.keypoint_schema.name not in SHIPPED:
            rec["keypoint_schema_def"] = schema_def(a.keypoint_schema)
    if a.instance_attributes is not None:
        rec["instance_attributes"] = a.instance_attributes
    if a.depth is not None:
        rec["depth_scale"] = DEPTH_SCALE
    if a.normals is not None:
        rec["normals_encoding"] = NORMALS_ENCODING
    if a.label_map is not None:
        rec["label_names"] = label_names_to_json(a.label_names)
    return jsonable(rec)


def schema_def(value: KeypointSchema) -> dict[str, Any]:
    """A schema as data (names, flip permutation, 0-based skeleton), so files carry the schemas that are not
    shipped (e.g. the renderer's) and readers can rebuild them."""
    d = value.to_json()
    del d["name"]
    return d


def resolve_schema(name: str | None, definition: dict[str, Any] | None = None) -> KeypointSchema | None:
    """The keypoint schema a file names: a shipped one by ``name``, else rebuilt from ``definition`` (as written
    by ``schema_def``) when the file carried one, else dropped (None) rather than failing the read; the points
    themselves are kept either way.

    >>> resolve_schema("ibug68").num_keypoints, resolve_schema("generic3").name, resolve_schema("nobody's")
    (68, 'generic3', None)
    """
    if name is None:
        return None
    try:
        return schema(name)
    except ValueError:
        pass
    if not definition:
        return None
    try:
        return KeypointSchema.from_json(definition, name)
    except ValueError:
        return None


def sample_from_record(
    rec: dict[str, Any],
    image: np.ndarray,
    masks: np.ndarray | None,
    depth: np.ndarray | None,
    name: str | Path,
    label_map: np.ndarray | None = None,
    normals: np.ndarray | None = None,
) -> Sample:
    """Rebuild a ``Sample`` from ``sample_record`` output plus decoded arrays; bad content raises ``InputError``."""
    try:
        n = len(rec.get("categories", []))
        kp = rec.get("keypoints") if n else None  # zero instances: nothing to restore, K is unknowable
        ann = Annotations(
            label=rec.get("label"),
            attributes=rec.get("attributes") or {},
            categories=rec.get("categories", []),
            boxes=np.asarray(rec.get("boxes") or np.zeros((0, 4)), dtype=np.float64).reshape(n, 4),
            masks=masks,
            keypoints=None if kp is None else np.asarray(kp, dtype=np.float64).reshape(n, -1, 2),
            visibility=None if kp is None else np.asarray(rec["visibility"], dtype=np.uint8).reshape(n, -1),
            keypoint_schema=resolve_schema(rec.get("keypoint_schema"), rec.get("keypoint_schema_def")),
            instance_attributes=rec.get("instance_attributes"),
            depth=depth,
            label_map=label_map,
            label_names=label_names_from_json(rec.get("label_names")) if label_map is not None else None,
            extras=rec.get("extras") or {},
            normals=normals,
        )
        prov = rec.get("provenance") or {"source": "unknown", "sample_id": rec.get("id", "unknown")}
        return Sample(image, ann, Provenance.from_dict(prov))
    except InputError as e:
        raise InputError(e.problem, name) from None
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"malformed annotation record ({type(e).__name__}: {e})", name) from None
