"""A real full disk and a real read-only one under the workspace (a small tmpfs this test mounts).

Full: a trial whose model.keras does not fit is an environment fault (the point is re-queued, the agent
stops with the path and the free space), no truncated model is left, and `report` / `export best` refuse
with exit 2. Read-only: `data prepare`, `train` and `sweep create` say so with exit 2.
"""

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from inat_cnn.data import synthesize

SMOKE = Path(__file__).parents[1] / "sweeps" / "smoke.yaml"

SPEC = {"name": "disk", "method": "grid", "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {"model": {"value": "scratch"}, "image_size": {"value": 16}, "conv_blocks": {"value": 1},
                       "filters": {"value": 32}, "dense_units": {"value": 256}, "epochs": {"value": 1},
                       "viz": {"value": False}, "batch_size": {"value": 16}, "dropout": {"values": [0.1, 0.2]}}}


def inat(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "inat_cnn", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "INAT_CNN_STORAGE_RETRY_S": "5"})


@pytest.fixture
def here(run_cli, monkeypatch):
    """The commands whose process is not the point, in this one (the same storage retry budget)."""
    monkeypatch.setenv("INAT_CNN_STORAGE_RETRY_S", "5")
    return run_cli


@pytest.fixture
def tmpfs(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        reason = f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {proc.stderr.strip()}"
        print(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path, leave: int) -> None:
    """Leave ``leave`` bytes free on the tmpfs (one filler file)."""
    free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
    with open(mount / "filler.bin", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))


def _no_debris(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if ".partial" in p.name)


@pytest.mark.slow
def test_full_disk_requeues_the_point_and_commands_refuse(tmp_path, tmpfs, here):
    data = synthesize(tmp_path / "data", classes=3, per_class=20, test_per_class=4, seed=1, min_side=24,
                      max_side=40)
    ws = tmpfs / "ws"
    spec = tmp_path / "disk.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    code, out, err = here("sweep", "create", spec, "--workspace", ws, "--data", data)
    assert code == 0, err
    sweep_id = out.split()[-1]
    first = inat("agent", sweep_id, "--data", data, "--workspace", ws, "--count", "1", "--offline")
    assert first.returncode == 0, first.stderr[-3000:]
    model = next(ws.rglob("model.keras"))
    assert model.stat().st_size > 1_000_000  # the next one cannot fit in what _fill leaves

    _fill(tmpfs, leave=400_000)
    second = inat("agent", sweep_id, "--data", data, "--workspace", ws, "--count", "1", "--offline")
    assert second.returncode == 1, second.stderr[-3000:]
    assert "no space left on its disk" in second.stderr and "model.keras" in second.stderr
    assert "free of" in second.stderr and "queued again" in second.stderr
    assert "Traceback" not in second.stderr and "failed: failed" not in second.stderr
    study = optuna.load_study(study_name=sweep_id, storage=f"sqlite:///{ws / 'sweeps.db'}")
    trials = study.get_trials(deepcopy=False)
    faulted = [t for t in trials if t.user_attrs.get("env_fault") == "disk"]
    assert len(faulted) == 1 and faulted[0].state == optuna.trial.TrialState.FAIL
    waiting = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].params == faulted[0].params  # the point is queued again
    trial_dir = Path(faulted[0].user_attrs["trial_dir"])
    assert not (trial_dir / "model.keras").exists()  # no truncated model
    assert _no_debris(ws) == []

    code, _, err = here("report", sweep_id, "--workspace", ws, "--out", tmpfs / "report.html")
    assert code == 2, err[-3000:]
    assert "no space left" in err and "Traceback" not in err
    assert not (tmpfs / "report.html").exists()
    code, _, err = here("export", "best", sweep_id, "--workspace", ws, "--out", tmpfs / "best")
    assert code == 2, err[-3000:]
    assert "no space left" in err and "Traceback" not in err
    assert not (tmpfs / "best").exists() and not list(tmpfs.glob(".best.*")) and _no_debris(tmpfs) == []


@pytest.mark.slow  # mounts a tmpfs
def test_a_full_disk_under_the_sweeps_database(tmp_path, tmpfs, here):
    ws = tmpfs / "ws"
    assert here("sweep", "create", SMOKE, "--workspace", ws)[0] == 0
    _fill(tmpfs, leave=0)
    other = tmp_path / "other.yaml"
    other.write_text(SMOKE.read_text().replace("name: smoke", "name: other"))
    code, _, err = here("sweep", "create", other, "--workspace", ws)
    assert code == 2, err[-3000:]
    assert f"cannot write the sweeps database {ws / 'sweeps.db'}" in err
    assert "database or disk is full" in err and "free of" in err and "Traceback" not in err
    (tmpfs / "filler.bin").unlink()
    assert here("sweep", "list", "--workspace", ws)[0] == 0  # still whole: quick_check passes


@pytest.mark.slow
def test_read_only_workspace_is_told_as_such(tmp_path, tmpfs, here):
    data = synthesize(tmp_path / "data", classes=3, per_class=8, test_per_class=2, seed=2, min_side=24,
                      max_side=40)
    ws = tmpfs / "ws"
    spec = tmp_path / "disk.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    assert inat("sweep", "create", spec, "--workspace", ws).returncode == 0  # a process: no file left open
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    prepare = here("data", "prepare", data, "--image-size", "16", "--cache-dir", ws / "cache")
    train = inat("train", "--data", data, "--workspace", ws, "--set", "epochs=1", "--set", "image_size=16")
    create = here("sweep", "create", spec, "--workspace", ws, "--new")
    for code, err in ((prepare[0], prepare[2]), (train.returncode, train.stderr), (create[0], create[2])):
        assert code == 2, err[-3000:]
        assert "read-only" in err and "Traceback" not in err
    assert str(ws) in prepare[2] and str(ws / "sweeps.db") in create[2]
