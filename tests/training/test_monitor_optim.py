"""The trial monitor (best checkpoint, patience, NaN guard), schedules, optimizers, loss, wandb summary."""

import math

import keras
import numpy as np
import pytest
from wandb_files import read_wandb_run

from inat_cnn.errors import TrialFailed
from inat_cnn.training import wandb_run
from inat_cnn.training.callbacks import TrialMonitor
from inat_cnn.training.optim import SparseSmoothedCrossentropy, make_optimizer, make_schedule


def _model():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def _feed(monitor, values, key="val_accuracy"):
    for epoch, value in enumerate(values):
        monitor.on_epoch_begin(epoch)
        monitor.on_epoch_end(epoch, {"loss": 1.0, key: value})


def test_checkpoint_only_on_improvement_and_patience(tmp_path, monkeypatch):
    import inat_cnn.training.callbacks as callbacks_module

    model, saves = _model(), []
    monkeypatch.setattr(callbacks_module, "save_model", lambda model, path: saves.append(path))
    monitor = TrialMonitor(monitor="val_accuracy", goal="maximize", checkpoint=tmp_path / "m.keras", n_train=8,
                           patience=2)
    monitor.set_model(model)
    _feed(monitor, [0.5, 0.9, 0.7, 0.8])
    assert (monitor.best_epoch, monitor.best_value, len(saves)) == (2, 0.9, 2)
    assert monitor.stopped_early and model.stop_training
    assert [row["epoch"] for row in monitor.history] == [1, 2, 3, 4]


def test_minimized_metric_and_nan_guard(tmp_path):
    monitor = TrialMonitor(monitor="val_loss", goal="minimize", checkpoint=tmp_path / "m.keras", n_train=8)
    monitor.set_model(_model())
    _feed(monitor, [2.0, 1.0, 1.5], key="val_loss")
    assert monitor.best_epoch == 2 and (tmp_path / "m.keras").is_file()
    monitor.on_epoch_begin(3)
    with pytest.raises(TrialFailed, match="loss became NaN at epoch 4"):
        monitor.on_epoch_end(3, {"loss": math.nan, "val_loss": 1.0})
    assert monitor.history[-1]["epoch"] == 4  # the failing epoch is still recorded


@pytest.mark.slow  # a wandb run starts wandb-core
def test_wandb_summary_pins_the_best_epoch_not_the_last(tmp_path):
    monitor = TrialMonitor(monitor="val_accuracy", goal="maximize", checkpoint=tmp_path / "m.keras", n_train=8)
    monitor.set_model(_model())
    run = wandb_run.open_run(config={"a": 1}, wandb_dir=tmp_path / "wandb", project="p", group=None, name="s",
                             mode="offline")
    monitor.sinks.append(wandb_run.epoch_sink(run, monitor))
    for epoch, (acc, loss) in enumerate([(0.5, 1.0), (0.9, 0.6), (0.7, 0.4)]):
        monitor.on_epoch_begin(epoch)
        monitor.on_epoch_end(epoch, {"loss": 1.0, "val_accuracy": acc, "val_loss": loss})
    wandb_run.finish(run, {"test_accuracy": 0.8}, exit_code=0)
    summary = read_wandb_run(wandb_run.run_dir(run))["summary"]
    assert (summary["val_accuracy"], summary["val_loss"], summary["best_epoch"]) == (0.9, 0.6, 2)
    assert summary["test_accuracy"] == 0.8


def test_schedules_decay_over_the_phase():
    assert make_schedule("constant", 0.1, 10) == 0.1
    cosine = make_schedule("cosine", 0.1, 10)
    assert float(cosine(0)) == pytest.approx(0.1) and float(cosine(10)) == pytest.approx(0.0, abs=1e-7)
    piecewise = make_schedule("piecewise", 0.1, 100)
    assert [float(piecewise(s)) for s in (0, 60, 90)] == pytest.approx([0.1, 0.01, 0.001])


@pytest.mark.parametrize("name,cls", [("adam", "Adam"), ("nadam", "Nadam"), ("rmsprop", "RMSprop"),
                                      ("sgd", "SGD"), ("adamw", "AdamW")])
def test_optimizers(name, cls):
    opt = make_optimizer(name, 0.01, weight_decay=1e-4)
    assert type(opt).__name__ == cls and opt.weight_decay == pytest.approx(1e-4)
    if name == "sgd":
        assert opt.momentum == 0.9 and opt.nesterov


def test_label_smoothing_loss_matches_keras_categorical():
    y, p = np.array([0, 2]), np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], "float32")
    ours = SparseSmoothedCrossentropy(3, 0.1)(y, p)
    ref = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(3)[y], p)
    assert float(ours) == pytest.approx(float(ref), rel=1e-6)


def test_a_sweep_run_started_by_wandb_agent_is_reused_not_replaced(tmp_path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_SWEEP_ID", "sweep123")
    wandb.teardown()  # as wandb.agent does: settings are read from the environment again
    started = wandb.init(dir=str(tmp_path), mode="offline", settings=wandb.Settings(**wandb_run.QUIET))
    try:
        run = wandb_run.open_run(config={"epochs": 2}, wandb_dir=tmp_path / "wandb", project="p", group=None,
                                 name="n", mode="offline")
        assert run is started and run.config["epochs"] == 2
    finally:
        started.finish()
        monkeypatch.delenv("WANDB_SWEEP_ID")
        wandb.teardown()
