"""The trial process's side of ``trial_process``: import once, then train the jobs the agent hands over.

The child imports TensorFlow/Keras, the training code and starts wandb's service before its first job
(``_warm_up``), then runs jobs one after the other until the agent closes its stdin (or it was stopped):
every job after the first finds the imports, wandb's service and the process's caches paid. Between jobs
Keras' global state is cleared. Each job is answered with one ``result`` or ``error`` message carrying the
process's resident memory, which the agent uses to retire a child that grows (``trial_process``).

A job line is ``{"job": {...}}``; every other line on stdin is the agent's answer to an ``epoch`` message.
End of file on stdin stops a job in progress at its next batch and ends the process.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import EnvironmentFault, TrialFailed, TrialPruned, UserError
from .trial_process import FAKE_TRIAL_ENV, FD_ENV


class _Parent:
    """The child's line to the agent: messages out on the pipe; jobs and answers in on stdin (EOF: stop)."""

    def __init__(self, stop: Any):
        self.out = os.fdopen(int(os.environ[FD_ENV]), "wb", buffering=0)
        self.stop = stop
        self.jobs: queue.Queue = queue.Queue()
        self.answers: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in sys.stdin.buffer:
            msg = json.loads(line)
            (self.jobs if "job" in msg else self.answers).put(msg)
        self.stop.request(signal.SIGTERM)  # the agent is gone or done: a job in progress stops at its next batch
        self.answers.put({"prune": False, "gone": True})
        self.jobs.put(None)

    def next_job(self) -> dict[str, Any] | None:
        msg = self.jobs.get()
        return None if msg is None else msg["job"]

    def send(self, **msg: Any) -> None:
        self.out.write((json.dumps(msg, default=str) + "\n").encode())

    def epoch(self, epoch: int, logs: dict) -> dict:
        """The agent's answer to this epoch: ``prune`` and ``stop`` (end now as finished), both bools."""
        self.send(epoch=epoch, logs=logs)
        return self.answers.get()


def rss_mib() -> float:
    """This process's resident memory now, in MiB (Linux; 0.0 where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def main() -> None:
    from ..training.stop import StopRequest

    stop = StopRequest(insist_kills=False)
    stop.install()
    _warm_up()
    parent = _Parent(stop)
    while True:
        job = parent.next_job()
        if job is None:  # the agent finished (or died) before handing over another job
            break
        job["received_at"] = time.time()
        parent.send(ready=True)
        parent.send(**_answer(job, parent, stop), rss_mib=rss_mib())
        if stop.requested:  # a stopped child takes no further job (the agent will not hand it one)
            break
        _between_jobs()
    # Exit without interpreter finalization, which would stall on the reader thread's stdin lock
    # (everything is written and closed by now).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _answer(job: dict[str, Any], parent: _Parent, stop: Any) -> dict[str, Any]:
    """The message that ends ``job``: its result, or the error kind the agent rebuilds (``trial_process``)."""
    try:
        return {"result": _train(job, parent, stop)}
    except TrialPruned as err:
        return {"error": "pruned", "epoch": err.epoch}
    except TrialFailed as err:
        return {"error": "failed", "message": str(err.reason)}
    except EnvironmentFault as err:  # before UserError: a full disk (atomic.DiskError) is both
        return {"error": "fault", "message": str(err), "what": err.what}
    except UserError as err:
        return {"error": "user", "message": str(err)}
    except Exception as err:  # noqa: BLE001 - told to the agent, which records it on the trial
        from ..atomic import disk_error

        disk = disk_error(err)  # a full or read-only disk met outside our own writers: the machine's fault
        if disk is not None:
            return {"error": "fault", "message": str(disk), "what": disk.what}
        return {"error": "crash", "message": f"{type(err).__name__}: {err}"[:2000]}


def _between_jobs() -> None:
    """Drop the last trial's models, graphs and traced functions before the next one."""
    if os.environ.get(FAKE_TRIAL_ENV):
        return
    import keras

    keras.backend.clear_session()
    gc.collect()


def _warm_up() -> None:
    """What every trial needs before its job: the framework and training imports, wandb's service."""
    if os.environ.get(FAKE_TRIAL_ENV):
        return
    import keras  # noqa: F401 - the backend (TensorFlow: ~3 s) is the bulk of a trial's start-up

    from .. import data, models, training  # noqa: F401

    # every trial of a reused child is a new model: TensorFlow's retracing warning would fire for each
    logging.getLogger("tensorflow").addFilter(lambda record: "triggered tf.function retracing" not in
                                              record.getMessage())

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
    then mark the point trained (``fake_trial.json``: the value and the pid that ran it)."""
    import hashlib

    params = json.dumps(job["config"], sort_keys=True, default=str)
    value = int(hashlib.sha256(params.encode()).hexdigest()[:8], 16) / 2 ** 32
    answer = parent.epoch(1, {job["metric"]: value})
    if answer.get("prune"):
        raise TrialPruned(1)
    if job.get("fake_error"):  # a test's way to make this job end with an error of one kind
        raise {"failed": TrialFailed, "crash": RuntimeError}[job["fake_error"]]("fake trial error")
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
    main()
