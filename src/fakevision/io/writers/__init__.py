"""Writers: turn ``Sample``s into the files users load. The contract (shards, ``ShardInfo``, pure ``write_shard``,
``finalize`` from disk) is in ``base``; file codecs in ``fakevision.io.codecs``, the JSON record in ``fakevision.io.records``.

Output layout under ``out_dir`` (paths relative to it; ``<id>`` is ``encoding.file_stem(sample id)``):

```
coco/annotations.json               coco      (finalize) images, categories, annotations; see writers.coco
coco/images/<id>.png|jpg            coco      the image
coco/depth/<id>.png                 coco      16-bit depth in mm, when the sample has depth
coco/normals/<id>.png               coco      16-bit RGB camera-frame normals, when the sample has them
coco/labelmaps/<id>.png             coco      semantic label map (class ids), when the sample has one
images/<label|unlabelled>/<id>.png  imagefolder  torchvision ImageFolder layout
webdataset/shard-<shard:06d>.tar    webdataset   <id>.png|jpg, <id>.json, <id>.mask.png, [<id>.masks.png],
                                                 [<id>.depth.png], [<id>.normals.png], [<id>.labelmap.png];
                                                 see writers.wds
webdataset/info.json                webdataset   (finalize) shard list, counts, category and label names
manifest.jsonl                      manifest  (finalize) one line per sample with provenance and file paths
.state/parts/<format>/<shard:06d>.json[l]  coco, webdataset, manifest: per-shard parts that finalize merges
                                    (run state: deleted with .state/ once the run has finished)
```

A recipe's ``outputs:`` list holds ``OutputSpec``s (a bare name such as ``coco`` is short for
``{format: coco}``); ``make_writers`` builds the writers and links the manifest to the others.

>>> specs = [OutputSpec.model_validate(x) for x in ["coco", {"format": "webdataset", "image_format": "jpg"},
...                                                  "manifest"]]
>>> [w.name for w in make_writers(specs)]
['coco', 'webdataset', 'manifest']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fakevision.io.writers.base import ShardInfo, Writer
from fakevision.io.writers.coco import CocoWriter
from fakevision.io.writers.imagefolder import ImageFolderWriter
from fakevision.io.writers.manifest import ManifestWriter
from fakevision.io.writers.wds import WebDatasetWriter

Format = Literal["coco", "imagefolder", "webdataset", "manifest"]
FORMATS: tuple[str, ...] = ("coco", "imagefolder", "webdataset", "manifest")
FileWriter = CocoWriter | ImageFolderWriter | WebDatasetWriter
_IMAGE_WRITERS: dict[str, type[FileWriter]] = {
    "coco": CocoWriter,
    "imagefolder": ImageFolderWriter,
    "webdataset": WebDatasetWriter,
}


class OutputSpec(BaseModel):
    """One entry of a recipe's ``outputs:``. ``image_format``/``jpeg_quality`` apply to the formats that store
    pixels (not ``manifest``).

    >>> OutputSpec.model_validate("coco")
    OutputSpec(format='coco', image_format='png', jpeg_quality=95)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Format
    image_format: Literal["png", "jpg"] = "png"
    jpeg_quality: int = Field(95, ge=1, le=100)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"format": data} if isinstance(data, str) else data


def make_writer(format: str, **options: Any) -> FileWriter | ManifestWriter:
    """One writer by format name; options as in ``OutputSpec`` (validated; a bad one raises ValueError). A
    ``manifest`` also takes ``linked``, the run's other writers whose file paths it records (``make_writers``
    passes them), and ignores the image options.

    >>> make_writer("coco", image_format="jpg").name
    'coco'
    """
    linked = options.pop("linked", ()) if format == "manifest" else ()
    try:
        spec = OutputSpec(format=format, **options)  # type: ignore[arg-type]
    except ValidationError as e:
        raise ValueError(f"bad output spec for {format!r}: {e.errors()[0]['loc']} {e.errors()[0]['msg']}") from None
    return ManifestWriter(linked) if spec.format == "manifest" else _image_writer(spec)


def _image_writer(spec: OutputSpec) -> FileWriter:
    cls = _IMAGE_WRITERS[spec.format]
    return cls(image_format=spec.image_format, jpeg_quality=spec.jpeg_quality)


def make_writers(specs: Sequence[OutputSpec]) -> list[Writer]:
    """The writers of a recipe's ``outputs:``, in order; a manifest records the paths of all the others.
    Two outputs of the same format would write the same files, so that is refused."""
    names = [s.format for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"output format listed twice: {dup}")
    others = [_image_writer(s) for s in specs if s.format != "manifest"]
    it = iter(others)
    return [ManifestWriter(others) if s.format == "manifest" else next(it) for s in specs]


__all__ = [
    "FORMATS",
    "CocoWriter",
    "ImageFolderWriter",
    "ManifestWriter",
    "OutputSpec",
    "ShardInfo",
    "WebDatasetWriter",
    "Writer",
    "make_writer",
    "make_writers",
]
