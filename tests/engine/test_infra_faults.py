"""Signals as a terminal and a scheduler send them, and a result the storage could not take."""

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from inat_cnn.engine.storage import open_storage
from inat_cnn.workspace import Workspace


def _spec(tmp_path, values="[0.1, 0.2]"):
    spec = tmp_path / "g.yaml"
    spec.write_text("name: g\nmethod: grid\nparameters:\n  model: {value: scratch}\n  image_size: {value: 16}\n"
                    f"  epochs: {{value: 3}}\n  dropout: {{values: {values}}}\n")
    return spec


def _env(fake_s, **extra):
    env = {k: v for k, v in os.environ.items() if k != "INAT_CNN_STORAGE"}
    return {**env, "INAT_CNN_FAKE_TRIAL_S": str(fake_s), "PYTHONUNBUFFERED": "1", **extra}


def _trials(ws):
    studies = optuna.get_all_study_names(storage=ws.db_url)
    return sorted(optuna.load_study(study_name=studies[0], storage=ws.db_url).get_trials(deepcopy=False),
                  key=lambda t: t.number)


def _wait(predicate, timeout=180):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if predicate():
                return True
        except Exception:  # noqa: BLE001 - not there yet (no database, no trial): poll again
            pass
        time.sleep(0.3)
    return False


def _requeued_once_each(trials):
    """Every trial that ran and was preempted has exactly one copy, and the copies are all that waits."""
    preempted = [t for t in trials if t.user_attrs.get("preempted")]
    copies = [t for t in trials if t.system_attrs.get("retry_history")]
    per_trial = {t.number: sum(c.system_attrs["retry_history"][-1] == t.number for c in copies) for t in preempted}
    return preempted, copies, per_trial


@pytest.mark.slow
def test_ctrl_c_to_the_group_then_a_schedulers_sigterm_requeues_each_trial_once(tmp_path, tiny_data):
    ws = Workspace(tmp_path / "ws")
    # the launcher in a process group of its own, as a shell runs a foreground job
    launcher = subprocess.Popen([sys.executable, "-m", "inat_cnn", "sweep", "run", _spec(tmp_path), "--data",
                                 tiny_data, "--agents", "2", "--workspace", ws.root], env=_env(120),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert _wait(lambda: sum(t.state == TrialState.RUNNING and bool(t.intermediate_values)
                                 for t in _trials(ws)) == 2, timeout=400)  # 3 Pythons per agent start on 2 cores
        os.killpg(launcher.pid, signal.SIGINT)  # the terminal's Ctrl-C: the whole foreground group
        time.sleep(0.5)
        launcher.send_signal(signal.SIGTERM)  # then the batch scheduler's
        out, _ = launcher.communicate(timeout=180)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    logs = "".join(p.read_text() for p in (ws.runs).glob("*/agents/*.log"))
    assert launcher.returncode == 0, out.decode()[-3000:] + logs[-3000:]
    assert "Traceback" not in out.decode() + logs
    trials = _trials(ws)
    preempted, copies, per_trial = _requeued_once_each(trials)
    assert len(preempted) == 2 and per_trial == {t.number: 1 for t in preempted}, logs[-3000:]
    assert all(c.state == TrialState.WAITING for c in copies) and len(copies) == 2
    assert not any(t.state == TrialState.RUNNING for t in trials)
    assert logs.count("agent done:") == 2
    assert all(t.user_attrs["fail_reason"] == "preempted (agent received SIGINT)" for t in preempted)  # the first


@pytest.mark.slow
def test_an_agent_sent_sigint_then_sigterm_requeues_once_and_exits_0(tmp_path, tiny_data):
    ws = Workspace(tmp_path / "ws")
    env = _env(120)
    created = subprocess.run([sys.executable, "-m", "inat_cnn", "sweep", "create", _spec(tmp_path, "[0.1]"),
                              "--workspace", ws.root], env=env, capture_output=True, text=True, check=True)
    sweep = created.stdout.strip().splitlines()[-1]
    agent = subprocess.Popen([sys.executable, "-m", "inat_cnn", "agent", sweep, "--data", tiny_data, "--workspace",
                              ws.root], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        assert _wait(lambda: _trials(ws)[0].intermediate_values)
        os.killpg(agent.pid, signal.SIGINT)
        agent.send_signal(signal.SIGTERM)  # at once: it lands while the first is being honoured
        out, _ = agent.communicate(timeout=120)
    finally:
        if agent.poll() is None:
            agent.kill()
    assert agent.returncode == 0 and "Traceback" not in out.decode(), out.decode()[-3000:]
    preempted, copies, per_trial = _requeued_once_each(_trials(ws))
    assert [t.number for t in preempted] == [0] and per_trial == {0: 1} and len(copies) == 1


@pytest.mark.slow
def test_a_finished_trial_whose_tell_failed_is_recorded_complete_from_its_folder(tmp_path, tiny_data, postgres,
                                                                                  pg_db):
    ws = Workspace(tmp_path / "ws")
    url = postgres.url(pg_db)
    env = _env(4, INAT_CNN_STORAGE_RETRY_S="2", INAT_CNN_STORAGE=url)
    inat = [sys.executable, "-m", "inat_cnn"]
    sweep = subprocess.run(inat + ["sweep", "create", _spec(tmp_path, "[0.1]"), "--workspace", ws.root], env=env,
                           capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    study = optuna.load_study(study_name=sweep, storage=open_storage(url))  # pings: survives the restart
    agent = subprocess.Popen(inat + ["agent", sweep, "--data", tiny_data, "--workspace", ws.root, "--heartbeat", "1",
                                     "--grace", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert _wait(lambda: study.get_trials(deepcopy=False)[0].intermediate_values)  # only the sleep and tell left
        postgres.stop()  # down until the agent gave up telling its result
        out, _ = agent.communicate(timeout=120)
    finally:
        if agent.poll() is None:
            agent.kill()
        postgres.start()
    text = out.decode()
    assert agent.returncode == 1 and "storage" in text and "Traceback" not in text, text[-3000:]
    (trial,) = study.get_trials(deepcopy=False)
    assert trial.state in (TrialState.RUNNING, TrialState.FAIL)  # what the storage believes before reconciling
    trained = json.loads((ws.runs / sweep / "trial-0000" / "fake_trial.json").read_text())["value"]
    for _ in range(2):  # status reconciles; a second status finds nothing left to do
        status = subprocess.run(inat + ["sweep", "status", sweep, "--workspace", ws.root], env=env,
                                capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stderr
        trials = study.get_trials(deepcopy=False)
        assert [t.state for t in trials] == [TrialState.COMPLETE], [(t.state, t.user_attrs) for t in trials]
        assert trials[0].value == pytest.approx(trained) and trials[0].user_attrs["reconciled"] is True
    # and an agent started now finds the grid done instead of training the point again
    again = subprocess.run(inat + ["agent", sweep, "--data", tiny_data, "--workspace", ws.root], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "every grid point has been claimed" in again.stdout, again.stdout + again.stderr
    assert len(study.get_trials(deepcopy=False)) == 1
