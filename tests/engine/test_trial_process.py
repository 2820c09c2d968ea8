"""Trial processes reused and kept warm: one child runs trial after trial; a retiring one's successor starts early.

Real child processes of ``python -m inat_cnn.engine.trial_child``; the fast tests use the engine's sleep
hook (INAT_CNN_FAKE_TRIAL_S), the slow one trains real tiny models and measures the start-up it saves.
"""

import json
import time
from pathlib import Path

import pytest

from inat_cnn.engine import trial_process
from inat_cnn.engine.storage import STORAGE_ENV
from inat_cnn.errors import TrialPruned

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


def _ran_in(tmp_path: Path, number: int) -> int:
    """The pid of the process that ran fake trial ``number``."""
    return json.loads((tmp_path / f"trial-{number}" / "fake_trial.json").read_text())["pid"]


def _run(tmp_path: Path, number: int, on_epoch=lambda epoch, logs: None, **kw) -> dict:
    return trial_process.run_in_child(_job(tmp_path, number), on_epoch, **kw)


@pytest.mark.slow
def test_one_child_runs_the_trials_one_after_the_other(fake_trials, tmp_path):
    _run(tmp_path, 0)
    [idle] = trial_process._IDLE
    assert not trial_process._SPARE  # it will run the next trial: no second process imports meanwhile
    assert SECRET_URL.encode() not in _environ(idle.proc.pid) and STORAGE_ENV.encode() not in _environ(idle.proc.pid)
    _run(tmp_path, 1)
    assert _ran_in(tmp_path, 0) == _ran_in(tmp_path, 1) == idle.proc.pid
    assert idle.trials == 2 and idle.rss is not None and idle.rss > 0

    trial_process.close_spare()  # the agent is done (also run at exit)
    assert not trial_process._IDLE and idle.proc.returncode == 0


@pytest.mark.slow
def test_a_child_retires_after_its_reuse_count_and_the_spare_takes_over(fake_trials, tmp_path, monkeypatch):
    monkeypatch.setenv(trial_process.REUSE_ENV, "2")
    _run(tmp_path, 0)
    [first] = trial_process._IDLE
    _run(tmp_path, 1)  # its second and last: the next trial's child starts while it trains
    assert first.proc.returncode == 0 and not trial_process._IDLE
    [spare] = trial_process._SPARE
    _run(tmp_path, 2)
    assert _ran_in(tmp_path, 1) == first.proc.pid and _ran_in(tmp_path, 2) == spare.proc.pid != first.proc.pid


@pytest.mark.slow
def test_reuse_one_is_a_fresh_process_per_trial(fake_trials, tmp_path, monkeypatch):
    monkeypatch.setenv(trial_process.REUSE_ENV, "1")
    pids = []
    for number in range(3):
        _run(tmp_path, number)
        pids.append(_ran_in(tmp_path, number))
        assert not trial_process._IDLE and len(trial_process._SPARE) == 1
    assert len(set(pids)) == 3


@pytest.mark.slow
def test_a_pruned_trial_keeps_its_child_and_a_crashed_one_retires_it(fake_trials, tmp_path):
    with pytest.raises(TrialPruned):
        _run(tmp_path, 0, on_epoch=lambda epoch, logs: "prune")
    [idle] = trial_process._IDLE
    with pytest.raises(trial_process.TrialCrashed, match="fake trial error"):
        trial_process.run_in_child(_job(tmp_path, 1, fake_error="crash"), lambda epoch, logs: None)
    assert not trial_process._IDLE and idle.proc.returncode == 0  # retired, not reused
    _run(tmp_path, 2)
    assert _ran_in(tmp_path, 2) != idle.proc.pid


@pytest.mark.slow
def test_a_child_grown_past_the_memory_bound_retires(fake_trials, tmp_path, monkeypatch):
    _run(tmp_path, 0)
    [idle] = trial_process._IDLE
    monkeypatch.setattr(trial_process, "GROWTH_MIB", -1.0)  # any size counts as grown
    _run(tmp_path, 1)
    assert _ran_in(tmp_path, 1) == idle.proc.pid and not trial_process._IDLE and idle.proc.returncode == 0


@pytest.mark.slow
def test_a_child_started_in_another_environment_is_not_used(fake_trials, tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # the child starts without it, whatever ran before
    _run(tmp_path, 0)
    [idle] = trial_process._IDLE
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # e.g. the agent moved to another GPU
    _run(tmp_path, 1)
    assert idle.proc.returncode is not None and _ran_in(tmp_path, 1) != idle.proc.pid  # ended; trial 1 elsewhere
    assert b"CUDA_VISIBLE_DEVICES=3" in _environ(trial_process._IDLE[0].proc.pid)


@pytest.mark.slow
def test_prestart_gives_the_first_trial_a_started_child(fake_trials, tmp_path):
    trial_process.prestart()
    [spare] = trial_process._SPARE
    _run(tmp_path, 0)
    assert _ran_in(tmp_path, 0) == spare.proc.pid and trial_process._IDLE == [spare]


@pytest.mark.slow
def test_without_warm_children_no_spare_is_started(fake_trials, tmp_path, monkeypatch):
    monkeypatch.setenv(trial_process.WARM_ENV, "0")
    monkeypatch.setenv(trial_process.REUSE_ENV, "1")
    trial_process.prestart()
    _run(tmp_path, 0)
    assert not trial_process._SPARE and not trial_process._IDLE


@pytest.mark.slow
def test_the_last_trial_of_an_agent_keeps_no_child(fake_trials, tmp_path):
    _run(tmp_path, 0, last=True)  # its --count ends here
    assert not trial_process._SPARE and not trial_process._IDLE and (tmp_path / "trial-0" / "fake_trial.json").is_file()


@pytest.mark.slow
def test_a_child_whose_agent_is_gone_exits_without_a_job(fake_trials):
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


@pytest.mark.slow
def test_a_child_killed_mid_trial_fails_it_as_crashed_and_is_not_reused(fake_trials, tmp_path):
    import signal

    killed = []

    def kill_it(epoch, logs):  # the OOM killer strikes while the agent answers the epoch
        [child] = [c for c in trial_process._IN_USE]
        child.proc.send_signal(signal.SIGKILL)
        child.proc.wait()
        killed.append(child)
        return None

    with pytest.raises(trial_process.TrialCrashed, match="SIGKILL"):
        _run(tmp_path, 0, on_epoch=kill_it)
    assert killed and not trial_process._IDLE
    _run(tmp_path, 1)
    assert _ran_in(tmp_path, 1) != killed[0].proc.pid
