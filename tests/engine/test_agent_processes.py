"""Real agent processes sharing one SQLite storage: grid coverage, run_cap, SIGTERM, SIGKILL."""

import os
import signal
import subprocess
import time

import optuna
import pytest
from optuna.trial import TrialState

from inat_cnn.engine.agent import run_agent
from inat_cnn.engine.launcher import agent_command, run_agents
from inat_cnn.workspace import Workspace


def _trials(ws, sweep):
    return sorted(optuna.load_study(study_name=sweep, storage=ws.db_url).get_trials(deepcopy=False),
                  key=lambda t: t.number)


def _wait_for(predicate, timeout=120, every=0.3):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(every)
    return False


@pytest.mark.slow
def test_four_agents_train_every_grid_point_exactly_once(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, parameters={"filters": {"values": [2, 4, 6]}, "dense_units": {"values": [4, 8]}})
    codes = run_agents(sweep, tiny_data, ws, agents=4, storage_url=None, tick_s=0.5)
    assert codes == [0, 0, 0, 0], [p.read_text()[-2000:] for p in (ws.runs / sweep / "agents").iterdir()]
    done = [t for t in _trials(ws, sweep) if t.state == TrialState.COMPLETE]
    points = sorted((t.params["filters"], t.params["dense_units"]) for t in done)
    assert points == sorted((f, d) for f in (2, 4, 6) for d in (4, 8))
    for t in done:
        assert (ws.runs / sweep / f"trial-{t.number:04d}" / "metrics.json").is_file()


@pytest.mark.slow
def test_run_cap_holds_across_agents(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, method="random", run_cap=3, parameters={"dropout": {"min": 0.0, "max": 0.5}})
    codes = run_agents(sweep, tiny_data, ws, agents=2, storage_url=None, tick_s=0.5)
    assert codes == [0, 0]
    trials = [t for t in _trials(ws, sweep) if not t.user_attrs.get("discarded")]
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)


def _shorten_to_one_epoch(ws, sweep):
    """Fixed values live in the sweep spec, not in a trial's params: the re-run may be shorter."""
    study = optuna.load_study(study_name=sweep, storage=ws.db_url)
    spec = dict(study.user_attrs["spec"])
    spec["parameters"] = {**spec["parameters"], "epochs": {"value": 1}}
    study.set_user_attr("spec", spec)


def _start_agent(ws, sweep, data, *extra):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(agent_command(sweep, data, ws, list(extra)), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _first_epoch_reported(ws, sweep):
    return any(t.state == TrialState.RUNNING and t.intermediate_values for t in _trials(ws, sweep))


@pytest.mark.slow
def test_sigterm_requeues_the_running_trial_and_another_agent_completes_it(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, method="random", run_cap=1, parameters={"epochs": {"value": 40},
                                                                    "dropout": {"values": [0.1, 0.3]}})
    proc = _start_agent(ws, sweep, tiny_data)
    assert _wait_for(lambda: _first_epoch_reported(ws, sweep)), proc.communicate()[0][-3000:]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-3000:]
    assert "preempted" in out and "Traceback" not in out
    first, requeued = _trials(ws, sweep)
    assert first.state == TrialState.FAIL and first.user_attrs["preempted"]
    assert requeued.state == TrialState.WAITING and requeued.params == first.params
    # the same parameters, finished by another agent, within run_cap 1 (the preempted try does not count)
    _shorten_to_one_epoch(ws, sweep)
    report = run_agent(sweep, tiny_data, workspace=ws, log=lambda m: None, count=1)
    trials = _trials(ws, sweep)
    assert report.finished == [requeued.number] and len(trials) == 2
    assert trials[1].state == TrialState.COMPLETE and trials[1].params == first.params
    assert (ws.runs / sweep / f"trial-{trials[1].number:04d}" / "model.keras").is_file()


@pytest.mark.slow
def test_sigkilled_agents_trial_is_recovered_by_heartbeat(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, method="random", run_cap=1, parameters={"epochs": {"value": 40},
                                                                    "dropout": {"values": [0.1, 0.3]}})
    proc = _start_agent(ws, sweep, tiny_data, "--heartbeat", "1", "--grace", "3")
    assert _wait_for(lambda: _first_epoch_reported(ws, sweep)), proc.communicate()[0][-3000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    lost = _trials(ws, sweep)[0]
    assert lost.state == TrialState.RUNNING  # nobody told the storage: only the heartbeat stops
    time.sleep(4)
    _shorten_to_one_epoch(ws, sweep)
    report = run_agent(sweep, tiny_data, workspace=ws, heartbeat_s=1, grace_s=3, count=1, log=lambda m: None)
    trials = _trials(ws, sweep)
    assert trials[0].state == TrialState.FAIL
    assert trials[1].state == TrialState.COMPLETE and trials[1].params == lost.params
    assert report.finished == [trials[1].number]
