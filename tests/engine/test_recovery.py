"""Lost trials come back exactly once: environment faults, dead agents, racing agents (real processes, SIGKILL)."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from optuna.trial import TrialState
from test_agent_processes import _trials, _wait_for  # the engine tests' own helpers

from inat_cnn.engine.agent import run_agent
from inat_cnn.engine.launcher import agent_command
from inat_cnn.errors import EnvironmentFault
from inat_cnn.workspace import Workspace

FAKE = "INAT_CNN_FAKE_TRIAL_S"


def _agent(ws, sweep, data, fake_s, *extra):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", FAKE: str(fake_s)}
    return subprocess.Popen(agent_command(sweep, data, ws, list(extra)), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _kill_while_running(ws, sweep, procs):
    """SIGKILL agents once each holds a RUNNING trial; reap them (a zombie's PID still answers)."""
    assert _wait_for(lambda: sum(t.state == TrialState.RUNNING and bool(t.params)
                                 for t in _trials(ws, sweep)) >= len(procs)), \
        [p.communicate()[0][-2000:] for p in procs]
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)


@pytest.mark.slow
def test_environment_fault_requeues_the_point_and_stops_the_agent(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    data = shutil.copytree(tiny_data, tmp_path / "data")
    sweep = make_sweep(ws, parameters={"dropout": {"values": [0.1, 0.2]}})

    def log(message):  # between the agent's start and its first trial, train/ vanishes (a half-unmounted share)
        if "adopting" in message:
            shutil.rmtree(data / "train")

    with pytest.raises(EnvironmentFault, match="dataset") as stopped:
        run_agent(sweep, data, workspace=ws, log=log)
    assert "trial 0 was not counted and its point is queued again" in str(stopped.value)
    failed, copy = _trials(ws, sweep)
    assert failed.state == TrialState.FAIL and failed.user_attrs["env_fault"] == "data"
    assert copy.state == TrialState.WAITING and copy.params == failed.params
    assert copy.system_attrs["failed_trial"] == 0


@pytest.mark.slow
def test_agent_stops_with_exit_1_when_the_dataset_vanishes_mid_sweep(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    data = shutil.copytree(tiny_data, tmp_path / "data")
    sweep = make_sweep(ws, parameters={"dropout": {"values": [0.1, 0.2, 0.3]}})
    proc = _agent(ws, sweep, data, 3)
    assert _wait_for(lambda: any(t.state == TrialState.RUNNING for t in _trials(ws, sweep)))
    data.rename(tmp_path / "unmounted")  # checked before the next claim: no trial fails for it
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "is missing or empty" in out and "Traceback" not in out, out[-2000:]
    assert [t.state for t in _trials(ws, sweep)] == [TrialState.COMPLETE]


@pytest.mark.slow
def test_last_agent_waits_for_a_dead_agents_trial_and_finishes_the_grid(tmp_path, tiny_data, make_sweep,
                                                                        monkeypatch):
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, parameters={"dropout": {"values": [0.1]}})  # one point, which the dead agent holds
    dead = _agent(ws, sweep, tiny_data, 60, "--heartbeat", "1", "--grace", "10")
    _kill_while_running(ws, sweep, [dead])
    monkeypatch.setenv(FAKE, "0.2")
    messages = []
    report = run_agent(sweep, tiny_data, workspace=ws, heartbeat_s=1, grace_s=10, log=messages.append)
    lost, copy = _trials(ws, sweep)
    assert any("waiting up to" in m for m in messages), messages  # it did not leave: the grid was not done
    assert lost.state == TrialState.FAIL and copy.state == TrialState.COMPLETE and report.finished == [copy.number]
    assert copy.params == lost.params and "every grid point" in report.stop_reason


@pytest.mark.slow
def test_racing_agents_requeue_each_dead_agents_trial_exactly_once(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, parameters={"dropout": {"values": [0.1, 0.2, 0.3, 0.4]}})
    dead = [_agent(ws, sweep, tiny_data, 60, "--heartbeat", "1", "--grace", "2") for _ in range(4)]
    _kill_while_running(ws, sweep, dead)
    # eight processes settle the same four stale trials at the same instant, the way agents do before
    # every claim: Optuna's own stale check (inside study.optimize) and the engine's settle
    racer = textwrap.dedent(f"""
        import sys, time, warnings
        import optuna
        from inat_cnn.engine import recovery
        from inat_cnn.engine.storage import load_study, open_storage
        study, _ = load_study({sweep!r}, open_storage({ws.db_url!r}, heartbeat_s=1, grace_s=2))
        while time.time() < float(sys.argv[1]):
            pass
        warnings.simplefilter("ignore")
        for _ in range(3):
            optuna.storages.fail_stale_trials(study)
            recovery.settle(study, 2)
    """)
    start_at = str(time.time() + 8)
    racers = [subprocess.Popen([sys.executable, "-c", racer, start_at], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for _ in range(8)]
    outs = [r.communicate(timeout=120)[0] for r in racers]
    assert all(r.returncode == 0 for r in racers), outs
    trials = _trials(ws, sweep)
    lost = [t for t in trials if t.state == TrialState.FAIL]
    copies = [t for t in trials if t.state == TrialState.WAITING]
    assert len(lost) == 4 and len(copies) == 4, [(t.number, t.state, t.system_attrs) for t in trials]
    assert sorted(t.system_attrs["failed_trial"] for t in copies) == sorted(t.number for t in lost)
