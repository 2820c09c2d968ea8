"""The decode-once cache: content, reuse, invalidation, concurrency, interruption, bad files."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from filelock import FileLock
from PIL import Image

from inat_cnn.data import cache as cache_mod
from inat_cnn.data import decode_image, load_splits
from inat_cnn.data.bad_files import BAD_KINDS, plant_bad_files
from inat_cnn.data.cache import cache_folder, lock_path
from inat_cnn.data.manifest import load_or_create_manifest
from inat_cnn.data.scan import scan_dataset


def _assert_rows_match_direct_decode(splits, root, size, resize="squash", picks=(0, 4, -1)):
    for i in picks:
        assert np.array_equal(splits.x_test[i], decode_image(splits.test_files[i], size, resize))
    cache_dir = splits.manifest_path.parent.parent
    files = cache_mod.open_cache(cache_folder(cache_dir, splits.split_id, size, resize)).part("train")[2]
    for i in picks:
        assert np.array_equal(splits.x_train[i], decode_image(root / files[i], size, resize))


@pytest.mark.parametrize("resize", ["squash", "center_crop"])
def test_cache_equals_direct_decode_and_is_a_readonly_memmap(tiny_ds, cache_dir, resize):
    s = load_splits(tiny_ds, 20, resize=resize, cache_dir=cache_dir)
    assert s.x_train.shape == (27, 20, 20, 3) and s.x_val.shape == (3, 20, 20, 3) and s.x_test.shape == (9, 20, 20, 3)
    assert s.x_train.dtype == np.uint8 and s.y_train.dtype == np.int32
    assert isinstance(s.x_train, np.memmap) and not s.x_train.flags.writeable
    assert s.class_names == ["Amphibia", "Animalia", "Arachnida"] and list(np.bincount(s.y_test)) == [3, 3, 3]
    _assert_rows_match_direct_decode(s, tiny_ds, 20, resize)


@pytest.mark.slow  # a pool of decode processes
def test_parallel_build_equals_serial_build(tiny_ds, cache_dir, tmp_path, monkeypatch):
    serial = load_splits(tiny_ds, 16, cache_dir=cache_dir)
    monkeypatch.setattr(cache_mod, "_SERIAL_BELOW", 0)
    monkeypatch.setenv("INAT_CNN_DECODE_WORKERS", "2")
    parallel = load_splits(tiny_ds, 16, cache_dir=tmp_path / "other")
    for part in ("x_train", "x_val", "x_test", "y_train", "y_test"):
        assert np.array_equal(getattr(serial, part), getattr(parallel, part))


def test_second_call_reuses_the_cache(tiny_ds, cache_dir, capfd):
    load_splits(tiny_ds, 16, cache_dir=cache_dir)
    assert "decoding 39 images" in capfd.readouterr().err
    again = load_splits(tiny_ds, 16, cache_dir=cache_dir)
    assert "decoding" not in capfd.readouterr().err and len(again.y_train) == 27
    load_splits(tiny_ds, 24, cache_dir=cache_dir)  # another size is another cache
    assert "decoding 39 images at 24px" in capfd.readouterr().err


def test_changed_dataset_invalidates_the_cache(tiny_ds, cache_dir):
    before = load_splits(tiny_ds, 16, cache_dir=cache_dir)
    target = tiny_ds / "val" / "Arachnida" / "arachnida_00000.jpg"
    i = before.test_files.index(str(target))
    donor = sorted((tiny_ds / "val" / "Amphibia").glob("*.jpg"))[0]
    target.write_bytes(donor.read_bytes())
    after = load_splits(tiny_ds, 16, cache_dir=cache_dir)
    assert after.fingerprint != before.fingerprint and after.split_id != before.split_id
    assert np.array_equal(after.x_test[i], decode_image(donor, 16))
    assert not np.array_equal(after.x_test[i], before.x_test[i])


def _stream_lines(pipe, sink):
    for line in pipe:
        sink.append(line)


@pytest.mark.slow
def test_two_processes_build_one_cache(tiny_ds, cache_dir):
    """Both agents start while the lock is held; exactly one decodes, both see the same arrays."""
    manifest, _ = load_or_create_manifest(scan_dataset(tiny_ds), 0.1, 0, cache_dir)
    folder = cache_folder(cache_dir, manifest.split_id, 16, "squash")
    folder.parent.mkdir(parents=True)
    code = ("import sys; from inat_cnn.data import load_splits; "
            "s = load_splits(sys.argv[1], 16, cache_dir=sys.argv[2]); "
            "print(s.split_id, int(s.x_train.sum(dtype='int64')), int(s.x_test.sum(dtype='int64')), len(s.y_val))")
    lock = FileLock(str(lock_path(folder)))
    lock.acquire()
    procs, readers, errs = [], [], [[], []]
    try:
        for err in errs:
            p = subprocess.Popen([sys.executable, "-c", code, str(tiny_ds), str(cache_dir)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
            readers.append(threading.Thread(target=_stream_lines, args=(p.stderr, err), daemon=True))
            readers[-1].start()
            procs.append(p)
        deadline = time.monotonic() + 60
        while not all(any("waiting for another process" in line for line in e) for e in errs):
            assert time.monotonic() < deadline, errs
            time.sleep(0.05)
    finally:
        lock.release()
    outs = [p.stdout.read() for p in procs]  # not communicate(): it would also read stderr, racing the readers
    for p in procs:
        p.wait(timeout=60)
    for reader in readers:
        reader.join(timeout=10)
    assert [p.returncode for p in procs] == [0, 0], errs
    assert outs[0] == outs[1] and outs[0].startswith(manifest.split_id)
    assert sum(any("decoding 39 images" in line for line in e) for e in errs) == 1, errs
    assert sorted(q.name for q in folder.parent.iterdir()) == [folder.name, lock_path(folder).name]
    _assert_rows_match_direct_decode(load_splits(tiny_ds, 16, cache_dir=cache_dir), tiny_ds, 16)


def test_interrupted_build_never_looks_complete(tiny_ds, cache_dir, monkeypatch):
    calls = []

    def dying_decode(path, size, resize="squash"):
        calls.append(path)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return decode_image(path, size, resize)

    monkeypatch.setattr(cache_mod, "decode_image", dying_decode)
    with pytest.raises(KeyboardInterrupt):
        load_splits(tiny_ds, 16, cache_dir=cache_dir)
    decoded = cache_dir / "decoded"
    assert not any((p / "COMPLETE").exists() for p in decoded.iterdir() if p.is_dir())
    monkeypatch.undo()
    # a killed process leaves its temp folder and maybe a half-written final folder behind
    manifest, _ = load_or_create_manifest(scan_dataset(tiny_ds), 0.1, 0, cache_dir)
    folder = cache_folder(cache_dir, manifest.split_id, 16, "squash")
    (folder.parent / f"{folder.name}.tmp-999999").mkdir()
    folder.mkdir()
    (folder / "images.u8").write_bytes(b"garbage")
    s = load_splits(tiny_ds, 16, cache_dir=cache_dir)
    assert (folder / "COMPLETE").exists() and not list(decoded.glob("*.tmp-*"))
    _assert_rows_match_direct_decode(s, tiny_ds, 16)


def test_bad_files_are_skipped_listed_and_never_in_the_arrays(tiny_ds, cache_dir):
    planted = plant_bad_files(tiny_ds, ["Amphibia", "Animalia", "Arachnida"])
    # passes the cheap checks (PNG header, IEND marker) but its pixel data is corrupt: found only by decoding
    sneaky = tiny_ds / "train" / "Arachnida" / "sneaky.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(sneaky)
    data = bytearray(sneaky.read_bytes())
    start = data.find(b"IDAT") + 30
    data[start : start + 30] = bytes(b ^ 0x5A for b in data[start : start + 30])
    sneaky.write_bytes(bytes(data))
    s = load_splits(tiny_ds, 16, cache_dir=cache_dir)
    reasons = {f.path.rsplit("/", 1)[-1]: f.reason for f in s.skipped}
    expected_skips = {name for kind, (name, what) in BAD_KINDS.items() if what == "skip"}
    if os.geteuid() == 0:
        expected_skips.discard(BAD_KINDS["unreadable"][0])  # root can read it: it is a good image then
    assert set(reasons) == expected_skips | {"sneaky.png"}
    assert ".DS_Store" not in reasons and reasons["sneaky.png"].startswith("corrupt image data")
    kept = 30 + sum(1 for _, what in BAD_KINDS.values() if what == "convert") + (os.geteuid() == 0)
    assert len(s.y_train) + len(s.y_val) == kept and len(s.x_train) == len(s.y_train)
    files = set(s.test_files)
    assert not any(str(p) in files for p in planted.values())
    _assert_rows_match_direct_decode(s, tiny_ds, 16, picks=(0, 1, -1))
