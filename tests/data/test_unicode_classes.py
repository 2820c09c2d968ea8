"""Class folders whose names differ only by Unicode normalisation are one class (real NFC and NFD folders)."""

import unicodedata
from pathlib import Path

from PIL import Image

from inat_cnn.data.scan import scan_dataset

HERON = "Ardéidae"  # é: one code point in NFC, e + U+0301 in NFD
NFC, NFD = unicodedata.normalize("NFC", HERON), unicodedata.normalize("NFD", HERON)


def _images(folder: Path, n: int, shade: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (12, 12), (shade, i * 20, 0)).save(folder / f"{i}.png")


def test_nfc_train_and_nfd_val_folders_are_the_same_class(tmp_path):
    assert NFC != NFD and len(NFD) == len(NFC) + 1
    _images(tmp_path / "train" / NFC, 3, 10)
    _images(tmp_path / "train" / "Aves", 3, 200)
    _images(tmp_path / "val" / NFD, 2, 10)
    _images(tmp_path / "val" / "Aves", 2, 200)
    assert {p.name for p in (tmp_path / "val").iterdir()} == {NFD, "Aves"}  # the file system kept NFD

    scanned = scan_dataset(tmp_path)

    assert scanned.class_names == [NFC, "Aves"]
    heron = scanned.class_names.index(NFC)
    test_herons = [rel for rel, label in scanned.test if label == heron]
    assert len(test_herons) == 2 and all(rel.startswith(f"val/{NFD}/") for rel in test_herons)
    assert all((tmp_path / rel).is_file() for rel, _ in scanned.pool + scanned.test)  # real paths, readable


def test_both_forms_inside_train_are_one_class(tmp_path):
    _images(tmp_path / "train" / NFC, 2, 10)
    _images(tmp_path / "train" / NFD, 2, 30)
    _images(tmp_path / "train" / "Aves", 2, 200)
    _images(tmp_path / "val" / NFC, 1, 10)
    _images(tmp_path / "val" / "Aves", 1, 200)

    scanned = scan_dataset(tmp_path)

    assert scanned.class_names == [NFC, "Aves"]
    heron = scanned.class_names.index(NFC)
    assert sorted(rel.split("/")[1] for rel, label in scanned.pool if label == heron) == sorted([NFC, NFC, NFD, NFD])
