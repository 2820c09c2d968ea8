"""Trials train in child processes that the agent reuses, so memory goes back to the OS when one retires.

A long-lived agent that trains in its own process grows with every trial (TensorFlow and wandb
keep graphs, caches and threads: ~10 MiB per trial measured). Here the agent (the parent) keeps
everything that talks to the storage: Optuna's ``study.optimize``, its heartbeat thread, the
per-epoch reports and the pruning decision. The child only trains and never sees the storage URL
(it is removed from the child's environment; nothing is on argv).

Reused: a child (``trial_child``) imports TensorFlow/Keras, the training code and wandb's service once,
then trains the jobs it is handed one after the other, so the start-up is paid once per child, not once
per trial (a pruned trial of a small CNN is a few seconds: a fresh process each would double it). The agent
retires a child after ``INAT_CNN_TRIAL_REUSE`` trials (default 20; 1: a fresh process per trial), when its
resident memory grew by more than ``GROWTH_MIB`` over what it held after its first trial, after a crash,
a fault or a forwarded stop, and when the agent's environment changed since the child started.

Kept warm: when the child in use will retire after this trial, the next one is started (and imports) while
this trial trains (``INAT_CNN_WARM_TRIAL=0`` turns that spare off, and the one ``prestart`` begins at the
agent's start, so the first trial's imports overlap the agent's own start-up). A child that never gets a
job sees end of file on stdin (agent done or dead) and exits; it holds no trial, so closing it loses nothing.

Protocol (JSON lines): each job goes to the child's stdin as ``{"job": ...}``; the child writes ``ready``,
one ``epoch`` message per epoch (the parent answers each with ``{"prune": bool, "stop": bool}`` on stdin)
and one ``result`` or ``error`` message (with its ``rss_mib``) on a pipe of its own (stdout and stderr stay
the agent's log).

Signals: the child runs in its own session, so a terminal's Ctrl-C (sent to the foreground process
group) reaches only the agent, which forwards its stop to the child once, after the child said it
is ready for this job (its handler is installed). A child whose parent died sees end of file on stdin and stops.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from ..errors import EnvironmentFault, TrialFailed, TrialPruned, UserError

FD_ENV = "INAT_CNN_TRIAL_FD"
FAKE_TRIAL_ENV = "INAT_CNN_FAKE_TRIAL_S"
WARM_ENV = "INAT_CNN_WARM_TRIAL"
REUSE_ENV = "INAT_CNN_TRIAL_REUSE"
DEFAULT_REUSE = 20
#: A child whose resident memory grew this much over its size after its first trial is retired
GROWTH_MIB = 512.0


class TrialCrashed(Exception):
    """The child failed outside training (its message says how), or died without a word."""


# --- the parent's side -------------------------------------------------------------------------------

def run_in_child(job: dict[str, Any], on_epoch: Callable[[int, dict], Any], stop: Any = None, *,
                 last: bool = False) -> dict[str, Any]:
    """Run ``job`` in a child process; the child's result. ``on_epoch(epoch, logs)`` returns ``"prune"`` (or
    True) to prune, ``"stop"`` to end training after this epoch as finished (the sweep reached its target).

    The child is the idle one that ran the previous trial when it may train another, else the spare, else a
    new one (module docstring). When this is the ``last`` trial the caller will run (its ``--count``), no
    spare is started and the child is closed afterwards. The result's ``startup_s`` counts from this call
    to the first training step (spawn and imports included when the child was not ready).
    Raises what the child raised (TrialPruned, TrialFailed, UserError, EnvironmentFault) or TrialCrashed.
    """
    handed_at = time.time()
    child = _take_child(_child_env())
    retires = last or child.trials + 1 >= _reuse()
    if _warm() and retires and not last and not (stop is not None and stop.requested):
        _SPARE.append(_Child(child.env))  # imports while this trial trains
    keep = False
    _IN_USE.append(child)
    try:
        child.send({"job": {**job, "handed_at": handed_at}})
        try:
            result = child.converse(on_epoch, stop)
        except (TrialPruned, TrialFailed, UserError):  # the job ended as a trial ends: the child is sound
            keep = True
            raise
        keep = True
        return result
    finally:
        _IN_USE.remove(child)
        child.trials += 1
        if keep and not retires and child.sound():
            _IDLE.append(child)
        else:
            child.close()  # a child still training sees end of file and stops


class _Child:
    """One trial process: started with ``env`` (never the storage URL), importing, then running jobs."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.trials = 0
        self.first_rss: float | None = None  # MiB after its first trial
        self.rss: float | None = None
        self.forwarded = False  # a stop signal was sent to it: it takes no further job
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-m", "inat_cnn.engine.trial_child"], stdin=subprocess.PIPE,
                                     pass_fds=(write_fd,), env={**env, FD_ENV: str(write_fd)},
                                     start_new_session=True)
        os.close(write_fd)
        self.messages = os.fdopen(read_fd, "rb")
        self.buffer = b""

    def send(self, msg: dict[str, Any]) -> None:
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:  # the child died: reading its pipe meets end of file and tells how
            pass

    def sound(self) -> bool:
        """Alive, never signalled, and not grown by more than GROWTH_MIB since its first trial."""
        grown = self.rss is not None and self.first_rss is not None and self.rss - self.first_rss > GROWTH_MIB
        return self.proc.poll() is None and not self.forwarded and not grown

    def converse(self, on_epoch, stop) -> dict[str, Any]:  # noqa: ANN001
        """Messages of the current job until its result (returned) or error (raised)."""
        ready = False
        with selectors.DefaultSelector() as sel:
            sel.register(self.messages, selectors.EVENT_READ)
            while True:
                if ready and not self.forwarded and stop is not None and stop.requested:
                    _signal(self.proc, stop.signum)  # once: the child's own StopRequest takes it from here
                    self.forwarded = True
                if b"\n" not in self.buffer:
                    if not sel.select(timeout=0.2):
                        continue
                    chunk = os.read(self.messages.fileno(), 65536)
                    if not chunk:
                        break
                    self.buffer += chunk
                    continue
                line, self.buffer = self.buffer.split(b"\n", 1)
                msg = json.loads(line)
                if "rss_mib" in msg:
                    self.rss = float(msg["rss_mib"])
                    self.first_rss = self.rss if self.first_rss is None else self.first_rss
                if "ready" in msg:
                    ready = True
                elif "error" in msg:
                    raise _rebuild(msg)
                elif "result" in msg:
                    return msg["result"]
                elif "epoch" in msg:
                    verdict = on_epoch(int(msg["epoch"]), msg["logs"])  # may raise (storage): child stops at EOF
                    self.send({"prune": verdict is True or verdict == "prune", "stop": verdict == "stop"})
        code = self.proc.wait()
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        raise TrialCrashed(f"the trial process ended without a result ({how}"
                           + (", out of memory?" if code == -signal.SIGKILL else "") + ")")

    def close(self, kill: bool = False) -> None:
        if kill:  # a spare without a job, maybe still importing: nothing of a trial is lost. Killed before its
            _signal(self.proc, signal.SIGKILL)  # stdin closes, or a ready spare would race to exit on the EOF
        self.messages.close()
        _close_stdin(self.proc)
        self.proc.wait()


_SPARE: list[_Child] = []  # at most one: a started child that has not had a job yet
_IDLE: list[_Child] = []  # at most one: the child that ran the last trial and may run the next
_IN_USE: list[_Child] = []  # the child running the current trial


def _warm() -> bool:
    return os.environ.get(WARM_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _reuse() -> int:
    """Trials one child runs before it retires (``INAT_CNN_TRIAL_REUSE``; at least 1)."""
    try:
        return max(1, int(os.environ.get(REUSE_ENV, "").strip() or DEFAULT_REUSE))
    except ValueError:
        return DEFAULT_REUSE


def _child_env() -> dict[str, str]:
    from .storage import STORAGE_ENV, STORAGE_FILE_ENV  # here: the child need not import optuna

    return {k: v for k, v in os.environ.items() if k not in (STORAGE_ENV, STORAGE_FILE_ENV)}


def _take_child(env: dict[str, str]) -> _Child:
    """The idle child, else the spare, when alive and started with this environment; a new child otherwise."""
    for pool, kill in ((_IDLE, False), (_SPARE, True)):
        while pool:
            child = pool.pop()
            if child.env == env and child.proc.poll() is None:
                return child
            child.close(kill=kill)
    return _Child(env)


def prestart() -> None:
    """Start the first trial's child now (when warm children are on), so its imports overlap the agent's start."""
    if _warm() and not _SPARE and not _IDLE:
        _SPARE.append(_Child(_child_env()))


def close_spare() -> None:
    """End the spare and the idle child (the agent is done with trials); also run at exit."""
    while _IDLE:
        _IDLE.pop().close()
    while _SPARE:
        _SPARE.pop().close(kill=True)


atexit.register(close_spare)


def _close_stdin(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()
    except OSError:
        pass


def _signal(proc: subprocess.Popen, signum: int) -> None:
    try:
        proc.send_signal(signum)
    except ProcessLookupError:
        pass


def _rebuild(msg: dict[str, Any]) -> Exception:
    kind, text = msg["error"], msg.get("message", "")
    if kind == "pruned":
        return TrialPruned(int(msg["epoch"]))
    if kind == "failed":
        return TrialFailed(text)
    if kind == "user":
        return UserError(text)
    if kind == "fault":
        return EnvironmentFault(text, what=msg.get("what", "environment"))
    return TrialCrashed(text)

