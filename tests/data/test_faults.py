"""Faults from the world around the data layer: symlinks, one class, broken caches, vanished data, killed parents."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from inat_cnn.cli import main
from inat_cnn.data import decode_image, load_splits
from inat_cnn.data.cache import cache_folder, load_or_build_cache, open_cache
from inat_cnn.data.manifest import load_or_create_manifest
from inat_cnn.data.scan import scan_dataset
from inat_cnn.errors import EnvironmentFault, UserError


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_symlinks_never_leave_the_root_nor_loop(tiny_ds, tmp_path, capsys):
    """`train/Amphibia/loop -> ..` once turned 10 Amphibia images into hundreds, labelled with other classes."""
    amphibia = tiny_ds / "train" / "Amphibia"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "stray.jpg").write_bytes(next(amphibia.glob("*.jpg")).read_bytes())
    (tiny_ds / "extra").mkdir()
    kept_target = tiny_ds / "extra" / "kept.jpg"
    kept_target.write_bytes(next((tiny_ds / "train" / "Animalia").glob("*.jpg")).read_bytes())
    (amphibia / "loop").symlink_to("..")
    (amphibia / "stray.jpg").symlink_to(outside / "stray.jpg")
    (tiny_ds / "train" / "Outside").symlink_to(outside)
    (amphibia / "kept.jpg").symlink_to(Path("..", "..", "extra", "kept.jpg"))
    (amphibia / "twice.jpg").symlink_to(next((tiny_ds / "train" / "Arachnida").glob("*.jpg")))

    scanned = scan_dataset(tiny_ds)
    assert scanned.class_names == ["Amphibia", "Animalia", "Arachnida"]
    labels = dict(scanned.pool)
    assert len(scanned.pool) == 31 and sum(1 for v in labels.values() if v == 0) == 11
    assert labels["train/Amphibia/kept.jpg"] == 0
    reasons = {f.path: f.reason for f in scanned.skipped}
    assert set(reasons) == {"train/Amphibia/loop", "train/Amphibia/stray.jpg", "train/Outside",
                            "train/Amphibia/twice.jpg"}
    assert "points to a folder" in reasons["train/Amphibia/loop"]
    assert "outside the dataset root" in reasons["train/Amphibia/stray.jpg"]
    assert "outside the dataset root" in reasons["train/Outside"]
    assert "already has" in reasons["train/Amphibia/twice.jpg"]

    code, out, _ = _run(["data", "inspect", str(tiny_ds), "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code in (0, None)
    assert "warning: 4 symbolic link(s) not followed" in out
    assert "train/Amphibia/loop: symlink not followed" in out and "train/Outside: symlink not followed" in out


def test_a_link_loop_in_a_file_chain_is_skipped(tiny_ds):
    amphibia = tiny_ds / "train" / "Amphibia"
    (amphibia / "a.jpg").symlink_to("b.jpg")
    (amphibia / "b.jpg").symlink_to("a.jpg")
    reasons = {f.path: f.reason for f in scan_dataset(tiny_ds).skipped}
    assert reasons["train/Amphibia/a.jpg"].endswith("loops back on itself")
    assert reasons["train/Amphibia/b.jpg"].endswith("loops back on itself")


@pytest.mark.parametrize("layout", ["inat", "flat"])
def test_fewer_than_two_classes_is_a_user_error(tiny_ds, tmp_path, capsys, layout):
    """A single-class dataset used to train and report val_accuracy 1.0."""
    import shutil

    if layout == "inat":
        root, folder = tiny_ds, tiny_ds / "train"
        for name in ("Animalia", "Arachnida"):
            shutil.rmtree(tiny_ds / "train" / name)
            shutil.rmtree(tiny_ds / "val" / name)
    else:
        root = folder = tmp_path / "flat"
        shutil.copytree(tiny_ds / "train" / "Amphibia", root / "Amphibia")
    with pytest.raises(UserError, match="at least two class folders, found 1 \\(Amphibia\\)") as err:
        scan_dataset(root)
    assert str(folder) in str(err.value)
    code, _, err_text = _run(["data", "prepare", str(root), "--image-size", "16",
                              "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 2 and "found 1 (Amphibia)" in err_text and "Traceback" not in err_text


def _cache_of(splits, size=16):
    return cache_folder(splits.manifest_path.parent.parent, splits.split_id, size, "squash")


def test_truncated_cache_is_refused_before_mapping_and_rebuilt_aside(tiny_ds, cache_dir, capfd):
    first = load_splits(tiny_ds, 16, cache_dir=cache_dir)
    folder = _cache_of(first)
    expected = (np.array(first.x_train), np.array(first.x_test))
    del first
    images = folder / "images.u8"
    full_size = images.stat().st_size
    os.truncate(images, full_size // 3)  # what a full disk or an interrupted copy leaves; COMPLETE is still there
    assert (folder / "COMPLETE").is_file()
    with pytest.raises(EnvironmentFault) as fault:
        open_cache(folder)
    assert fault.value.what == "cache" and str(images) in str(fault.value) and "truncated" in str(fault.value)
    capfd.readouterr()

    again = load_splits(tiny_ds, 16, cache_dir=cache_dir)
    err = capfd.readouterr().err
    assert "decode cache broken" in err and "decoding 39 images" in err
    assert np.array_equal(again.x_train, expected[0]) and np.array_equal(again.x_test, expected[1])
    [aside] = folder.parent.glob(f"{folder.name}.broken-*")
    assert (aside / "images.u8").stat().st_size == full_size // 3, "the broken cache is kept for a look"


def test_overwritten_cache_content_is_found_by_its_fingerprint(tiny_ds, cache_dir):
    folder = _cache_of(load_splits(tiny_ds, 16, cache_dir=cache_dir))
    images = folder / "images.u8"
    with open(images, "r+b") as fh:  # same size, other bytes in the middle
        fh.seek(images.stat().st_size // 2)
        fh.write(b"\xff" * 64)
    with pytest.raises(EnvironmentFault, match="does not match the fingerprint recorded at build"):
        open_cache(folder)
    again = load_splits(tiny_ds, 16, cache_dir=cache_dir)
    files = open_cache(folder).part("train")[2]
    assert np.array_equal(again.x_train[5], decode_image(tiny_ds / files[5], 16))


def test_missing_or_changed_sweep_dataset_is_an_environment_fault(tiny_ds, cache_dir, tmp_path):
    known = load_splits(tiny_ds, 16, cache_dir=cache_dir).fingerprint
    same = load_splits(tiny_ds, 16, cache_dir=cache_dir, expect_fingerprint=known)
    assert same.fingerprint == known
    new = tiny_ds / "train" / "Amphibia" / "new.jpg"
    new.write_bytes(next((tiny_ds / "train" / "Animalia").glob("*.jpg")).read_bytes())
    with pytest.raises(EnvironmentFault) as changed:
        load_splits(tiny_ds, 16, cache_dir=cache_dir, expect_fingerprint=known)
    assert changed.value.what == "data" and "changed since the sweep's split manifest" in str(changed.value)
    assert "files added: 1 (e.g. train/Amphibia/new.jpg)" in str(changed.value)
    moved = tmp_path / "unmounted"
    tiny_ds.rename(moved)
    with pytest.raises(EnvironmentFault, match="is missing") as missing:
        load_splits(tiny_ds, 16, cache_dir=cache_dir, expect_fingerprint=known)
    assert missing.value.what == "data"
    with pytest.raises(UserError, match="does not exist"):  # no sweep behind it: the user's own bad path
        load_splits(tiny_ds, 16, cache_dir=cache_dir)


def test_files_vanishing_while_decoding_are_a_data_fault_not_bad_images(tiny_ds, cache_dir):
    scanned = scan_dataset(tiny_ds)
    manifest, _ = load_or_create_manifest(scanned, 0.1, 0, cache_dir)
    for path in list((tiny_ds / "val").rglob("*.jpg"))[:4]:
        path.unlink()
    from rich.console import Console

    with pytest.raises(EnvironmentFault, match="4 of its files disappeared while decoding") as fault:
        load_or_build_cache(manifest, scanned.root, 16, "squash", cache_dir, Console(quiet=True))
    assert fault.value.what == "data"
    folder = cache_folder(cache_dir, manifest.split_id, 16, "squash")
    assert not folder.exists() and not list(folder.parent.glob("*.tmp-*")), "nothing that looks like a cache"


_KILLED_BUILD = """
import sys
from inat_cnn.data import cache, load_splits

pool_context = cache._pool_context

def slow_pool_context():  # the workers are forked by a fork server: patch them there
    ctx = pool_context()
    ctx.set_forkserver_preload([cache.__name__, "slow_decoding"])
    return ctx

cache._SERIAL_BELOW = 0  # use the process pool even for this tiny dataset
cache._pool_context = slow_pool_context
load_splits(sys.argv[1], 16, cache_dir=sys.argv[2])
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent's reaping is left


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
def test_decode_workers_die_with_a_sigkilled_parent(tiny_ds, cache_dir):
    """Workers used to outlive a SIGKILLed agent for minutes, holding its files open."""
    decoding = tiny_ds.parent / "decoding"  # one file per worker that started decoding, named by its pid
    decoding.mkdir()
    env = {**os.environ, "INAT_CNN_DECODE_WORKERS": "2", "SLOW_DECODING_DIR": str(decoding),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_BUILD, str(tiny_ds), str(cache_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 180  # polled: only a stuck build waits this long
        while len(workers := [int(p.name) for p in decoding.iterdir()]) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the build never had 2 workers decoding"
            time.sleep(0.05)
        assert proc.pid not in workers  # they are pool workers, not the build itself
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [w for w in workers if _alive(w)]
        assert not survivors, f"decode workers {survivors} outlived their SIGKILLed parent"
    finally:
        for pid in [proc.pid, *workers]:  # never leave a process behind, whatever happened
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_synth_replaces_only_an_untouched_synthetic_dataset(tmp_path, monkeypatch, capsys):
    """`data synth` used to rmtree any folder holding its marker, with whatever the user had added."""
    out = tmp_path / "syn"
    argv = ["data", "synth", str(out), "--classes", "2", "--per-class", "2", "--test-per-class", "1",
            "--min-side", "16", "--max-side", "16"]
    assert _run(argv, capsys)[0] in (0, None)
    first = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert _run(argv + ["--seed", "1"], capsys)[0] in (0, None)  # an untouched earlier dataset is replaced
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == first
    (out / "train" / "Amphibia" / "my_photo.jpg").write_bytes(b"mine")
    code, _, err = _run(argv, capsys)
    assert code == 2 and "train/Amphibia/my_photo.jpg" in err and "refusing to replace" in err
    assert (out / "train" / "Amphibia" / "my_photo.jpg").read_bytes() == b"mine"
    monkeypatch.chdir(out)
    code, _, err = _run(["data", "synth", str(out), "--classes", "2", "--per-class", "2"], capsys)
    assert code == 2 and "it is the current folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"], "no temporary folder is left behind"
