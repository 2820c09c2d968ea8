"""Each trial trains in a fresh child process, so its memory goes back to the OS when it ends.

A long-lived agent that trains in its own process grows with every trial (TensorFlow and wandb
keep graphs, caches and threads: ~10 MiB per trial measured). Here the agent (the parent) keeps
everything that talks to the storage: Optuna's ``study.optimize``, its heartbeat thread, the
per-epoch reports and the pruning decision. The child only trains and never sees the storage URL
(it is removed from the child's environment; nothing is on argv).

Protocol (JSON lines): the job goes to the child's stdin; the child writes ``ready``, one
``epoch`` message per epoch (the parent answers each with ``{"prune": bool}`` on stdin) and one
``result`` or ``error`` message on a pipe of its own (stdout and stderr stay the agent's log).

Signals: the child runs in its own session, so a terminal's Ctrl-C (sent to the foreground process
group) reaches only the agent, which forwards its stop to the child once, after the child said it
is ready (its handler is installed). A child whose parent died sees end of file on stdin and stops.

Kept warm: a child imports TensorFlow/Keras, the training code and starts wandb's service before it
reads its job, and the agent starts the next trial's child as soon as it hands the current one its
job, so the next claim finds a child with its start-up paid while this trial trained (``INAT_CNN_WARM_TRIAL=0``
turns the spare off: one process less, at the price of the start-up per trial). A spare that never
gets a job sees end of file on stdin (agent done or dead) and exits; it holds no trial, so closing it
loses nothing. The spare is discarded, not used, if the agent's environment changed since it started.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import EnvironmentFault, TrialFailed, TrialPruned, UserError

FD_ENV = "INAT_CNN_TRIAL_FD"
FAKE_TRIAL_ENV = "INAT_CNN_FAKE_TRIAL_S"
WARM_ENV = "INAT_CNN_WARM_TRIAL"


class TrialCrashed(Exception):
    """The child failed outside training (its message says how), or died without a word."""


# --- the parent's side -------------------------------------------------------------------------------

def run_in_child(job: dict[str, Any], on_epoch: Callable[[int, dict], Any], stop: Any = None, *,
                 last: bool = False) -> dict[str, Any]:
    """Run ``job`` in a fresh process; the child's result. ``on_epoch(epoch, logs)`` returns ``"prune"`` (or
    True) to prune, ``"stop"`` to end training after this epoch as finished (the sweep reached its target).

    The child is the spare started during the previous trial when there is one (module docstring); no spare
    is started for a next trial when this is the ``last`` one the caller will run (its ``--count``). The
    result's ``startup_s`` counts from this call to the first training step (spawn and imports included).
    Raises what the child raised (TrialPruned, TrialFailed, UserError, EnvironmentFault) or TrialCrashed.
    """
    handed_at = time.time()
    child = _take_child(_child_env())
    if _warm() and not last and not (stop is not None and stop.requested):
        _SPARE.append(_Child(child.env))  # imports while this trial trains
    try:
        child.proc.stdin.write((json.dumps({**job, "handed_at": handed_at}) + "\n").encode())
        child.proc.stdin.flush()
        return _converse(child.proc, child.messages, on_epoch, stop)
    finally:
        child.close()  # a child still training sees end of file and stops


class _Child:
    """One trial process: started with ``env`` (never the storage URL), importing, then waiting for its job."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-m", "inat_cnn.engine.trial_process"], stdin=subprocess.PIPE,
                                     pass_fds=(write_fd,), env={**env, FD_ENV: str(write_fd)},
                                     start_new_session=True)
        os.close(write_fd)
        self.messages = os.fdopen(read_fd, "rb")

    def close(self, kill: bool = False) -> None:
        if kill:  # a spare without a job, maybe still importing: nothing of a trial is lost. Killed before its
            _signal(self.proc, signal.SIGKILL)  # stdin closes, or a ready spare would race to exit on the EOF
        self.messages.close()
        _close_stdin(self.proc)
        self.proc.wait()


_SPARE: list[_Child] = []  # at most one: the next trial's child


def _warm() -> bool:
    return os.environ.get(WARM_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _child_env() -> dict[str, str]:
    from .storage import STORAGE_ENV, STORAGE_FILE_ENV  # here: the child need not import optuna

    return {k: v for k, v in os.environ.items() if k not in (STORAGE_ENV, STORAGE_FILE_ENV)}


def _take_child(env: dict[str, str]) -> _Child:
    """The spare when it is alive and was started with this environment; a new child otherwise."""
    while _SPARE:
        spare = _SPARE.pop()
        if spare.env == env and spare.proc.poll() is None:
            return spare
        spare.close(kill=True)
    return _Child(env)


def close_spare() -> None:
    """End the spare child (the agent is done with trials); also run at exit."""
    while _SPARE:
        _SPARE.pop().close(kill=True)


atexit.register(close_spare)


def _close_stdin(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()
    except OSError:
        pass


def _converse(proc: subprocess.Popen, messages, on_epoch, stop) -> dict[str, Any]:  # noqa: ANN001
    ready, forwarded, buffer = False, False, b""
    with selectors.DefaultSelector() as sel:
        sel.register(messages, selectors.EVENT_READ)
        while True:
            if ready and not forwarded and stop is not None and stop.requested:
                _signal(proc, stop.signum)  # once: the child's own StopRequest takes it from here
                forwarded = True
            if not sel.select(timeout=0.2):
                continue
            chunk = os.read(messages.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                msg = json.loads(line)
                if "ready" in msg:
                    ready = True
                elif "error" in msg:
                    raise _rebuild(msg)
                elif "result" in msg:
                    return msg["result"]
                elif "epoch" in msg:
                    verdict = on_epoch(int(msg["epoch"]), msg["logs"])  # may raise (storage): child stops at EOF
                    answer = {"prune": verdict is True or verdict == "prune", "stop": verdict == "stop"}
                    proc.stdin.write((json.dumps(answer) + "\n").encode())
                    proc.stdin.flush()
    code = proc.wait()
    how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    raise TrialCrashed(f"the trial process ended without a result ({how}"
                       + (", out of memory?" if code == -signal.SIGKILL else "") + ")")


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


# --- the child's side --------------------------------------------------------------------------------

class _Parent:
    """The child's line to the agent: messages out on the pipe, answers in on stdin (EOF: stop)."""

    def __init__(self, stop: Any):
        self.out = os.fdopen(int(os.environ[FD_ENV]), "wb", buffering=0)
        self.stop = stop
        self.answers: list[dict] = []
        self.cond = threading.Condition()
        line = sys.stdin.buffer.readline()
        if not line.strip():  # a spare whose agent finished (or died) before it had a job
            os._exit(0)
        self.job = json.loads(line)
        self.job_received_at = time.time()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in sys.stdin.buffer:
            with self.cond:
                self.answers.append(json.loads(line))
                self.cond.notify()
        self.stop.request(signal.SIGTERM)  # the agent is gone: stop at the next batch
        with self.cond:
            self.answers.append({"prune": False, "gone": True})
            self.cond.notify()

    def send(self, **msg: Any) -> None:
        self.out.write((json.dumps(msg, default=str) + "\n").encode())

    def epoch(self, epoch: int, logs: dict) -> dict:
        """The agent's answer to this epoch: ``prune`` and ``stop`` (end now as finished), both bools."""
        self.send(epoch=epoch, logs=logs)
        with self.cond:
            self.cond.wait_for(lambda: self.answers)
            return self.answers.pop(0)


def _child_main() -> None:
    from ..training.stop import StopRequest

    stop = StopRequest(insist_kills=False)
    stop.install()
    _warm_up()
    parent = _Parent(stop)
    parent.send(ready=True)
    try:
        result = _train(parent.job, parent, stop)
    except TrialPruned as err:
        parent.send(error="pruned", epoch=err.epoch)
    except TrialFailed as err:
        parent.send(error="failed", message=str(err.reason))
    except EnvironmentFault as err:  # before UserError: a full disk (atomic.DiskError) is both
        parent.send(error="fault", message=str(err), what=err.what)
    except UserError as err:
        parent.send(error="user", message=str(err))
    except Exception as err:  # noqa: BLE001 - told to the agent, which records it on the trial
        from ..atomic import disk_error

        disk = disk_error(err)  # a full or read-only disk met outside our own writers: the machine's fault
        if disk is not None:
            parent.send(error="fault", message=str(disk), what=disk.what)
        else:
            parent.send(error="crash", message=f"{type(err).__name__}: {err}"[:2000])
    else:
        parent.send(result=result)
    # The agent closes our stdin once it has the message; exit without interpreter finalization, which
    # would stall on the reader thread's stdin lock (everything is written and closed by now).
    parent.reader.join(timeout=30)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _warm_up() -> None:
    """What every trial needs before its job: the framework and training imports, wandb's service."""
    if os.environ.get(FAKE_TRIAL_ENV):
        return
    import keras  # noqa: F401 - the backend (TensorFlow: ~3 s) is the bulk of a trial's start-up

    from .. import data, models, training  # noqa: F401

    try:
        import wandb

        wandb.setup()  # starts wandb-core (~0.6 s on a trial's first init); a run then only connects
    except Exception:  # noqa: BLE001 - the trial's own wandb.init reports a real problem
        pass


def _train(job: dict[str, Any], parent: _Parent, stop: Any) -> dict[str, Any]:
    fake = os.environ.get(FAKE_TRIAL_ENV)
    if fake:
        return _fake(job, parent, stop, float(fake))
    from ..data import load_splits
    from ..training import run_trial
    from ..trial_config import parse_trial_config

    config = parse_trial_config(job["config"], source=job["run_name"])

    def report(epoch: int, logs: dict[str, float]) -> bool:
        answer = parent.epoch(epoch, {k: v for k, v in logs.items() if isinstance(v, (int, float))})
        if answer.get("prune"):
            raise TrialPruned(epoch)
        return bool(answer.get("stop"))  # True: the monitor ends training after this epoch

    splits = load_splits(job["data_root"], config.image_size, resize=config.resize, val_fraction=config.val_fraction,
                         split_seed=job.get("split_seed", 0), cache_dir=Path(job["workspace"]) / "cache")
    # the sweep's own metric: run_trial picks epochs on outcome.monitored_metric and judges on this one
    calling_at = time.time()
    outcome = run_trial(config, job["data_root"], job["trial_dir"], workspace=job["workspace"],
                        metric=job.get("objective_metric", job["metric"]), goal=job["goal"], on_epoch_end=report,
                        wandb_group=job["wandb_group"], wandb_project=job["wandb_project"],
                        wandb_mode=job["wandb_mode"], run_name=job["run_name"], splits=splits, stop=stop,
                        **({"resume": job["resume"]} if job.get("resume") else {}),
                        **({"top_k_bar": job["top_k_bar"]} if "top_k_bar" in job else {}))
    result = outcome.to_json()
    if result.get("startup_s") is not None and job.get("handed_at"):  # + spawn, imports, data: from the hand-over
        result["startup_s"] = round(calling_at - float(job["handed_at"]) + float(result["startup_s"]), 3)
    return result


def _fake(job: dict[str, Any], parent: _Parent, stop: Any, seconds: float) -> dict[str, Any]:
    """The engine's sleep hook: report a value derived from the parameters, sleep (stopping at a signal),
    then mark the point trained (``fake_trial.json``)."""
    import hashlib

    params = json.dumps(job["config"], sort_keys=True, default=str)
    value = int(hashlib.sha256(params.encode()).hexdigest()[:8], 16) / 2 ** 32
    answer = parent.epoch(1, {job["metric"]: value})
    if answer.get("prune"):
        raise TrialPruned(1)
    end = time.monotonic() + (0.0 if answer.get("stop") else seconds)
    while time.monotonic() < end:
        if stop.requested:
            return {"epochs_run": 0, "stopped": True}
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))
    trial_dir = Path(job["trial_dir"])
    trial_dir.mkdir(parents=True, exist_ok=True)
    tmp = trial_dir / f".fake_trial.json.{os.getpid()}"
    tmp.write_text(json.dumps({"trial": job["number"], "value": value, "pid": os.getpid()}))
    os.replace(tmp, trial_dir / "fake_trial.json")
    return {job["metric"]: value, job["objective_metric"]: value, "epochs_run": 1}


if __name__ == "__main__":
    _child_main()
