"""StopRequest: the signal handler only sets a flag; the Keras callback ends fit and drops the cut epoch."""

import json
import os
import signal
import subprocess
import sys
import time

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


@pytest.mark.slow
def test_a_stop_mid_epoch_ends_fit_and_that_epoch_is_not_recorded(tmp_path):
    stop = StopRequest()
    monitor = _fit(tmp_path, stop, [_RequestAt(stop, epoch=1, batch=2)])
    assert stop.cut_epoch == 1 and [row["epoch"] for row in monitor.history] == [1]
    assert monitor.best_epoch == 1 and (tmp_path / "m.keras").is_file()


@pytest.mark.slow
def test_a_stop_after_a_whole_epoch_keeps_it(tmp_path):
    stop = StopRequest()

    class _AtEpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                stop.request(signal.SIGINT)

    monitor = _fit(tmp_path, stop, [_AtEpochEnd()])
    assert stop.cut_epoch is None and [row["epoch"] for row in monitor.history] == [1, 2]


@pytest.mark.slow
def test_a_stop_before_training_closes_the_trial_as_stopped(tiny_splits, tmp_path):
    stop = StopRequest()
    stop.request(signal.SIGTERM)
    result = run_trial({**TINY_SCRATCH, "epochs": 3}, None, tmp_path / "t", splits=tiny_splits, stop=stop)
    assert result.state == "stopped" and not (tmp_path / "t" / "model.keras").exists()
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert (metrics["state"], metrics["epochs_run"], metrics["stop_signal"]) == ("stopped", 0, "SIGTERM")
    run = read_wandb_run(metrics["wandb_run_dir"])
    assert run["exit_code"] == 0 and run["summary"]["stopped_early"] is True



CHILD = ("import sys, time\n"  # a run: records its parent at start, decides later, writes the answer
         "from inat_cnn.training.stop import preempted_unless_parent\n"
         "decide = preempted_unless_parent(wait_s=float(sys.argv[1]))\n"
         "open(sys.argv[2] + '.ready', 'w').close()\n"
         "open(sys.argv[2], 'w').write(str(decide()))\n")
AGENT = ("import os, subprocess, sys, time\n"  # starts the run, waits until it runs, exits (as if signalled)
         "subprocess.Popen([sys.executable, '-c', sys.argv[1], '30', sys.argv[2]])\n"
         "while not os.path.exists(sys.argv[2] + '.ready'): time.sleep(0.02)\n")


@pytest.mark.slow
def test_a_stop_is_a_preemption_only_when_the_agent_is_gone(tmp_path):
    from inat_cnn.training.stop import PREEMPTIBLE_ENV

    env = {k: v for k, v in os.environ.items() if k != PREEMPTIBLE_ENV}
    # a scheduler preempting the job: the agent exits, its run lives on, reparented
    subprocess.run([sys.executable, "-c", AGENT, CHILD, str(tmp_path / "orphan")], env=env, check=True, timeout=120)
    # the agent stays (its own stop command: hyperband, wandb sweep --stop)
    subprocess.run([sys.executable, "-c", CHILD, "0.3", str(tmp_path / "kept")], env=env, check=True, timeout=120)
    # the agent stays but forwarded a scheduler's signal (wandb agent --forward-signals): the environment says so
    subprocess.run([sys.executable, "-c", CHILD, "0.3", str(tmp_path / "told")], env={**env, PREEMPTIBLE_ENV: "1"},
                   check=True, timeout=120)
    deadline = time.monotonic() + 120
    while not (tmp_path / "orphan").is_file() or not (tmp_path / "orphan").read_text():
        assert time.monotonic() < deadline, "the orphaned run never decided"
        time.sleep(0.05)
    assert [(tmp_path / n).read_text() for n in ("orphan", "kept", "told")] == ["True", "False", "True"]


def test_preempted_is_decided_once_and_only_for_a_requested_stop():
    calls = []
    stop = StopRequest(preempt_if=lambda: calls.append(1) or True)
    assert not stop.preempted and not calls  # no stop yet: nothing to decide
    stop.request(signal.SIGTERM)
    assert stop.preempted and stop.preempted and calls == [1]
    plain = StopRequest()
    plain.request(signal.SIGTERM)
    assert not plain.preempted  # without preempt_if (the local engine's processes) a stop is a stop
