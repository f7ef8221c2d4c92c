"""Readers turn users' data sets into ``Sample``s: lazy random-access sequences (``len(r)``, ``r[i]`` decodes on
access) with provenance ``read:<format>`` and ids = paths relative to the data set root.

Formats: ``folder`` (class subfolders or a flat folder of images), ``csv`` (label files), ``coco``
(instances/keypoints JSON), ``pts`` (300-W landmarks), ``mask_pairs`` (image/mask folders or tar archives),
``labelme`` (polygon JSON), ``dlib`` (imglab XML boxes + parts), ``fakevision`` (an output folder of ours);
``auto`` detects.
Each module states its format's coordinate convention and converts to ours (design.md §3).

>>> from fakevision.io.readers import open_reader, ReaderSpec
>>> sorted(FORMATS)
['coco', 'csv', 'dlib', 'fakevision', 'folder', 'labelme', 'mask_pairs', 'pts']
"""

from fakevision.io.readers.base import IMAGE_EXTENSIONS, Reader
from fakevision.io.readers.coco import CocoReader
from fakevision.io.readers.csv_labels import CsvReader
from fakevision.io.readers.dlib_xml import DlibXmlReader
from fakevision.io.readers.factory import FORMATS, ReaderSpec, detect_format, open_reader, reader_options
from fakevision.io.readers.folder import ImageFolderReader
from fakevision.io.readers.labelme import LabelmeReader
from fakevision.io.readers.mask_pairs import MaskPairReader
from fakevision.io.readers.output import FakevisionOutputReader
from fakevision.io.readers.pts import PtsReader, parse_pts

__all__ = [
    "FORMATS",
    "IMAGE_EXTENSIONS",
    "CocoReader",
    "CsvReader",
    "DlibXmlReader",
    "FakevisionOutputReader",
    "ImageFolderReader",
    "LabelmeReader",
    "MaskPairReader",
    "PtsReader",
    "Reader",
    "ReaderSpec",
    "detect_format",
    "open_reader",
    "parse_pts",
    "reader_options",
]
