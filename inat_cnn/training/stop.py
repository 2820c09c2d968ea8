"""A stop requested by a signal: the handler only records it, a Keras callback acts on it.

The stock ``wandb agent`` stops a run (hyperband, ``wandb sweep --stop``) with SIGTERM and
kills it with SIGKILL ~30 s later. An exception raised inside a signal handler surfaces
wherever Python happens to be (a gc callback, a finally block), so the handler only sets
a flag; the StopOnRequest callback checks it after every batch and sets ``model.stop_training``.
A second signal while the first is being honoured kills the process at once, unless the request
was made with ``insist_kills=False`` (the local agent and its trial processes: they must re-queue
their trial exactly once whatever arrives in which order).

A stop is a preemption when the request's ``preempt_if`` says so (``inat-cnn train`` under the stock
agent: ``preempted_unless_parent``): then the wandb run is marked preempting and ends with exit code
128 + signal, which W&B takes as "preempted" and re-queues (``wandb_run.finish``).
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
PREEMPTIBLE_ENV = "INAT_CNN_PREEMPTIBLE"
_installed: list[StopRequest] = []


class StopRequest:
    """Whether a stop was asked for, and by which signal; ``install()`` catches STOP_SIGNALS."""

    def __init__(self, signals: tuple[int, ...] = STOP_SIGNALS, insist_kills: bool = True,
                 preempt_if: Callable[[], bool] | None = None):
        self.signals = signals
        self.preempt_if = preempt_if  # asked once, after the stop: is it a preemption (re-queue, resume)?
        self._preempted: bool | None = None
        # False: later signals are only counted, so the stop is finished (the trial re-queued) whatever
        # arrives next, e.g. a scheduler's SIGTERM after the terminal's SIGINT (SIGKILL still kills)
        self.insist_kills = insist_kills
        self.later_signals: list[int] = []
        self.signum: int | None = None
        self.cut_epoch: int | None = None  # the epoch StopOnRequest interrupted, which is not a full epoch
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def signal_name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    @property
    def preempted(self) -> bool:
        """Whether this (requested) stop is a preemption; decided once, on first asking."""
        if not self.requested or self.preempt_if is None:
            return False
        if self._preempted is None:
            self._preempted = bool(self.preempt_if())
        return self._preempted

    def install(self) -> bool:
        """Catch the stop signals (main thread only: elsewhere Python cannot, and nothing changes)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        if self._previous:  # already installed: keep the handlers to restore
            return True
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        _installed.append(self)
        return True

    def restore(self) -> None:
        """Put back the handlers that were there before ``install()``."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()
        if self in _installed:
            _installed.remove(self)

    def request(self, signum: int) -> None:
        """Record a stop (what the handler does; also callable directly)."""
        if self.signum is None:
            self.signum = signum

    def _handle(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum = signum
            return
        if not self.insist_kills:
            self.later_signals.append(signum)
            return
        # Second signal: the user (or the agent's kill) insists; die with the signal's default action.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def __enter__(self) -> StopRequest:
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def callback(self):
        """A Keras callback that ends ``fit`` once this request is made (see ``stop_callback_class``)."""
        return stop_callback_class()(self)


def installed() -> StopRequest | None:
    """The request whose handlers catch this process's stop signals now, if any."""
    return _installed[-1] if _installed else None


def preempted_unless_parent(wait_s: float = 1.0) -> Callable[[], bool]:
    """A ``preempt_if`` for a process run by an agent: a stop is a preemption when the agent (this
    process's parent now) is gone by then, or when PREEMPTIBLE_ENV says every stop is one.

    The stock ``wandb agent`` stops a run it was told to stop (hyperband, ``wandb sweep --stop``) with
    SIGTERM and stays; a scheduler that preempts the job (SLURM, Kubernetes, a spot VM) signals every
    process, and the agent, which has no handler, exits at once. Under ``wandb agent --forward-signals``
    the agent forwards the scheduler's signal and waits, so there set PREEMPTIBLE_ENV=1.
    """
    parent = os.getppid()

    def decide() -> bool:
        if os.environ.get(PREEMPTIBLE_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
        end = time.monotonic() + wait_s  # the agent got the same signal at the same moment: let it exit
        while os.getppid() == parent:
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)
        return True

    return decide


@functools.cache
def stop_callback_class():
    """The StopOnRequest Keras callback class, built on first use so that importing this module (to
    catch signals early, before TensorFlow loads) stays cheap."""
    import keras

    class StopOnRequest(keras.callbacks.Callback):
        """Stops ``fit`` after the batch during which a stop was requested (training or validation).

        The epoch it cuts short is recorded in ``request.cut_epoch`` so the trial monitor can
        drop it: a partial epoch is neither a row of the history nor a checkpoint candidate.
        """

        # Reads no logs: Keras may keep dispatching batch hooks off the training thread.
        async_safe = True

        def __init__(self, request: StopRequest):
            super().__init__()
            self.request = request
            self._epoch: int | None = None

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def _check(self) -> None:
            if self.request.requested and self.model is not None:
                if not self.model.stop_training:
                    self.request.cut_epoch = self._epoch
                self.model.stop_training = True
                self.model.stop_evaluating = True

        def on_train_batch_end(self, batch, logs=None):
            self._check()

        def on_test_batch_end(self, batch, logs=None):
            self._check()

        def on_epoch_end(self, epoch, logs=None):
            # A request that arrived after the epoch's last batch: the epoch is whole, stop before the next.
            if self.request.requested and self.model is not None:
                self.model.stop_training = True

    return StopOnRequest
