"""A process that asks the feature cache for one key: ``python builder_proc.py CACHE_DIR LOG SLEEP_S [extra]``
(with ``extra``: the same pass also writes the folder of ``EXTRA``, another cut).

Its ``compute`` appends this pid to LOG on every batch (so a test can count who computed) and sleeps.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

from inat_cnn.features.cache import Group, load_or_build, load_or_build_many

IDENTITY = {"backbone": "fake", "image_size": 4, "cut": ["x"], "split": "s1"}
SHAPES = [(2,)]
EXTRA = {**IDENTITY, "cut": ["y"]}


def parts():
    x = np.arange(12 * 4 * 4 * 3, dtype=np.uint8).reshape(12, 4, 4, 3)
    return {"train": x[:8], "val": x[8:10], "test": x[10:]}


def compute_with(log: Path, sleep_s: float):
    def compute(images):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(sleep_s)
        flat = images.reshape(len(images), -1).astype(np.float32)
        return [np.stack([flat.mean(axis=1), flat.max(axis=1)], axis=1)]

    return compute


if __name__ == "__main__":
    cache_dir, log, sleep_s = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    if sys.argv[4:] == ["extra"]:
        compute = compute_with(log, sleep_s)
        got, _ = load_or_build_many(cache_dir, Group(IDENTITY, SHAPES, ["x"]), [Group(EXTRA, SHAPES, ["y"])],
                                    parts(), lambda names: lambda images: compute(images) * len(names), batch=4)
    else:
        got = load_or_build(cache_dir, IDENTITY, SHAPES, parts(), compute_with(log, sleep_s), batch=4)
    print(f"built={got.built} path={got.path}")
