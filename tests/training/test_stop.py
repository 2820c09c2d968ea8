"""StopRequest: the signal handler only sets a flag; the Keras callback ends fit and drops the cut epoch."""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from trial_helpers import TINY_SCRATCH
from wandb_files import read_wandb_run

from inat_cnn.training import run_trial
from inat_cnn.training.callbacks import TrialMonitor
from inat_cnn.training.stop import StopRequest


def test_a_signal_only_records_the_stop_and_restore_puts_the_handler_back():
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.slow
def test_a_second_signal_kills_at_once():
    script = ("import os, signal, time\nfrom inat_cnn.training.stop import StopRequest\n"
              "stop = StopRequest(); stop.install()\nos.kill(os.getpid(), signal.SIGINT)\n"
              "print('first', stop.signal_name, flush=True)\nos.kill(os.getpid(), signal.SIGTERM)\n"
              "time.sleep(30)\nprint('survived', flush=True)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGTERM and done.stdout == "first SIGINT\n"


class _RequestAt(keras.callbacks.Callback):
    """Asks for a stop during one batch of one epoch, as a signal arriving mid-epoch would."""

    def __init__(self, stop, epoch, batch):
        super().__init__()
        self.stop, self.at, self.epoch = stop, (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.stop.request(signal.SIGTERM)


def _fit(tmp_path, stop, extra, epochs=5):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 2)).astype("float32"), rng.integers(0, 2, 64)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    monitor = TrialMonitor(monitor="val_loss", goal="minimize", checkpoint=tmp_path / "m.keras", n_train=64,
                           stop=stop)
    model.fit(x, y, batch_size=8, epochs=epochs, validation_data=(x, y), verbose=0,
              callbacks=[*extra, monitor, stop.callback()])
    return monitor


def test_a_stop_mid_epoch_ends_fit_and_that_epoch_is_not_recorded(tmp_path):
    stop = StopRequest()
    monitor = _fit(tmp_path, stop, [_RequestAt(stop, epoch=1, batch=2)])
    assert stop.cut_epoch == 1 and [row["epoch"] for row in monitor.history] == [1]
    assert monitor.best_epoch == 1 and (tmp_path / "m.keras").is_file()


def test_a_stop_after_a_whole_epoch_keeps_it(tmp_path):
    stop = StopRequest()

    class _AtEpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                stop.request(signal.SIGINT)

    monitor = _fit(tmp_path, stop, [_AtEpochEnd()])
    assert stop.cut_epoch is None and [row["epoch"] for row in monitor.history] == [1, 2]


def test_a_stop_before_training_closes_the_trial_as_stopped(tiny_splits, tmp_path):
    stop = StopRequest()
    stop.request(signal.SIGTERM)
    result = run_trial({**TINY_SCRATCH, "epochs": 3}, None, tmp_path / "t", splits=tiny_splits, stop=stop)
    assert result.state == "stopped" and not (tmp_path / "t" / "model.keras").exists()
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert (metrics["state"], metrics["epochs_run"], metrics["stop_signal"]) == ("stopped", 0, "SIGTERM")
    run = read_wandb_run(metrics["wandb_run_dir"])
    assert run["exit_code"] == 0 and run["summary"]["stopped_early"] is True
