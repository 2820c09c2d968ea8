"""Decode-once cache: every image of a split decoded and resized once, as raw uint8 on disk.

One folder per (split_id, image size, resize method) under ``<cache>/decoded/``:
``images.u8`` (rows in manifest order train, val, test, bad files dropped, read
back with ``np.memmap``), ``labels.npy``, ``meta.json`` and a ``COMPLETE`` marker.
A build decodes in a process pool into ``<key>.tmp-<pid>/``, writes the marker
last and renames the folder into place, all under a file lock: concurrent agents
wait instead of decoding twice, and an interrupted build never looks complete.

``meta.json`` records each file's size and fingerprint (see ``integrity``); a cache is checked
before it is mapped. A broken one (truncated, overwritten) is renamed aside to
``<key>.broken-<time>/`` under the lock and rebuilt; when that cannot be done the error is an
``EnvironmentFault`` naming the file and what is wrong. Decode workers die with their parent.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cpus import usable_cpus
from ..errors import EnvironmentFault, UserError
from ..locks import build_lock, lock_path  # noqa: F401 - lock_path: this cache's public name for it
from . import integrity
from .images import VANISHED, BadImage, decode_image
from .manifest import SplitManifest, atomic_write_text
from .scan import FileNote
from .workers import die_with_parent

CACHE_VERSION = 2  # 2: meta.json records the files' fingerprints
PARTS = ("train", "val", "test")
_SERIAL_BELOW = 256  # fewer images than this: a process pool costs more than it saves


@dataclass
class CachedArrays:
    path: Path
    images: np.ndarray  # uint8 (N, S, S, 3), read-only memmap (all parts)
    labels: np.ndarray  # int32 (N,)
    files: list[str]  # relative path of each row
    counts: dict[str, int]  # rows per part, in PARTS order
    bad: list[FileNote]  # files that failed to decode
    built: bool  # True if this call decoded the images, False if it reused them

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(x, y, files) of one part as views (no copy)."""
        start = sum(self.counts[p] for p in PARTS[: PARTS.index(name)])
        stop = start + self.counts[name]
        return self.images[start:stop], self.labels[start:stop], self.files[start:stop]


def cache_key(split_id: str, image_size: int, resize: str) -> str:
    return f"{split_id}-{int(image_size)}px-{resize}-v{CACHE_VERSION}"


def cache_folder(cache_dir: Path, split_id: str, image_size: int, resize: str) -> Path:
    return Path(cache_dir) / "decoded" / cache_key(split_id, image_size, resize)


def decode_workers() -> int:
    """Processes for a build: the CPUs we may use, or INAT_CNN_DECODE_WORKERS."""
    env = os.environ.get("INAT_CNN_DECODE_WORKERS")
    if env:
        return max(1, int(env))
    return usable_cpus()


def _rows(path: Path, n: int, size: int, mode: str) -> np.ndarray:
    if n == 0:
        return np.zeros((0, size, size, 3), np.uint8)
    return np.memmap(path, dtype=np.uint8, mode=mode, shape=(n, size, size, 3))


def _decode_rows(scratch: str, n: int, size: int, resize: str, root: str, jobs: list[tuple[int, str]]):
    """Worker: decode ``jobs`` (row, relpath) straight into the scratch file; return the failures."""
    out = _rows(Path(scratch), n, size, "r+")
    bad = []
    for row, rel in jobs:
        try:
            out[row] = decode_image(os.path.join(root, rel), size, resize)
        except BadImage as err:
            bad.append((row, err.reason))
    out.flush()
    del out
    return len(jobs), bad


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _pool_context():
    """A fork server where there is one: plain fork from a process with threads (TensorFlow's, a
    heartbeat, a progress bar) can hand a worker a lock that its owner will never release, and the
    pool then hangs; the server is a fresh single-threaded process that forks the workers."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])  # each worker starts with this module imported
    return ctx


def _run_decode(scratch: Path, n: int, size: int, resize: str, root: Path, files: list[str], console) -> dict[int, str]:
    """Decode every file into ``scratch``, in parallel when worth it; returns {row: reason} of failures."""
    jobs = list(enumerate(files))
    workers = min(decode_workers(), max(1, n // 8))
    if n < _SERIAL_BELOW or workers == 1:
        return dict(_decode_rows(str(scratch), n, size, resize, str(root), jobs)[1])
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bad: dict[int, str] = {}
    chunk = max(8, min(64, n // (workers * 8)))
    ctx = _pool_context()
    columns = (TextColumn("decoding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    progress = Progress(*columns, console=console, transient=True)
    with progress, ProcessPoolExecutor(workers, mp_context=ctx, initializer=die_with_parent,
                                       initargs=(os.getpid(),)) as pool:
        task = progress.add_task("decode", total=n)
        futures = [pool.submit(_decode_rows, str(scratch), n, size, resize, str(root), c) for c in _chunks(jobs, chunk)]
        for fut in as_completed(futures):
            done, failures = fut.result()
            bad.update(failures)
            progress.advance(task, done)
    return bad


def _compact(scratch: Path, final: Path, n: int, size: int, keep: np.ndarray) -> None:
    """Copy the good rows of ``scratch`` into ``final`` (only needed when some files were bad)."""
    if len(keep) == 0:
        scratch.unlink()
        final.touch()
        return
    src = _rows(scratch, n, size, "r")
    dst = _rows(final, len(keep), size, "w+")
    for i in range(0, len(keep), 1024):
        dst[i : i + 1024] = src[keep[i : i + 1024]]
    dst.flush()
    del src, dst
    scratch.unlink()


def _check_free_space(where: Path, needed: int) -> None:
    free = shutil.disk_usage(where).free
    if free < needed * 1.05:
        raise UserError(
            f"{where}: the decode cache needs {needed / 1e9:.2f} GB but only {free / 1e9:.2f} GB are free; "
            "free some space, use a smaller --image-size, or point INAT_CNN_HOME (or --cache-dir) elsewhere"
        )


def _build(folder: Path, manifest: SplitManifest, root: Path, size: int, resize: str, console) -> None:
    """Decode into a temporary folder and rename it into place, ``COMPLETE`` written last."""
    entries = [e for part in PARTS for e in manifest.parts()[part]]
    part_of = [p for p in PARTS for _ in manifest.parts()[p]]
    files, n = [rel for rel, _ in entries], len(entries)
    _check_free_space(folder.parent, n * size * size * 3)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        scratch = tmp / "scratch.u8"
        with open(scratch, "wb") as fh:
            fh.truncate(n * size * size * 3)
        workers = decode_workers()
        console.print(f"decoding {n} images at {size}px ({resize}) with up to {workers} processes into {folder}")
        started = time.perf_counter()
        bad = _run_decode(scratch, n, size, resize, root, files, console)
        _check_nothing_vanished(root, files, bad)
        keep = np.array([i for i in range(n) if i not in bad], dtype=np.int64)
        if bad:
            _compact(scratch, tmp / "images.u8", n, size, keep)
        else:
            scratch.rename(tmp / "images.u8")
        np.save(tmp / "labels.npy", np.array([entries[i][1] for i in keep], dtype=np.int32))
        meta = {
            "version": CACHE_VERSION,
            "split_id": manifest.split_id,
            "fingerprint": manifest.fingerprint,
            "image_size": size,
            "resize": resize,
            "counts": {p: sum(1 for i in keep if part_of[i] == p) for p in PARTS},
            "files": [files[i] for i in keep],
            "bad": [{"path": files[i], "reason": r} for i, r in sorted(bad.items())],
            "seconds": round(time.perf_counter() - started, 3),
            "integrity": {name: integrity.record(tmp / name) for name in ("images.u8", "labels.npy")},
        }
        atomic_write_text(tmp / "meta.json", json.dumps(meta))
        (tmp / "COMPLETE").write_text("ok\n")
        shutil.rmtree(folder, ignore_errors=True)  # a leftover without COMPLETE
        os.rename(tmp, folder)
        console.print(f"decoded {len(keep)} images in {meta['seconds']:.1f} s ({len(bad)} failed)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_nothing_vanished(root: Path, files: list[str], bad: dict[int, str]) -> None:
    """Files the manifest listed that are gone now: the dataset changed or was unmounted, not bad images."""
    gone = [files[i] for i, reason in sorted(bad.items()) if reason == VANISHED]
    if gone or not root.is_dir():
        where = f"{len(gone)} of its files disappeared while decoding, e.g. {gone[0]}" if gone else "it is gone"
        raise EnvironmentFault(f"dataset root {root}: {where}; is the disk mounted? The decode cache was not "
                               "written", what="data")


def is_complete(folder: Path) -> bool:
    return (folder / "COMPLETE").is_file()


def _read_meta(folder: Path) -> dict:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        _ = meta["image_size"], meta["files"], meta["counts"], meta["bad"]
        return meta
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise EnvironmentFault(f"decode cache {folder}: meta.json is unreadable or incomplete ({err})",
                               what="cache") from None


def cache_problem(folder: Path, full: bool = False) -> str | None:
    """What is wrong with a complete cache folder (None: it can be mapped safely)."""
    try:
        meta = _read_meta(folder)
    except EnvironmentFault as err:
        return str(err)
    records = meta.get("integrity")
    if not isinstance(records, dict) or set(records) != {"images.u8", "labels.npy"}:
        return f"{folder / 'meta.json'} records no file fingerprints"
    n, size = len(meta["files"]), int(meta["image_size"])
    labels = folder / "labels.npy"
    for path, expected in ((folder / "images.u8", n * size * size * 3),
                           (labels, records["labels.npy"].get("bytes"))):  # fmt: skip
        found = integrity.problem(path, records.get(path.name), expected, full=full or path == labels)
        if found:
            return found
    return None


def open_cache(folder: Path, built: bool = False, full_check: bool = False) -> CachedArrays:
    """Check, then memory-map a complete cache folder (read-only). EnvironmentFault if it is broken."""
    found = cache_problem(folder, full=full_check)
    if found:
        raise EnvironmentFault(f"decode cache {folder} is broken: {found}", what="cache")
    return _map(folder, built)


def _map(folder: Path, built: bool) -> CachedArrays:
    """Memory-map a cache folder that passed ``cache_problem``."""
    meta = _read_meta(folder)
    size, n = meta["image_size"], len(meta["files"])
    return CachedArrays(
        path=folder,
        images=_rows(folder / "images.u8", n, size, "r"),
        labels=np.load(folder / "labels.npy"),
        files=list(meta["files"]),
        counts={p: int(meta["counts"][p]) for p in PARTS},
        bad=[FileNote(**b) for b in meta["bad"]],
        built=built,
    )


def _move_aside(folder: Path, why: str, console) -> Path:
    """Rename a broken cache out of the way (kept for a look; the project made it, it may be deleted)."""
    aside = folder.with_name(f"{folder.name}.broken-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}")
    try:
        os.rename(folder, aside)
    except OSError as err:
        raise EnvironmentFault(f"decode cache {folder} is broken ({why}) and cannot be moved aside to rebuild it: "
                               f"{err.strerror or err}", what="cache") from None
    console.print(f"warning: decode cache broken: {why}; moved it to {aside} and rebuilding "
                  "(delete that folder once you have looked at it)")
    return aside


def load_or_build_cache(
    manifest: SplitManifest, root: Path, image_size: int, resize: str, cache_dir: Path, console,
    full_check: bool = False,
) -> CachedArrays:
    """The cache for this split and size: reused if complete and intact, else (re)built once under a file lock."""
    folder = cache_folder(cache_dir, manifest.split_id, image_size, resize)
    if is_complete(folder) and cache_problem(folder, full=full_check) is None:
        return _map(folder, built=False)
    folder.parent.mkdir(parents=True, exist_ok=True)
    waiting = f"waiting for another process to finish building {folder.name} ..."
    with build_lock(folder, lambda: console.print(waiting)):
        if is_complete(folder):
            found = cache_problem(folder, full=full_check)
            if found is None:
                return _map(folder, built=False)
            _move_aside(folder, found, console)
        for stale in folder.parent.glob(f"{folder.name}.tmp-*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        try:
            _build(folder, manifest, Path(root), image_size, resize, console)
        except OSError as err:
            raise EnvironmentFault(f"decode cache {folder}: building it failed: {err}", what="cache") from err
        return open_cache(folder, built=True)
