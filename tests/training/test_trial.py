"""run_trial end to end on a tiny synthetic dataset: artefacts, wandb offline read-back, failure modes."""

import csv
import json

import pytest
import yaml
from trial_helpers import TINY_SCRATCH
from wandb_files import read_wandb_history, read_wandb_run

from inat_cnn.errors import TrialPruned, UserError
from inat_cnn.models import load_model
from inat_cnn.outcome import TrialOutcome
from inat_cnn.training import run_trial
from inat_cnn.training.artifacts import default_out_dir

METRICS_KEYS = {"state", "metric", "goal", "best_epoch", "best_value", "val_accuracy", "val_loss", "test_accuracy",
                "test_loss", "epochs_run", "params", "trainable_params", "flops", "layer_tuning_ratio",
                "parameter_tuning_ratio", "wall_time_s", "train_images_per_s", "startup_s", "wandb_run_id",
                "wandb_run_dir", "fingerprint", "split_id", "class_names", "image_size", "backend"}


@pytest.mark.slow
def test_trial_writes_every_artefact_and_a_best_epoch_wandb_run(tiny_root, tmp_path):
    seen = []
    cfg = {**TINY_SCRATCH, "epochs": 3, "viz": True, "augment": True, "lr_schedule": "cosine"}
    result = run_trial(cfg, tiny_root, tmp_path / "trial", workspace=tmp_path / "ws", wandb_group="g",
                       run_name="tiny", on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["val_accuracy"])))
    out = tmp_path / "trial"
    assert result == TrialOutcome.from_json(json.loads((out / "metrics.json").read_text()))  # what it wrote
    metrics = json.loads((out / "metrics.json").read_text())
    assert METRICS_KEYS <= set(metrics) and metrics["state"] == "finished" and metrics["epochs_run"] == 3
    history = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in history] == [1, 2, 3] == [e for e, _ in seen]
    best = max(history, key=lambda r: float(r["val_accuracy"]))  # first epoch reaching the max
    assert metrics["best_epoch"] == int(best["epoch"])
    assert metrics["best_value"] == pytest.approx(float(best["val_accuracy"]))
    assert float(history[2]["lr"]) < float(history[0]["lr"])  # cosine decays
    assert metrics["class_names"] == ["Amphibia", "Animalia", "Arachnida"]
    assert metrics["model_artifact"] is False  # a local trial keeps its model on disk (INAT_CNN_LOG_MODEL=auto)
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["epochs"] == 3 and resolved["dropout"] == 0.2  # defaults filled in
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["params"] == load_model(out / "model.keras").count_params()
    assert metrics.get("viz_error") is None and len(list((out / "viz").glob("*.png"))) == 5

    run = read_wandb_run(metrics["wandb_run_dir"])
    assert run["state"] == "finished" and run["exit_code"] == 0 and run["name"] == "tiny"
    assert run["config"]["epochs"] == 3 and run["config"]["augment"] is True
    summary = run["summary"]
    assert summary["val_accuracy"] == pytest.approx(float(best["val_accuracy"]))
    assert summary["val_loss"] == pytest.approx(float(best["val_loss"]))  # the best epoch's row, not the min
    assert summary["best_epoch"] == metrics["best_epoch"]
    assert summary["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    # every logged metric summarises to a scalar (no {"last": x} / {"max": x} dicts for dashboards)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time_s", "images_per_s"):
        assert isinstance(summary[key], (int, float)), (key, summary[key])
    assert summary["lr"] == pytest.approx(float(history[-1]["lr"]))
    logged = [row for row in read_wandb_history(metrics["wandb_run_dir"]) if "epoch" in row]
    assert [row["epoch"] for row in logged] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time_s", "images_per_s"} <= set(logged[0])
    assert any(key.startswith("viz/") for row in read_wandb_history(metrics["wandb_run_dir"]) for key in row)


@pytest.mark.slow
def test_pruning_hook(tiny_splits, tmp_path):
    def prune(epoch, logs):
        raise TrialPruned(epoch)

    with pytest.raises(TrialPruned):
        run_trial({**TINY_SCRATCH, "epochs": 3}, None, tmp_path / "p", splits=tiny_splits, on_epoch_end=prune)
    metrics = json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert metrics["state"] == "pruned" and metrics["epochs_run"] == 1 and metrics["best_epoch"] == 1
    run = read_wandb_run(metrics["wandb_run_dir"])
    assert run["exit_code"] == 0 and run["summary"]["state"] == "pruned"


@pytest.mark.slow
def test_finetune_two_phases_and_viz_failure(tiny_splits_32, tmp_path, monkeypatch):
    import inat_cnn.viz as viz

    def broken(*args, **kwargs):
        raise RuntimeError("figure bug")

    monkeypatch.setattr(viz, "render_trial_figures", broken)
    cfg = {"model": "finetune", "backbone": "mobilenet_v2", "weights": "none", "image_size": 32,
           "trainable_layers": 3, "head_epochs": 1, "epochs": 2, "batch_size": 12, "optimizer": "adamw",
           "weight_decay": 1e-4, "label_smoothing": 0.1, "learning_rate": 1e-2, "fine_tune_learning_rate": 1e-3}
    result = run_trial(cfg, None, tmp_path / "ft", splits=tiny_splits_32, metric="val_loss", goal="minimize")
    phases = [(row["phase"], pytest.approx(row["lr"])) for row in result.history]
    assert phases == [("head", 1e-2), ("fine_tune", 1e-3)]
    assert result.state == "finished" and "figure bug" in result.viz_error
    assert 0 < result.parameter_tuning_ratio < 1 and 0 < result.layer_tuning_ratio < 1
    assert result.best_value == min(row["val_loss"] for row in result.history)


@pytest.mark.slow
def test_out_dir_is_never_overwritten_and_splits_must_match(tiny_splits, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("keep")
    with pytest.raises(UserError, match="not empty"):
        run_trial(TINY_SCRATCH, None, tmp_path / "used", splits=tiny_splits)
    assert (tmp_path / "used" / "x").read_text() == "keep"
    with pytest.raises(UserError, match="image_size 32"):
        run_trial({**TINY_SCRATCH, "image_size": 32}, None, tmp_path / "other", splits=tiny_splits)
    first, second = default_out_dir(tmp_path / "runs"), default_out_dir(tmp_path / "runs")
    assert first.parent == tmp_path / "runs" / "single" and first != second
