"""Cost of the decode-cache fingerprints on an iNaturalist-12K-sized cache (docs/data.md).

Writes an 11,999 x 224 x 224 x 3 uint8 file (1.8 GB, random content) and times the sampled
hash every open does, the full-file hash, and the record a build writes (after dropping the
file from the page cache, so it reads from disk).

Run:  .venv/bin/python benchmarks/cache_fingerprint.py [--path /tmp/inat_cache_measure.u8] [--rows 11999]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from inat_cnn.data import integrity


def _drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=Path("/tmp/inat_cache_measure.u8"))
    parser.add_argument("--rows", type=int, default=11_999)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    rows = np.memmap(args.path, dtype=np.uint8, mode="w+", shape=(args.rows, args.size, args.size, 3))
    rng = np.random.default_rng(0)
    for i in range(0, args.rows, 500):
        rows[i : i + 500] = rng.integers(0, 255, (min(500, args.rows - i), args.size, args.size, 3), dtype=np.uint8)
    rows.flush()
    del rows
    try:
        print(f"file: {os.path.getsize(args.path):,} bytes")
        print(f"full-file hash (just written): {_timed(integrity.full_hash, args.path):.2f} s")
        print(f"sampled hash (in page cache): {_timed(integrity.sampled_hash, args.path) * 1000:.1f} ms")
        _drop_from_page_cache(args.path)
        print(f"sampled hash (dropped from page cache): {_timed(integrity.sampled_hash, args.path) * 1000:.1f} ms")
        _drop_from_page_cache(args.path)
        print(f"build record (sampled + full, from disk): {_timed(integrity.record, args.path):.2f} s")
    finally:
        args.path.unlink()


if __name__ == "__main__":
    main()
