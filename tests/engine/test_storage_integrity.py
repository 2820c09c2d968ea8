"""A damaged or read-only sweeps.db (real files made by a real `sweep create`): exit 2, the file named in
SQLite's own words, and nothing written into a damaged file."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

SMOKE = Path(__file__).parents[2] / "sweeps" / "smoke.yaml"
PAGE = 4096


def inat(*args):
    return subprocess.run([sys.executable, "-m", "inat_cnn", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _made(ws: Path) -> tuple[Path, str]:
    created = inat("sweep", "create", SMOKE, "--workspace", ws)
    assert created.returncode == 0, created.stderr
    return ws / "sweeps.db", created.stdout.split()[-1]


@pytest.mark.slow
def test_a_damaged_database_is_refused_and_left_untouched(tmp_path):
    db, sweep_id = _made(tmp_path / "ws")
    pages = db.stat().st_size // PAGE
    assert pages > 8
    with open(db, "r+b") as fh:  # overwrite three pages in the middle, as a bad sector or a torn copy would
        fh.seek(pages // 2 * PAGE)
        fh.write(os.urandom(3 * PAGE))
    before = _digest(db)
    for args in (("sweep", "create", SMOKE, "--new"), ("sweep", "status", sweep_id), ("sweep", "list"),
                 ("report", sweep_id)):
        proc = inat(*args, "--workspace", tmp_path / "ws")
        assert proc.returncode == 2, (args, proc.stderr[-2000:])
        assert "database disk image is malformed" in proc.stderr and str(db) in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and "exceeding max length" not in proc.stderr
    assert _digest(db) == before  # never written into


@pytest.mark.slow
def test_a_read_only_database_is_told_as_such(tmp_path):
    db, sweep_id = _made(tmp_path / "ws")
    mount = tmp_path / "ro"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:  # root ignores chmod, so a read-only mount is the real thing
        reason = f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {proc.stderr.strip()}"
        print(reason)
        pytest.skip(reason)
    try:
        (mount / "ws").mkdir()
        ro_db = mount / "ws" / "sweeps.db"
        ro_db.write_bytes(db.read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        for args in (("sweep", "create", SMOKE, "--new"), ("sweep", "status", sweep_id)):
            proc = inat(*args, "--workspace", mount / "ws")
            assert proc.returncode == 2, (args, proc.stderr[-2000:])
            assert "read-only" in proc.stderr and "attempt to write a readonly database" in proc.stderr
            assert str(ro_db) in proc.stderr and "Traceback" not in proc.stderr
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
