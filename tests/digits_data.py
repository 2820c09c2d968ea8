"""scikit-learn's bundled handwritten digits (real data no one here wrote) as a class-folder dataset.

``ROOT/train/<digit>/*.png`` and ``ROOT/val/<digit>/*.png`` (the test split, iNaturalist-12K's layout):
each 8×8 image (0..16) upscaled to ``side`` px, grey as RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_digits(root: Path, *, side: int = 16, per_class: int = 40, test_per_class: int = 10,
                 classes: int = 10) -> Path:
    """Write the first ``per_class`` + ``test_per_class`` digits of each of ``classes`` classes; returns root."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = Path(root)
    for label in range(classes):
        images = digits.images[digits.target == label][:per_class + test_per_class]
        for i, image in enumerate(images):
            split = "train" if i < per_class else "val"
            folder = root / split / f"digit_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = np.clip(image * 255.0 / 16.0, 0, 255).astype("uint8")
            Image.fromarray(pixels, "L").resize((side, side), Image.BILINEAR).convert("RGB").save(
                folder / f"{i:03d}.png")
    return root
