"""`data fetch` against a real HTTP server on 127.0.0.1: resume, verification, safe unzip, clear errors."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import zipfile
from pathlib import Path

import pytest
from zips import make_zip

from inat_cnn.errors import UserError
from inat_cnn.fetch import fetch_dataset
from inat_cnn.fetch.dataset import MARKER
from inat_cnn.fetch.unzip import Limits

PATH = "/wandb_datasets/nature_12K.zip"


def test_a_cut_transfer_resumes_with_range_is_verified_and_a_second_run_does_nothing(server, dataset_zip,
                                                                                     tmp_path):
    server.state.files[PATH] = dataset_zip
    server.state.cut_after, server.state.cuts_left = len(dataset_zip) // 3, 1
    sha = hashlib.sha256(dataset_zip).hexdigest()
    done = fetch_dataset(server.url(PATH), tmp_path, sha256=sha, progress=False)
    first, second = server.state.requests
    assert "Range" not in first["headers"]
    assert second["headers"]["Range"] == f"bytes={len(dataset_zip) // 3}-" and second["headers"]["If-Range"] == '"v1"'
    assert (tmp_path / "nature_12K.zip").read_bytes() == dataset_zip and done.sha256 == sha
    assert not list(tmp_path.glob("*.part*")) and not list(tmp_path.glob(".inaturalist_12K.partial-*"))
    assert done.data_root == tmp_path / "inaturalist_12K" and done.fresh
    with zipfile.ZipFile(tmp_path / "nature_12K.zip") as zf:
        names = [n.split("/", 1)[1] for n in zf.namelist() if not n.endswith("/")]
    assert sorted(p.relative_to(done.data_root).as_posix() for p in done.data_root.rglob("*.jpg")) == sorted(names)
    assert (done.data_root / "train").is_dir() and (done.data_root / "val").is_dir()
    assert (done.data_root / MARKER).is_file()
    again = fetch_dataset(server.url(PATH), tmp_path, progress=False)
    assert not again.fresh and again.data_root == done.data_root and len(server.state.requests) == 2


def test_cut_every_time_keeps_the_part_file_and_the_next_run_resumes_it(server, dataset_zip, tmp_path, monkeypatch):
    monkeypatch.setattr("inat_cnn.fetch.http.ATTEMPTS", 2)
    server.state.files[PATH] = dataset_zip
    server.state.cut_after, server.state.cuts_left = 1000, 2
    with pytest.raises(UserError, match="cut short 2 times.*run the same command again"):
        fetch_dataset(server.url(PATH), tmp_path, progress=False)
    assert (tmp_path / "nature_12K.zip.part").stat().st_size == 2000 and not (tmp_path / "nature_12K.zip").exists()
    done = fetch_dataset(server.url(PATH), tmp_path, progress=False)
    assert server.state.requests[-1]["headers"]["Range"] == "bytes=2000-"
    assert (tmp_path / "nature_12K.zip").read_bytes() == dataset_zip and (done.data_root / "train").is_dir()


def test_a_file_that_changed_on_the_server_is_fetched_again_from_the_start(server, dataset_zip, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr("inat_cnn.fetch.http.ATTEMPTS", 1)
    old = make_zip([("inaturalist_12K/train/a/old.jpg", os.urandom(4000))])
    server.state.files[PATH], server.state.cut_after, server.state.cuts_left = old, 1500, 1
    with pytest.raises(UserError, match="cut short"):
        fetch_dataset(server.url(PATH), tmp_path, progress=False)
    server.state.files[PATH], server.state.etag = dataset_zip, '"v2"'  # a new version of the archive
    done = fetch_dataset(server.url(PATH), tmp_path, progress=False)
    assert server.state.requests[-1]["headers"]["If-Range"] == '"v1"'  # asked to resume the old version ...
    assert (tmp_path / "nature_12K.zip").read_bytes() == dataset_zip  # ... and got the new one whole
    assert (done.data_root / "train").is_dir() and not list(done.data_root.rglob("old.jpg"))


def test_cli_prints_the_data_path_then_does_nothing_the_second_time(server, dataset_zip, tmp_path, run_cli,
                                                                    monkeypatch):
    server.state.files[PATH] = dataset_zip
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("data", "fetch", "--url", server.url(PATH), "--dest", "data")
    assert code == 0, err
    assert out.strip() == f"use --data {Path('data', 'inaturalist_12K')}" and "sha256" in err
    code, out, err = run_cli("data", "fetch", "--url", server.url(PATH), "--dest", "data")
    assert code == 0 and "already fetched" in err and out.strip().endswith("inaturalist_12K")
    assert len(server.state.requests) == 1
    code, out, err = run_cli("data", "inspect", "data/inaturalist_12K")
    assert code == 0 and "classes=2" in out, err


def test_404_and_connection_refused_are_one_paragraph_exit_2(server, tmp_path, run_cli):
    code, _, err = run_cli("data", "fetch", "--url", server.url("/missing.zip"), "--dest", tmp_path)
    assert code == 2 and "HTTP 404" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = run_cli("data", "fetch", "--url", f"http://127.0.0.1:{port}/x.zip", "--dest", tmp_path)
    assert code == 2 and "connection to 127.0.0.1" in err and "refused" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == []


def test_a_corrupt_or_truncated_archive_is_refused_and_removed(server, dataset_zip, tmp_path):
    server.state.files["/junk.zip"] = os.urandom(5000)
    server.state.files["/half.zip"] = dataset_zip[: len(dataset_zip) // 2]
    for name in ("junk.zip", "half.zip"):
        with pytest.raises(UserError, match="not a readable zip archive.*truncated or corrupt.*was removed"):
            fetch_dataset(server.url(f"/{name}"), tmp_path, progress=False)
    assert os.listdir(tmp_path) == []


def test_a_wrong_sha256_is_refused_and_the_download_removed(server, dataset_zip, tmp_path):
    server.state.files[PATH] = dataset_zip
    with pytest.raises(UserError, match="sha256 is .* where 0{64} was expected"):
        fetch_dataset(server.url(PATH), tmp_path, sha256="0" * 64, progress=False)
    assert os.listdir(tmp_path) == []


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("inaturalist_12K/train/a/link.jpg")
    info.create_system = 3  # unix, so external_attr carries the mode
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("entry, message", [
    ("inaturalist_12K/../../evil.txt", "'..' component"),
    ("/tmp/evil.txt", "an absolute path"),
    ("C:/evil.txt", "a drive letter"),
    ("inaturalist_12K\\..\\..\\evil.txt", "'..' component"),
    (_symlink_entry(), "a symbolic link"),
])
def test_entries_that_would_leave_the_destination_refuse_the_whole_archive(server, tmp_path, entry, message):
    data = make_zip([("inaturalist_12K/train/a/ok.jpg", b"x" * 10), (entry, b"/etc/passwd")])
    server.state.files["/evil.zip"] = data
    dest = tmp_path / "dest"
    with pytest.raises(UserError, match=message):
        fetch_dataset(server.url("/evil.zip"), dest, progress=False)
    assert os.listdir(dest) == [] and not (tmp_path / "evil.txt").exists()
    assert not list(tmp_path.rglob("link.jpg")) and not list(tmp_path.rglob("ok.jpg"))


def test_a_zip_bomb_is_refused_by_ratio_total_and_entry_count(server, tmp_path):
    bomb = make_zip([("inaturalist_12K/train/a/zeros.jpg", bytes(8 << 20))])  # 8 MiB of zeros, ~1000-fold
    assert len(bomb) < 100_000
    server.state.files["/bomb.zip"] = bomb
    with pytest.raises(UserError, match="expands .*-fold.*zip bomb"):
        fetch_dataset(server.url("/bomb.zip"), tmp_path / "a", progress=False)
    many = make_zip([(f"inaturalist_12K/train/a/{i}.jpg", b"") for i in range(30)])
    server.state.files["/many.zip"] = many
    with pytest.raises(UserError, match="30 entries, more than the 20 allowed"):
        fetch_dataset(server.url("/many.zip"), tmp_path / "b", progress=False, limits=Limits(max_entries=20))
    with pytest.raises(UserError, match="would unpack to 8.0 MiB, more than the 1.0 MiB allowed"):
        fetch_dataset(server.url("/bomb.zip"), tmp_path / "c", progress=False, limits=Limits(max_total=1 << 20))
    assert [os.listdir(tmp_path / d) for d in "abc"] == [[], [], []]


def test_a_folder_the_command_did_not_write_is_never_touched(server, dataset_zip, tmp_path):
    server.state.files[PATH] = dataset_zip
    mine = tmp_path / "inaturalist_12K"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists and was not written by `inat-cnn data fetch`"):
        fetch_dataset(server.url(PATH), tmp_path, progress=False)
    assert os.listdir(mine) == ["notes.txt"] and (mine / "notes.txt").read_text() == "mine"
    assert not list(tmp_path.glob(".inaturalist_12K.partial-*"))


def test_a_full_disk_names_the_path_and_the_free_space(server, dataset_zip, tmp_path, run_cli):
    if not os.path.exists("/dev/full"):
        pytest.skip("this system has no /dev/full to give a real ENOSPC")
    server.state.files[PATH] = dataset_zip
    (tmp_path / "nature_12K.zip.part").symlink_to("/dev/full")  # every write there fails with ENOSPC
    code, _, err = run_cli("data", "fetch", "--url", server.url(PATH), "--dest", tmp_path)
    assert code == 2 and "disk is full while writing" in err and "nature_12K.zip.part" in err, err
    assert " free there" in err and "Traceback" not in err
