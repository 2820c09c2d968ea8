"""The same file twice is the same sweep (`sweep create`, `sweep run`, two at once), and `sweep list`."""

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

SMOKE = Path(__file__).parents[2] / "sweeps" / "smoke.yaml"
TINY = {"model": {"value": "scratch"}, "image_size": {"value": 16}, "conv_blocks": {"value": 2},
        "filters": {"value": 4}, "dense_units": {"value": 8}, "epochs": {"value": 1}, "viz": {"value": False}}


def inat(*args, env=None):
    return subprocess.run([sys.executable, "-m", "inat_cnn", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def _studies(ws: Path) -> list[str]:
    return sorted(s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{ws / 'sweeps.db'}"))


def test_create_twice_is_one_sweep_unless_new_and_list_shows_them(tmp_path, run_cli):
    ws = tmp_path / "ws"
    code, out, _ = run_cli("sweep", "create", SMOKE, "--workspace", ws)
    assert code == 0
    sweep_id = out.split()[-1]
    code, out, err = run_cli("sweep", "create", SMOKE, "--workspace", ws)
    assert code == 0 and out.split()[-1] == sweep_id
    assert f"sweep {sweep_id} was already made from this file" in err and "--new" in err
    # a copy with other comments and key order is the same spec
    copy = tmp_path / "copy.yaml"
    copy.write_text("# my copy\n" + yaml.safe_dump(yaml.safe_load(SMOKE.read_text()), sort_keys=True))
    assert run_cli("sweep", "create", copy, "--workspace", ws)[1].split()[-1] == sweep_id
    code, out, _ = run_cli("sweep", "create", SMOKE, "--workspace", ws, "--new")
    fresh = out.split()[-1]
    assert code == 0 and fresh != sweep_id
    assert _studies(ws) == sorted([sweep_id, fresh])

    code, out, err = run_cli("sweep", "list", "--workspace", ws)
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("smoke-")]
    assert len(rows) == 2 and all(" smoke " in r and "not stated yet" in r for r in rows)
    digest = sweep_id.rsplit("-", 1)[1]
    assert all(digest in r.split()[2] for r in rows)  # both come from the same spec


@pytest.mark.slow
def test_two_creates_at_once_make_one_sweep(tmp_path):
    ws = tmp_path / "ws"
    procs = [subprocess.Popen([sys.executable, "-m", "inat_cnn", "sweep", "create", str(SMOKE), "--workspace",
                               str(ws)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert len({out.split()[-1] for out, _ in outs}) == 1
    assert len(_studies(ws)) == 1


@pytest.mark.slow
def test_sweep_run_twice_continues_the_sweep(tmp_path, tiny_data):
    ws = tmp_path / "ws"
    spec = tmp_path / "grid.yaml"
    spec.write_text(yaml.safe_dump({"name": "twice", "method": "grid",
                                    "metric": {"name": "val_accuracy", "goal": "maximize"},
                                    "parameters": {**TINY, "dropout": {"values": [0.1, 0.2]}}}))
    env = {"INAT_CNN_FAKE_TRIAL_S": "0.1"}
    first = inat("sweep", "run", spec, "--data", tiny_data, "--workspace", ws, "--offline", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    second = inat("sweep", "run", spec, "--data", tiny_data, "--workspace", ws, "--offline", env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    (sweep_id,) = _studies(ws)
    assert f"sweep {sweep_id} was already made from this file" in second.stderr
    assert "2 trial(s) finished" in second.stderr
    trials = optuna.load_study(study_name=sweep_id, storage=f"sqlite:///{ws / 'sweeps.db'}").get_trials()
    assert sorted(t.params["dropout"] for t in trials if t.state.is_finished()
                  and t.state == optuna.trial.TrialState.COMPLETE) == [0.1, 0.2]  # not trained twice
