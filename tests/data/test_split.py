"""Scanning layouts, the class-balanced split, its determinism and its manifest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from inat_cnn.data import load_splits
from inat_cnn.data.manifest import SplitManifest, build_manifest, load_or_create_manifest
from inat_cnn.data.scan import scan_dataset
from inat_cnn.data.split import balanced_holdout
from inat_cnn.errors import UserError


def _items(counts):
    return [(f"c{c}/img{i:03d}.jpg", c) for c, n in enumerate(counts) for i in range(n)]


def test_holdout_is_class_balanced_even_for_imbalanced_classes():
    kept, held = balanced_holdout(_items([10, 20, 30]), 0.1, seed=0)
    assert Counter(lab for _, lab in held) == {0: 2, 1: 2, 2: 2}
    assert not {p for p, _ in kept} & {p for p, _ in held}
    assert sorted(kept + held) == sorted(_items([10, 20, 30]))


def test_holdout_is_deterministic_and_depends_on_the_seed():
    items = _items([15, 15, 15])
    assert balanced_holdout(items, 0.2, 7) == balanced_holdout(list(reversed(items)), 0.2, 7)
    assert balanced_holdout(items, 0.2, 7) != balanced_holdout(items, 0.2, 8)


def test_holdout_leaves_every_class_one_kept_item():
    kept, held = balanced_holdout(_items([2, 40]), 0.5, 0)
    assert Counter(lab for _, lab in kept)[0] == 1 and Counter(lab for _, lab in held)[0] == 1


@pytest.mark.slow
def test_split_is_identical_in_another_process(tiny_ds, cache_dir):
    manifest, path = load_or_create_manifest(scan_dataset(tiny_ds), 0.2, 5, cache_dir)
    code = ("import json,sys; from inat_cnn.data.scan import scan_dataset; "
            "from inat_cnn.data.manifest import build_manifest; "
            "print(json.dumps(build_manifest(scan_dataset(sys.argv[1]), 0.2, 5).to_json()))")  # fmt: skip
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code, str(tiny_ds)], env=env, capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == json.loads(path.read_text()) == json.loads(json.dumps(manifest.to_json()))


def test_manifest_round_trips_and_is_reused(tiny_ds, cache_dir):
    first, path = load_or_create_manifest(scan_dataset(tiny_ds), 0.1, 0, cache_dir)
    again, path2 = load_or_create_manifest(scan_dataset(tiny_ds), 0.1, 0, cache_dir)
    assert path == path2 and again == first == SplitManifest.from_json(first.to_json())
    assert set(json.loads(path.read_text())) >= {"train", "val", "test", "fingerprint", "split_id", "skipped"}


def test_no_image_in_two_splits_and_test_is_the_val_folder(tiny_ds, cache_dir):
    m, _ = load_or_create_manifest(scan_dataset(tiny_ds), 0.2, 0, cache_dir)
    parts = [{p for p, _ in entries} for entries in (m.train, m.val, m.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert all(p.startswith("val/") for p in parts[2]) and all(p.startswith("train/") for p in parts[0] | parts[1])
    assert Counter(lab for _, lab in m.val) == {0: 2, 1: 2, 2: 2}


def test_flat_layout_carves_test_and_val(tiny_ds, tmp_path, cache_dir):
    flat = shutil.copytree(tiny_ds / "train", tmp_path / "flat")
    m = build_manifest(scan_dataset(flat), 0.2, 0)
    assert m.layout == "flat" and m.class_names == ["Amphibia", "Animalia", "Arachnida"]
    assert Counter(lab for _, lab in m.test) == Counter(lab for _, lab in m.val) == {0: 2, 1: 2, 2: 2}
    assert len({p for p, _ in m.train + m.val + m.test}) == 30


def test_fingerprint_follows_content_not_location(tiny_ds, tmp_path):
    before = scan_dataset(tiny_ds).fingerprint
    moved = shutil.copytree(tiny_ds, tmp_path / "elsewhere")
    assert scan_dataset(moved).fingerprint == before
    victim = sorted((moved / "train" / "Animalia").glob("*.jpg"))[0]
    shutil.copyfile(sorted((moved / "train" / "Amphibia").glob("*.jpg"))[0], victim)
    assert scan_dataset(moved).fingerprint != before


def test_hidden_files_are_ignored(tiny_ds):
    (tiny_ds / "train" / "Amphibia" / ".DS_Store").write_bytes(b"junk")
    (tiny_ds / "train" / ".hidden_class").mkdir()
    (tiny_ds / "train" / ".hidden_class" / "x.jpg").write_bytes(b"junk")
    scanned = scan_dataset(tiny_ds)
    assert scanned.class_names == ["Amphibia", "Animalia", "Arachnida"] and not scanned.skipped
    assert all(".DS_Store" not in p for p, _ in scanned.pool)


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda ds: shutil.rmtree(ds), "does not exist"),
        (lambda ds: shutil.rmtree(ds / "val"), "has train/ but not the other one"),
        (lambda ds: [shutil.rmtree(ds / d) for d in ("train", "val")], "no class folders"),
        (lambda ds: (ds / "val" / "Zebra").mkdir(), "val/ has class folders that train/ lacks: Zebra"),
        (lambda ds: [f.unlink() for f in (ds / "train").rglob("*.jpg")], "no files"),
        (lambda ds: [f.write_text("x") for f in (ds / "train").rglob("*.jpg")], "no usable images"),
        (lambda ds: [f.unlink() for f in sorted((ds / "train" / "Animalia").glob("*.jpg"))[1:]],
         r"at least 2 usable images.*Animalia \(1\)"),
    ],
)
def test_bad_roots_are_user_errors(tiny_ds, cache_dir, breakage, message):
    breakage(tiny_ds)
    with pytest.raises(UserError, match=message):
        load_splits(tiny_ds, 16, cache_dir=cache_dir)


def test_bad_arguments_are_user_errors(tiny_ds, cache_dir):
    with pytest.raises(UserError, match="val_fraction"):
        load_splits(tiny_ds, 16, val_fraction=1.0, cache_dir=cache_dir)
    with pytest.raises(UserError, match="image_size"):
        load_splits(tiny_ds, 0, cache_dir=cache_dir)
    with pytest.raises(UserError, match="squash, center_crop"):
        load_splits(tiny_ds, 16, resize="crop", cache_dir=cache_dir)
