"""The stock agent's stop command (SIGTERM, what hyperband and `wandb sweep --stop` send) on a running trial."""

import csv
import json
import time

import pytest
from stock_agent import SWEEP_ID, server_args
from wandb import wandb_agent
from wandb_files import read_wandb_records, read_wandb_run

EPOCHS = 500  # far more than can run before the stop: the trial must end because it was told to
SAMPLED = {"model": "scratch", "image_size": 16, "conv_blocks": 1, "filters": 4, "dense_units": 8, "batch_size": 8,
           "epochs": EPOCHS, "batch_norm": False, "augment": True, "viz": True}
COMMAND = ["${env}", "inat-cnn", "train", "--metric=val_accuracy", "${args_no_boolean_flags}"]


def _wait_for_first_checkpoint(launched, runs, timeout_s: float = 300.0):
    deadline = time.monotonic() + timeout_s
    while not list(runs.glob("*/model.keras")):  # written (atomically) once the first whole epoch is best
        assert launched.process.poll() is None, "the trial ended before the agent stopped it"
        assert time.monotonic() < deadline, "no epoch finished in time"
        time.sleep(0.1)


@pytest.mark.slow
def test_the_agent_stop_command_leaves_a_complete_run(stock_agent, tmp_path):
    from inat_cnn.models import load_model

    launched = stock_agent.run(COMMAND, server_args(SAMPLED), "stopme", spawn=True)
    runs = tmp_path / "ws" / "runs" / f"wandb-{SWEEP_ID}"  # one folder per W&B run id
    _wait_for_first_checkpoint(launched, runs)
    stopped_at = time.time()
    stock_agent.stop("stopme")
    # the agent's next heartbeat after KILL_DELAY would SIGKILL it: it must be gone long before
    code = launched.process.wait(timeout=wandb_agent.Agent.KILL_DELAY)
    exit_s = time.time() - stopped_at
    [trial] = runs.iterdir()
    close_s = (trial / "metrics.json").stat().st_mtime - stopped_at
    print(f"SIGTERM -> trial closed {close_s:.1f} s, -> process exited {exit_s:.1f} s")
    assert code == 0 and close_s < 15  # measured 4.8 s on 2 loaded cores; the rest is interpreter teardown

    metrics = json.loads((trial / "metrics.json").read_text())
    assert (metrics["state"], metrics["stop_signal"], metrics["stopped_early"]) == ("stopped", "SIGTERM", True)
    assert 1 <= metrics["epochs_run"] < EPOCHS and metrics["best_epoch"] <= metrics["epochs_run"]
    history = list(csv.DictReader((trial / "history.csv").open()))
    assert [int(r["epoch"]) for r in history] == list(range(1, metrics["epochs_run"] + 1))  # whole epochs only
    assert max(float(r["val_accuracy"]) for r in history) == pytest.approx(metrics["best_value"])
    assert metrics["test_accuracy"] is not None  # a quick test of the best checkpoint still happens
    assert not (trial / "viz").exists()  # figures are skipped once a stop is asked for
    assert load_model(trial / "model.keras").count_params() == metrics["params"]

    run = read_wandb_run(metrics["wandb_run_dir"])
    assert run["state"] == "finished" and run["exit_code"] == 0 and run["run_id"] == "stopme"
    summary = run["summary"]
    assert (summary["state"], summary["stopped_early"], summary["stop_signal"]) == ("stopped", True, "SIGTERM")
    assert summary["best_epoch"] == metrics["best_epoch"]
    assert summary["val_accuracy"] == pytest.approx(metrics["val_accuracy"])
    assert summary["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time_s", "images_per_s"):
        assert isinstance(summary[key], (int, float)) and not isinstance(summary[key], bool), (key, summary[key])
    assert run["config"]["batch_norm"] is False and run["config"]["epochs"] == EPOCHS
    [environment] = [r["environment"] for r in read_wandb_records(metrics["wandb_run_dir"])
                     if r.get("type") == "environment" and "args" in r["environment"]]
    assert environment["args"] == launched.argv[2:]  # what ran: `train --metric=... --augment --conv_blocks=1 ...`
