"""The trial process kept warm: the next trial's child starts (and imports) while the current one trains.

Real child processes of ``python -m inat_cnn.engine.trial_process``; the fast tests use the engine's sleep
hook (INAT_CNN_FAKE_TRIAL_S), the slow one trains real tiny models and measures the start-up it saves.
"""

import json
import time
from pathlib import Path

import pytest

from inat_cnn.engine import trial_process
from inat_cnn.engine.storage import STORAGE_ENV

SECRET_URL = "postgresql://user:Pg-s3cret@db/optuna"


def _job(tmp_path: Path, number: int, **extra) -> dict:
    return {"config": {"model": "scratch", "number": number}, "trial_dir": str(tmp_path / f"trial-{number}"),
            "metric": "val_accuracy", "objective_metric": "val_accuracy", "number": number, **extra}


@pytest.fixture
def fake_trials(monkeypatch):
    monkeypatch.setenv(trial_process.FAKE_TRIAL_ENV, "0.05")
    monkeypatch.setenv(STORAGE_ENV, SECRET_URL)
    monkeypatch.delenv(trial_process.WARM_ENV, raising=False)
    trial_process.close_spare()
    yield
    trial_process.close_spare()


def _environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


@pytest.mark.slow
def test_the_next_trial_runs_in_the_child_started_during_this_one(fake_trials, tmp_path):
    trial_process.run_in_child(_job(tmp_path, 0), lambda epoch, logs: None)
    [spare] = trial_process._SPARE  # started when trial 0 was handed over: it waits for trial 1
    assert spare.proc.poll() is None
    assert SECRET_URL.encode() not in _environ(spare.proc.pid) and STORAGE_ENV.encode() not in _environ(spare.proc.pid)

    trial_process.run_in_child(_job(tmp_path, 1), lambda epoch, logs: None)
    assert spare.proc.returncode == 0  # it ran trial 1 and exited by itself (a discarded spare is killed)
    assert (tmp_path / "trial-1" / "fake_trial.json").is_file()
    [after] = trial_process._SPARE
    assert after.proc.pid != spare.proc.pid and after.proc.poll() is None

    trial_process.close_spare()  # the agent is done (also run at exit)
    assert not trial_process._SPARE and after.proc.returncode is not None


@pytest.mark.slow
def test_a_spare_started_in_another_environment_is_not_used(fake_trials, tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # the spare starts without it, whatever ran before
    trial_process.run_in_child(_job(tmp_path, 0), lambda epoch, logs: None)
    [spare] = trial_process._SPARE
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # e.g. the agent moved to another GPU
    trial_process.run_in_child(_job(tmp_path, 1), lambda epoch, logs: None)
    ran = json.loads((tmp_path / "trial-1" / "fake_trial.json").read_text())
    assert spare.proc.returncode is not None and ran["pid"] != spare.proc.pid  # ended, and trial 1 ran elsewhere
    assert b"CUDA_VISIBLE_DEVICES=3" in _environ(trial_process._SPARE[0].proc.pid)


@pytest.mark.slow
def test_without_warm_children_no_spare_is_kept(fake_trials, tmp_path, monkeypatch):
    monkeypatch.setenv(trial_process.WARM_ENV, "0")
    trial_process.run_in_child(_job(tmp_path, 0), lambda epoch, logs: None)
    assert not trial_process._SPARE


@pytest.mark.slow
def test_the_last_trial_of_an_agent_starts_no_spare(fake_trials, tmp_path):
    trial_process.run_in_child(_job(tmp_path, 0), lambda epoch, logs: None, last=True)  # its --count ends here
    assert not trial_process._SPARE and (tmp_path / "trial-0" / "fake_trial.json").is_file()


@pytest.mark.slow
def test_a_spare_whose_agent_is_gone_exits_without_a_job(fake_trials):
    child = trial_process._Child(trial_process._child_env())
    child.proc.stdin.close()  # what the agent's death does to the pipe
    assert child.proc.wait(timeout=60) == 0
    child.messages.close()


@pytest.mark.slow
def test_a_warm_child_starts_training_sooner(tmp_path, monkeypatch):
    """Real tiny trials: the second one's claim → first step no longer pays the framework import."""
    from inat_cnn.data import synthesize

    monkeypatch.delenv(trial_process.WARM_ENV, raising=False)
    monkeypatch.delenv(trial_process.FAKE_TRIAL_ENV, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("INAT_CNN_QUIET", "1")
    data = synthesize(tmp_path / "data", classes=3, per_class=8, test_per_class=2, min_side=16, max_side=20)
    config = {"model": "scratch", "image_size": 16, "conv_blocks": 1, "filters": 4, "dense_units": 8,
              "batch_size": 8, "epochs": 1, "viz": False}
    trial_process.close_spare()
    results = []
    try:
        for number in range(2):
            job = {"config": config, "data_root": str(data), "trial_dir": str(tmp_path / f"trial-{number}"),
                   "workspace": str(tmp_path / "ws"), "metric": "val_accuracy", "objective_metric": "val_accuracy",
                   "goal": "maximize", "wandb_group": "g", "wandb_project": "p", "wandb_mode": "offline",
                   "run_name": f"trial-{number}", "number": number, "split_seed": 0}
            results.append(trial_process.run_in_child(job, lambda epoch, logs: None))
            time.sleep(5 if number == 0 else 0)  # the spare finishes its imports (it had the whole trial)
    finally:
        trial_process.close_spare()
    cold, warm = (r["startup_s"] for r in results)
    print(f"claim -> first step: cold child {cold:.2f} s, warm child {warm:.2f} s")
    assert warm < cold - 1.0  # the TensorFlow import alone is ~3 s on an idle core
    assert all(r["epochs_run"] == 1 for r in results)
