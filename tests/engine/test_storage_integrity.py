"""A damaged or read-only sweeps.db (real files made by a real `sweep create`): exit 2, the file named in
SQLite's own words, and nothing written into a damaged file."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

SMOKE = Path(__file__).parents[2] / "sweeps" / "smoke.yaml"
PAGE = 4096


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _made(ws: Path, run_cli) -> tuple[Path, str]:
    code, out, err = run_cli("sweep", "create", SMOKE, "--workspace", ws)
    assert code == 0, err
    return ws / "sweeps.db", out.split()[-1]


def test_a_damaged_database_is_refused_and_left_untouched(tmp_path, run_cli):
    db, sweep_id = _made(tmp_path / "ws", run_cli)
    pages = db.stat().st_size // PAGE
    assert pages > 8
    with open(db, "r+b") as fh:  # overwrite three pages in the middle, as a bad sector or a torn copy would
        fh.seek(pages // 2 * PAGE)
        fh.write(os.urandom(3 * PAGE))
    before = _digest(db)
    for args in (("sweep", "create", SMOKE, "--new"), ("sweep", "status", sweep_id), ("sweep", "list"),
                 ("report", sweep_id)):
        code, _, err = run_cli(*args, "--workspace", tmp_path / "ws")
        assert code == 2, (args, err[-2000:])
        assert "database disk image is malformed" in err and str(db) in err, err
        assert "Traceback" not in err and "exceeding max length" not in err
    assert _digest(db) == before  # never written into


@pytest.mark.slow  # mounts a tmpfs
def test_a_read_only_database_is_told_as_such(tmp_path, run_cli):
    db, sweep_id = _made(tmp_path / "ws", run_cli)
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
            code, _, err = run_cli(*args, "--workspace", mount / "ws")
            assert code == 2, (args, err[-2000:])
            assert "read-only" in err and "attempt to write a readonly database" in err
            assert str(ro_db) in err and "Traceback" not in err
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
