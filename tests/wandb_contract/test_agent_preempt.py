"""Under the stock W&B agent, a preempted run tells W&B so and its re-queued run resumes where it stopped.

A scheduler preempting the job signals every process: the agent (no handler: it exits) and the run.
The run then marks itself preempting and exits 128 + SIGTERM, W&B's contract for "preempted, re-queue
it"; W&B sends an agent the ``resume`` command with the same run id, and that run continues from the
first attempt's resume point: only the remaining epochs train, into the same wandb run.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wandb_files import read_wandb_history, read_wandb_records, read_wandb_run

from inat_cnn.training import resume as points

HERE = Path(__file__).resolve().parent
EPOCHS = 6
SAMPLED = {"model": "scratch", "image_size": 16, "conv_blocks": 2, "filters": 4, "dense_units": 8, "batch_size": 8,
           "epochs": EPOCHS, "batch_norm": False, "augment": True, "viz": False, "dropout": 0.2}


@pytest.fixture(scope="module")
def slower_data(tmp_path_factory) -> Path:
    """Enough images that an epoch outlasts the round trip from the test's signal to the run."""
    from inat_cnn.data import synthesize

    return synthesize(tmp_path_factory.mktemp("preempt") / "d", classes=3, per_class=60, test_per_class=4, seed=3,
                      min_side=20, max_side=32)


def _agent(kind: str, run_id: str, data: Path, tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """A stock agent process told to ``kind`` (run/resume) ``run_id``; it and its run's pid."""
    command = ["${env}", "inat-cnn", "train", "--metric=val_accuracy", f"--data={data}", "${args_no_boolean_flags}"]
    pid_file = tmp_path / f"{kind}.pid"
    log = open(tmp_path / f"{kind}.log", "wb")  # noqa: SIM115 - the processes outlive this call
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)])}
    agent = subprocess.Popen([sys.executable, str(HERE / "agent_process.py"), kind, run_id, json.dumps(command),
                              json.dumps(SAMPLED), str(pid_file)], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not pid_file.is_file() or not pid_file.read_text():
        assert agent.poll() is None and time.monotonic() < deadline, (tmp_path / f"{kind}.log").read_text()
        time.sleep(0.05)
    return agent, int(pid_file.read_text())


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] in ("Z", "X")
    except OSError:
        return True


def _history(folder: Path) -> list[dict]:
    with open(folder / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_preempted_run_is_marked_preempting_and_its_requeued_run_resumes(stock_agent, slower_data, tmp_path):
    run_id = "preempt1"
    first = tmp_path / "ws" / "runs" / "wandb-contract01" / run_id  # the run's folder, keyed by its W&B id
    agent, run_pid = _agent("run", run_id, slower_data, tmp_path)
    deadline = time.monotonic() + 300
    while (points.read_point(first) or {}).get("epoch", 0) < 3:
        assert agent.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-3000:]
        time.sleep(0.02)
    for pid in (agent.pid, run_pid):  # the scheduler's SIGTERM reaches every process of the job
        os.kill(pid, signal.SIGTERM)
    assert agent.wait(timeout=30) == -signal.SIGTERM
    deadline = time.monotonic() + 60
    while not _gone(run_pid):
        assert time.monotonic() < deadline, "the preempted run did not exit"
        time.sleep(0.1)

    stopped_at = points.read_point(first)["epoch"]
    assert 3 <= stopped_at < EPOCHS
    m1 = json.loads((first / "metrics.json").read_text())
    assert (m1["state"], m1["stop_signal"], m1["epochs_run"]) == ("stopped", "SIGTERM", stopped_at)
    run = read_wandb_run(m1["wandb_run_dir"])
    assert run["run_id"] == run_id and run["exit_code"] == 128 + signal.SIGTERM  # W&B: preempted, re-queue
    assert run["summary"]["preempted"] is True
    assert any(r.get("type") == "preempting" for r in read_wandb_records(m1["wandb_run_dir"]))
    assert "preempted by SIGTERM" in (tmp_path / "run.log").read_text()

    # W&B re-queues the run: an agent gets the server's resume command, same run id
    again, _ = _agent("resume", run_id, slower_data, tmp_path)
    assert again.wait(timeout=300) == 0, (tmp_path / "resume.log").read_text()[-3000:]
    second = first.with_name(f"{run_id}.1")
    m2 = json.loads((second / "metrics.json").read_text())
    assert (m2["state"], m2["epochs_run"], m2["resumed_at_epoch"]) == ("finished", EPOCHS, stopped_at)
    assert m2["wandb_run_id"] == run_id
    resumed_run = read_wandb_run(m2["wandb_run_dir"])
    assert resumed_run["run_id"] == run_id and resumed_run["exit_code"] == 0
    # only the epochs after the resume point trained again, logged into the same run
    assert [int(r["epoch"]) for r in read_wandb_history(m2["wandb_run_dir"]) if "loss" in r] == \
        list(range(stopped_at + 1, EPOCHS + 1))
    resumed, before = _history(second), _history(first)
    assert [int(r["epoch"]) for r in resumed] == list(range(1, EPOCHS + 1))
    assert resumed[:stopped_at] == before[:stopped_at]
