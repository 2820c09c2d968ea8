"""Snapshot ensembles: M cosine cycles with warm restarts, M snapshots saved, their ensemble recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from digits_data import write_digits
from wandb_files import read_wandb_run

from inat_cnn.errors import UserError
from inat_cnn.training.optim import make_schedule
from inat_cnn.trial_config import parse_trial_config

TINY = {"model": "scratch", "image_size": 16, "conv_blocks": 2, "filters": 8, "dense_units": 16, "batch_size": 16,
        "learning_rate": 0.01, "viz": False}


def test_snapshot_schedule_restarts_at_each_cycle():
    schedule = make_schedule("snapshot", 0.1, total_steps=30, cycles=3)
    lr = [float(schedule(step)) for step in range(30)]
    assert lr[0] == lr[10] == lr[20] == pytest.approx(0.1)
    assert max(lr[9], lr[19], lr[29]) < 0.005 and lr[5] == pytest.approx(0.05, abs=1e-6)


def test_snapshots_must_divide_the_last_phase():
    with pytest.raises(UserError, match="snapshots"):
        parse_trial_config({**TINY, "lr_schedule": "snapshot", "snapshots": 3, "epochs": 4})
    with pytest.raises(UserError, match="lr_schedule: snapshot"):
        parse_trial_config({**TINY, "snapshots": 2, "epochs": 4})


@pytest.mark.slow
def test_snapshot_trial_saves_and_evaluates_its_snapshots(tmp_path):
    from inat_cnn.data import load_splits
    from inat_cnn.models import load_model
    from inat_cnn.models.predict import predict_probs
    from inat_cnn.training import run_trial

    data = write_digits(tmp_path / "digits", per_class=20, test_per_class=5)
    config = {**TINY, "lr_schedule": "snapshot", "snapshots": 3, "epochs": 3}
    result = run_trial(config, data, tmp_path / "trial", workspace=tmp_path / "ws")
    metrics = json.loads((tmp_path / "trial" / "metrics.json").read_text())
    rows = metrics["snapshots"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "trial" / "snapshots").iterdir()) == \
        ["snapshot-1.keras", "snapshot-2.keras", "snapshot-3.keras"]
    history = {row["epoch"]: row for row in result.history}
    for row in rows:
        assert row["val_accuracy"] == pytest.approx(history[row["epoch"]]["val_accuracy"])

    splits = load_splits(data, 16, cache_dir=tmp_path / "ws" / "cache")
    models = [load_model(tmp_path / "trial" / r["path"], compile=False) for r in rows]
    mean = np.mean([predict_probs(m, splits.x_val) for m in models], axis=0)
    ensemble = metrics["snapshot_ensemble"]
    assert ensemble["members"] == 3
    assert ensemble["val_accuracy"] == pytest.approx(float(np.mean(mean.argmax(1) == splits.y_val)))
    test_mean = np.mean([predict_probs(m, splits.x_test) for m in models], axis=0)
    assert ensemble["test_accuracy"] == pytest.approx(float(np.mean(test_mean.argmax(1) == splits.y_test)))

    summary = read_wandb_run(metrics["wandb_run_dir"])["summary"]
    assert summary["snapshot_ensemble/val_accuracy"] == pytest.approx(ensemble["val_accuracy"])
    assert summary["snapshot_2/val_accuracy"] == pytest.approx(rows[1]["val_accuracy"])
