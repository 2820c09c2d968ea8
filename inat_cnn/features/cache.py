"""The feature cache: a frozen prefix's outputs for every image of a split, computed once, on disk.

One folder per key under ``<cache>/features/`` (next to the decode cache's ``decoded/``): for each
part (train, val, test) and cut tensor ``i`` a raw file ``<part>.<i>.bin`` read back with
``np.memmap``, ``meta.json`` (shapes, dtypes, counts, build seconds, each file's fingerprint) and a
``COMPLETE`` marker. The key hashes what the features depend on: backbone, weights name and a hash
of the prefix layers' actual weights, image size, resize, the split's fingerprint and the cut.

The build follows the decode cache (``inat_cnn.data.cache``): under a file lock, into
``<key>.tmp-<pid>/``, ``COMPLETE`` last, then one rename. Concurrent agents wait and reuse; a killed
builder leaves only a ``.tmp-`` folder that no reader opens and the next builder removes.

One pass can write several cuts (``load_or_build_many``: a sweep's other frozen-k values, whose cuts a
chain backbone nests): the builder holds its own folder's lock, takes each other folder's lock only if it
is free (a folder another process holds, or one already complete, is left out), and streams the images
once through a prefix that returns every cut's tensors; each folder still gets ``COMPLETE`` last and one
rename, its ``meta.json`` naming the folders built with it and their shared build seconds.

Values are stored as float16 when every value is finite and within float16's range (checked per
batch; one out-of-range batch restarts the build in float32): half the disk, see docs/feature-cache.md.
"""

from __future__ import annotations

import contextlib
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
from ..locks import build_lock, lock_if_free

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


def _as_float16(x: np.ndarray) -> np.ndarray:
    """float32 to float16, rounded to nearest even as numpy's ``astype`` rounds, through the backend's cast:
    numpy converts values in float16's subnormal range (|x| < 6.1e-5, common after batch norm and ReLU) in
    software, 70 ns per value against 1.7 ns for normal ones; the backend's cast takes 0.6 ns for either
    (measured on this project's 2-core CPU; docs/feature-cache.md)."""
    from keras import ops

    return ops.convert_to_numpy(ops.cast(x, "float16"))


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


@dataclass
class Group:
    """One cut's folder: what it is (``identity``), its tensors' shapes, and their ``names`` (opaque: a name two
    groups share is one tensor, computed once)."""

    identity: dict
    shapes: list[tuple]
    names: list

    @property
    def folder_name(self) -> str:
        return feature_key(self.identity)


@dataclass
class _Target:
    tmp: Path
    meta: dict
    outputs: list[int]  # where its tensors are in compute()'s outputs


def _compute_into(targets: list[_Target], parts: dict[str, np.ndarray], compute, batch: int) -> None:
    """One stream of the images through ``compute``; each target's outputs into its own files."""
    maps = []
    for t in targets:
        itemsize = np.dtype(t.meta["dtype"]).itemsize
        for part in PARTS:
            for i in range(len(t.meta["shapes"])):
                if t.meta["counts"][part]:
                    with open(_file(t.tmp, part, i), "wb") as fh:
                        fh.truncate(estimate_bytes([t.meta["shapes"][i]], t.meta["counts"][part], itemsize))
        maps.append(_map(t.tmp, t.meta, mode="r+"))
    half = targets[0].meta["dtype"] == "float16"
    batch = _even_batch(sum(targets[0].meta["counts"].values()), batch)
    for images, where in _stream(parts, batch):
        outs = [np.asarray(out, dtype=np.float32) for out in compute(images)]
        if half:
            if not all(np.isfinite(o).all() and np.abs(o).max(initial=0.0) <= _F16_MAX for o in outs):
                raise _OutOfRange
            outs = [_as_float16(o) for o in outs]
        for t, arrays in zip(targets, maps):
            for part, dst, src, n in where:
                for array, j in zip(arrays[part], t.outputs):
                    array[dst:dst + n] = outs[j][src:src + n]
    for arrays in maps:
        for files in arrays.values():
            for a in files:
                if isinstance(a, np.memmap):
                    a.flush()
    del maps


def _build(folders: list[Path], groups: list[Group], parts: dict[str, np.ndarray], compute, names: list,
           batch: int, dtype: str) -> None:
    """Every group's folder from one stream: ``compute(images)`` returns the tensors ``names`` in order. Each folder
    gets ``COMPLETE`` last and one rename; an out-of-range value in any batch restarts all in float32."""
    tmps = [f.with_name(f"{f.name}.tmp-{os.getpid()}") for f in folders]
    started = time.perf_counter()
    try:
        for attempt in ([dtype, "float32"] if dtype == "float16" else [dtype]):
            targets = []
            for tmp, group in zip(tmps, groups):
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                meta = {"version": VERSION, "identity": group.identity, "shapes": [list(s) for s in group.shapes],
                        "dtype": attempt, "counts": {p: len(parts[p]) for p in PARTS}, "builder_pid": os.getpid(),
                        "built_with": [f.name for f in folders]}
                targets.append(_Target(tmp, meta, [names.index(n) for n in group.names]))
            try:
                _compute_into(targets, parts, compute, batch)
                break
            except _OutOfRange:
                continue
        seconds = round(time.perf_counter() - started, 3)
        for folder, t in zip(folders, targets):
            files = sorted(p.name for p in t.tmp.iterdir() if p.suffix == ".bin")
            t.meta.update(seconds=seconds, integrity={name: integrity.record(t.tmp / name) for name in files})
            atomic.write_json(t.tmp / "meta.json", t.meta)
            atomic.write_text(t.tmp / "COMPLETE", "ok\n")
            shutil.rmtree(folder, ignore_errors=True)  # a leftover without COMPLETE
            os.rename(t.tmp, folder)
    finally:
        for tmp in tmps:
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


def usable(folder: Path) -> bool:
    """Complete and intact: safe to map."""
    return is_complete(folder) and problem(folder) is None


def load_or_build(cache_dir: Path, identity: dict, shapes: list[tuple], parts: dict[str, np.ndarray],
                  compute: Callable[[np.ndarray], list], *, batch: int = 64, dtype: str = "float16",
                  log: Callable[[str], None] = lambda msg: None) -> FeatureArrays:
    """The features for ``identity``: reused when complete and intact, else computed once under a file lock.

    ``parts``: the raw image arrays of train, val and test; ``compute(images) -> [array per cut tensor]``.
    """
    group = Group(identity, shapes, list(range(len(shapes))))
    return load_or_build_many(cache_dir, group, [], parts, lambda names: compute, batch=batch, dtype=dtype,
                              log=log)[0]


def load_or_build_many(cache_dir: Path, own: Group, extras: list[Group], parts: dict[str, np.ndarray],
                       make_compute: Callable[[list], Callable[[np.ndarray], list]], *, batch: int = 64,
                       dtype: str = "float16", log: Callable[[str], None] = lambda msg: None
                       ) -> tuple[FeatureArrays, list[dict]]:
    """``own``'s features (as ``load_or_build``), and when this call builds them, in the same pass over the
    images every ``extras`` folder that is neither complete nor locked by another process.

    ``make_compute(names)`` returns ``compute(images) -> [array per name]`` for the union of the built groups'
    tensor names. Returns own's arrays and one record per extra: ``{"key", "written"}`` plus ``reason`` when not.
    """
    root = features_root(cache_dir)
    folder = root / own.folder_name
    skipped = [{"key": g.folder_name, "written": False, "reason": f"{own.folder_name} was reused: no build"}
               for g in extras]
    if usable(folder):
        return _open(folder, built=False), skipped
    root.mkdir(parents=True, exist_ok=True)
    waiting = f"waiting for another process to finish building features {folder.name} ..."
    with build_lock(folder, lambda: log(waiting)):
        if usable(folder):
            return _open(folder, built=False), skipped
        with contextlib.ExitStack() as held:
            groups, records = [own], []
            for g in extras:
                other = root / g.folder_name
                if other == folder or any(other.name == r["key"] for r in records):
                    continue
                if not held.enter_context(lock_if_free(other)):
                    records.append({"key": other.name, "written": False, "reason": "another process holds its lock"})
                elif usable(other):
                    records.append({"key": other.name, "written": False, "reason": "complete already"})
                else:
                    groups.append(g)
                    records.append({"key": other.name, "written": True})
            folders = [root / g.folder_name for g in groups]
            for f in folders:
                for stale in root.glob(f"{f.name}.tmp-*"):  # left by a killed build (we hold its lock)
                    shutil.rmtree(stale, ignore_errors=True)
            names = list(dict.fromkeys(n for g in groups for n in g.names))
            try:
                _build(folders, groups, parts, make_compute(names), names, batch, dtype)
            except OSError as err:
                raise atomic.disk_error(err, folder) or EnvironmentFault(
                    f"feature cache {folder}: building it failed: {err}", what="cache") from err
            for f in folders:
                found = problem(f)
                if found:
                    raise EnvironmentFault(f"feature cache {f} is broken right after its build: {found}",
                                           what="cache")
        return _open(folder, built=True), records
