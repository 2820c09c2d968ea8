"""The feature cache: a frozen prefix's outputs for every image of a split, computed once, on disk.

One folder per key under ``<cache>/features/`` (next to the decode cache's ``decoded/``): for each
part (train, val, test) and cut tensor ``i`` a raw file ``<part>.<i>.bin`` read back with
``np.memmap``, ``meta.json`` (shapes, dtypes, counts, build seconds, each file's fingerprint) and a
``COMPLETE`` marker. The key hashes what the features depend on: backbone, weights name and a hash
of the prefix layers' actual weights, image size, resize, the split's fingerprint and the cut.

The build follows the decode cache (``inat_cnn.data.cache``): under a file lock, into
``<key>.tmp-<pid>/``, ``COMPLETE`` last, then one rename. Concurrent agents wait and reuse; a killed
builder leaves only a ``.tmp-`` folder that no reader opens and the next builder removes.

Values are stored as float16 when every value is finite and within float16's range (checked per
batch; one out-of-range batch restarts the build in float32): half the disk, see docs/feature-cache.md.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from .. import atomic
from ..data import integrity
from ..data.cache import PARTS, is_complete
from ..errors import EnvironmentFault
from ..locks import build_lock

VERSION = 1
FOLDER = "features"
_F16_MAX = 60000.0  # below float16's 65504: headroom for rounding


@dataclass
class FeatureArrays:
    path: Path
    parts: dict[str, list[np.ndarray]]  # part -> one read-only memmap per cut tensor
    meta: dict
    built: bool  # whether this call computed them

    @property
    def bytes(self) -> int:
        return int(sum(r["bytes"] for r in self.meta["integrity"].values()))


def features_root(cache_dir: Path) -> Path:
    return Path(cache_dir) / FOLDER


def weights_hash(layers) -> str:
    """XXH3-128 over every variable of ``layers`` (names, shapes, bytes): the weights' identity."""
    h = xxhash.xxh3_128()
    for layer in layers:
        for v in layer.weights:
            value = np.ascontiguousarray(np.asarray(v.numpy()))
            h.update(f"{layer.name}/{v.path}:{value.shape}:{value.dtype}".encode())
            h.update(value.tobytes())
    return h.hexdigest()


def feature_key(identity: dict) -> str:
    """A folder name from the identity (backbone, weights, sizes, split, cut): readable prefix + hash."""
    digest = xxhash.xxh3_64(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return f"{identity.get('backbone', 'model')}-{identity.get('image_size', 0)}px-{digest}-v{VERSION}"


def estimate_bytes(shapes: list[tuple], rows: int, itemsize: int = 2) -> int:
    return int(rows * sum(int(np.prod(s)) for s in shapes) * itemsize)


def _file(folder: Path, part: str, i: int) -> Path:
    return folder / f"{part}.{i}.bin"


def _map(folder: Path, meta: dict, mode: str = "r") -> dict[str, list[np.ndarray]]:
    out = {}
    for part in PARTS:
        n = int(meta["counts"][part])
        out[part] = [np.memmap(_file(folder, part, i), dtype=meta["dtype"], mode=mode, shape=(n, *shape))
                     if n else np.zeros((0, *shape), meta["dtype"])
                     for i, shape in enumerate(tuple(s) for s in meta["shapes"])]
    return out


class _OutOfRange(Exception):
    pass


def _even_batch(rows: int, batch: int) -> int:
    """The batch size closest to ``batch`` that splits ``rows`` into equal batches but the last (least padding)."""
    if rows <= 0:
        return max(1, batch)
    return math.ceil(rows / math.ceil(rows / max(1, batch)))


def _stream(parts: dict[str, np.ndarray], batch: int):
    """Batches of exactly ``batch`` images over train, val and test in a row (the last one padded with its
    last image), each with where its rows go: ``[(part, first row in part, first row in batch, count)]``.

    One shape for every call: the prefix is traced once, and a small val or test split costs no batch of its own.
    """
    pending, where, filled = [], [], 0
    for part in PARTS:
        x, start = parts[part], 0
        while start < len(x):
            take = min(batch - filled, len(x) - start)
            pending.append(np.asarray(x[start:start + take]))
            where.append((part, start, filled, take))
            filled, start = filled + take, start + take
            if filled == batch:
                yield np.concatenate(pending), where
                pending, where, filled = [], [], 0
    if filled:
        pad = np.repeat(pending[-1][-1:], batch - filled, axis=0)
        yield np.concatenate([*pending, pad]), where


def _compute_into(tmp: Path, meta: dict, parts: dict[str, np.ndarray], compute, batch: int) -> None:
    itemsize = np.dtype(meta["dtype"]).itemsize
    for part in PARTS:
        for i in range(len(meta["shapes"])):
            if meta["counts"][part]:
                with open(_file(tmp, part, i), "wb") as fh:
                    fh.truncate(estimate_bytes([meta["shapes"][i]], meta["counts"][part], itemsize))
    arrays = _map(tmp, meta, mode="r+")
    half = meta["dtype"] == "float16"
    batch = _even_batch(sum(meta["counts"].values()), batch)
    for images, where in _stream(parts, batch):
        outs = [np.asarray(out, dtype=np.float32) for out in compute(images)]
        for part, dst, src, n in where:
            for array, out in zip(arrays[part], outs):
                rows = out[src:src + n]
                if half and not (np.isfinite(rows).all() and np.abs(rows).max(initial=0.0) <= _F16_MAX):
                    raise _OutOfRange
                array[dst:dst + n] = rows
    for files in arrays.values():
        for a in files:
            if isinstance(a, np.memmap):
                a.flush()
    del arrays


def _build(folder: Path, identity: dict, shapes: list[tuple], parts: dict[str, np.ndarray], compute, batch: int,
           dtype: str) -> None:
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    started = time.perf_counter()
    for attempt in ([dtype, "float32"] if dtype == "float16" else [dtype]):
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        meta = {"version": VERSION, "identity": identity, "shapes": [list(s) for s in shapes], "dtype": attempt,
                "counts": {p: len(parts[p]) for p in PARTS}, "builder_pid": os.getpid()}
        try:
            _compute_into(tmp, meta, parts, compute, batch)
            break
        except _OutOfRange:
            continue
    try:
        files = sorted(p.name for p in tmp.iterdir() if p.suffix == ".bin")
        meta.update(seconds=round(time.perf_counter() - started, 3),
                    integrity={name: integrity.record(tmp / name) for name in files})
        atomic.write_json(tmp / "meta.json", meta)
        atomic.write_text(tmp / "COMPLETE", "ok\n")
        shutil.rmtree(folder, ignore_errors=True)  # a leftover without COMPLETE
        os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_meta(folder: Path) -> dict | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        _ = meta["shapes"], meta["dtype"], meta["counts"], meta["integrity"]
        return meta
    except (OSError, ValueError, KeyError, TypeError):
        return None


def problem(folder: Path) -> str | None:
    """What is wrong with a complete feature folder (None: safe to map)."""
    meta = read_meta(folder)
    if meta is None:
        return f"{folder / 'meta.json'} is unreadable or incomplete"
    itemsize = np.dtype(meta["dtype"]).itemsize
    for part in PARTS:
        n = int(meta["counts"][part])
        for i, shape in enumerate(meta["shapes"]):
            if n:
                name = _file(folder, part, i).name
                found = integrity.problem(folder / name, meta["integrity"].get(name),
                                          estimate_bytes([shape], n, itemsize))
                if found:
                    return found
    return None


def _open(folder: Path, built: bool) -> FeatureArrays:
    meta = read_meta(folder)
    os.utime(folder / "COMPLETE")  # last use: what `inat-cnn cache prune --unused-days` looks at
    return FeatureArrays(folder, _map(folder, meta), meta, built)


def _usable(folder: Path) -> bool:
    return is_complete(folder) and problem(folder) is None


def load_or_build(cache_dir: Path, identity: dict, shapes: list[tuple], parts: dict[str, np.ndarray],
                  compute: Callable[[np.ndarray], list], *, batch: int = 64, dtype: str = "float16",
                  log: Callable[[str], None] = lambda msg: None) -> FeatureArrays:
    """The features for ``identity``: reused when complete and intact, else computed once under a file lock.

    ``parts``: the raw image arrays of train, val and test; ``compute(images) -> [array per cut tensor]``.
    """
    folder = features_root(cache_dir) / feature_key(identity)
    if _usable(folder):
        return _open(folder, built=False)
    folder.parent.mkdir(parents=True, exist_ok=True)
    waiting = f"waiting for another process to finish building features {folder.name} ..."
    with build_lock(folder, lambda: log(waiting)):
        if _usable(folder):
            return _open(folder, built=False)
        for stale in folder.parent.glob(f"{folder.name}.tmp-*"):  # left by a killed build (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            _build(folder, identity, shapes, parts, compute, batch, dtype)
        except OSError as err:
            raise atomic.disk_error(err, folder) or EnvironmentFault(
                f"feature cache {folder}: building it failed: {err}", what="cache") from err
        found = problem(folder)
        if found:
            raise EnvironmentFault(f"feature cache {folder} is broken right after its build: {found}", what="cache")
        return _open(folder, built=True)
