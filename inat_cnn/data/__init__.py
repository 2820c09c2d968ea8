"""The data layer: scan an iNaturalist-layout root, split it once, decode it once, batch it.

``ArrayBatches`` (and so Keras) is imported lazily, so CLI commands and decode
worker processes that only need the rest stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .images import RESIZE_METHODS, BadImage, decode_image, load_image_file, probe_image
from .load import DatasetSplits, load_splits
from .scan import FileNote
from .synth import synthesize

if TYPE_CHECKING:
    from .batches import ArrayBatches

__all__ = [
    "RESIZE_METHODS",
    "ArrayBatches",
    "BadImage",
    "DatasetSplits",
    "FileNote",
    "decode_image",
    "load_image_file",
    "load_splits",
    "probe_image",
    "synthesize",
]


def __getattr__(name: str):
    if name == "ArrayBatches":
        from .batches import ArrayBatches

        return ArrayBatches
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
