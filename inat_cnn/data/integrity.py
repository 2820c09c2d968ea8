"""Fingerprints of decode-cache files, recorded at build and checked before a file is mapped.

A mapped file that is shorter than its mapping kills the process with SIGBUS on the first read
past the end, with no message, so a cache file is checked first: its size must be the one its
recorded shape gives, and an XXH3-128 hash of 64 blocks of 64 KiB spread evenly over it (first and
last included) must match the one recorded at build: ~4 MiB read whatever the cache size. The hash
of the whole file is recorded too; ``full=True`` checks it (``inat-cnn data prepare`` does).
"""

from __future__ import annotations

import os
from pathlib import Path

import xxhash

BLOCK = 64 * 1024
SAMPLED_BLOCKS = 64
_CHUNK = 8 * 1024 * 1024


def _offsets(size: int) -> list[int]:
    if size <= BLOCK * SAMPLED_BLOCKS:
        return list(range(0, size, BLOCK))
    last = size - BLOCK
    return sorted({round(i * last / (SAMPLED_BLOCKS - 1)) for i in range(SAMPLED_BLOCKS)})


def sampled_hash(path: Path) -> str:
    """Size plus XXH3-128 of a few blocks spread over the file: cheap, catches truncation and most damage."""
    size = os.path.getsize(path)
    h = xxhash.xxh3_128(str(size).encode())
    with open(path, "rb") as fh:
        for offset in _offsets(size):
            fh.seek(offset)
            h.update(fh.read(BLOCK))
    return h.hexdigest()


def full_hash(path: Path) -> str:
    """XXH3-128 of every byte of the file (not cryptographic: it guards against damage, not tampering)."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def record(path: Path) -> dict:
    """What the build records of one file: bytes, sampled hash, full hash."""
    return {"bytes": os.path.getsize(path), "sampled_xxh3_128": sampled_hash(path), "xxh3_128": full_hash(path)}


def problem(path: Path, recorded: dict | None, expected_bytes: int, full: bool = False) -> str | None:
    """What is wrong with ``path`` against its build record (None: it is intact)."""
    if not path.is_file():
        return f"{path} is missing"
    size = os.path.getsize(path)
    if size != expected_bytes:
        return f"{path} has {size:,} bytes but its recorded shape needs {expected_bytes:,} (truncated or overwritten)"
    if not recorded:
        return f"{path} has no build fingerprint (written by an older version)"
    if sampled_hash(path) != recorded.get("sampled_xxh3_128"):
        return f"{path}: its content does not match the fingerprint recorded at build (sampled blocks differ)"
    if full and full_hash(path) != recorded.get("xxh3_128"):
        return f"{path}: its content does not match the full-file hash recorded at build"
    return None
