"""The local-engine agent: claim trials of one sweep until it is done, surviving faults.

Each trial trains in a fresh child process (``trial_process``), so the agent's memory stays flat.
Faults never stop the sweep or lose a result: a failing trial is recorded with its reason
and the agent goes on (until ``max_consecutive_failures``). SIGTERM/SIGINT only set a flag
(forwarded once to the trial process, which stops after the running batch and leaves a resume
point); the trial is failed as preempted, re-queued exactly once (whatever signals follow) and
the agent exits cleanly. A SIGKILLed agent's trial loses its heartbeat and any agent (or
``sweep status``) re-queues it. An environment fault (dataset gone or changed, cache
corrupt, storage unreachable) re-queues the point and stops the agent with the message.
Every re-queue happens exactly once (``recovery``).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

from ..errors import EnvironmentFault, Preempted, SweepStop
from ..training.stop import StopRequest
from ..workspace import Workspace
from . import ledger, reconcile, recovery, sweep_data
from .objective import Discarded, TrialContext, make_objective
from .space import make_pruner, make_sampler
from .storage import GRACE_S, HEARTBEAT_S, load_study, open_storage


@dataclass
class AgentReport:
    """What one agent did, for its exit message and for tests."""

    finished: list[int] = field(default_factory=list)
    pruned: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    preempted: int | None = None
    stop_reason: str = ""


def _max_epochs(validated: Any) -> int:
    p = validated.spec.parameters.get("epochs")
    if p is None:
        return 10
    return int(max(p.choices())) if p.is_finite else int(p.max)


def _stop_reason(study: optuna.Study, validated: Any) -> str | None:
    if study.user_attrs.get("stopped_reason"):
        return study.user_attrs["stopped_reason"]
    trials = study.get_trials(deepcopy=False)
    if ledger.budget_left(trials, validated.spec.run_cap) <= 0 and \
            not any(t.state == TrialState.WAITING for t in trials):
        return f"run_cap of {validated.spec.run_cap} trials reached"
    if validated.spec.method == "grid" and ledger.grid_exhausted(trials, validated.spec.grid_size()):
        return "every grid point has been claimed"
    return None


def _requeue_after(study: optuna.Study, trial_id: int, why: str, log: Callable[[str], None]) -> int | None:
    """Re-queue the point of a trial this agent could not finish (unless another agent already did)."""
    frozen = study._storage.get_trial(trial_id)
    if reconcile.reconcile(study, frozen, log):  # it had finished: only telling the storage failed
        return frozen.number
    copy = recovery.requeue_once(study, frozen, why)
    log(f"trial {frozen.number} {why}: re-queued as trial {copy}" if copy is not None else
        f"trial {frozen.number} {why}: already re-queued by another agent")
    return frozen.number


def run_agent(sweep_id: str, data_root: Path, *, workspace: Workspace, storage_url: str | None = None,
              count: int | None = None, max_consecutive_failures: int = 3, wandb_mode: str | None = None,
              heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S,
              log: Callable[[str], None] = print) -> AgentReport:
    """Train trials of a local sweep until it is done, ``count`` trials ran, or a stop rule fires.

    Raises UserError when ``data_root`` is not the sweep's dataset, EnvironmentFault when the
    machine fails a trial (its point is re-queued first), SweepStop after too many failures.
    """
    storage = open_storage(storage_url or workspace.db_url, heartbeat_s, grace_s, must_exist=True)
    study, validated = load_study(sweep_id, storage)
    dataset = sweep_data.bind(study, data_root, log)
    study.sampler = make_sampler(validated.spec)
    study.pruner = make_pruner(validated.spec, _max_epochs(validated))
    stop = StopRequest(insist_kills=False)  # a second signal must not cut the re-queue short
    ctx = TrialContext(sweep_id, validated, Path(data_root), workspace.ensure(), wandb_mode=wandb_mode,
                       dataset=dataset, stop=stop,
                       agent={"host": socket.gethostname(), "pid": os.getpid(), "heartbeat_s": heartbeat_s,
                              "grace_s": grace_s})
    objective = make_objective(ctx)
    report, consecutive = AgentReport(), 0
    stop.install()
    try:
        while count is None or len(report.finished) + len(report.pruned) + len(report.failed) < count:
            if stop.requested:
                report.stop_reason = "preempted by a signal"
                break
            sweep_data.check_root(data_root)  # before claiming: a missing dataset fails no trial
            recovery.settle(study, grace_s, log)
            reason = _stop_reason(study, validated)
            if reason:
                if _wait_for_lost_trials(study, heartbeat_s, grace_s, stop, log):
                    continue
                report.stop_reason = reason
                break
            ctx.current_trial_id = None
            try:
                study.optimize(objective, n_trials=1, catch=(), gc_after_trial=False)
            except Discarded as err:
                if err.final:
                    report.stop_reason = str(err)
                    break
                log(f"{err}; claiming another point")
                continue
            except Preempted:
                report.preempted = _requeue_after(study, ctx.current_trial_id, "preempted", log)
                report.stop_reason = "preempted by a signal"
                break
            except EnvironmentFault as fault:
                raise _stopped_by(study, ctx, fault, log) from None
            except optuna.exceptions.UpdateFinishedTrialError:  # our heartbeat came too late: it was re-queued
                log(f"trial {_number(study, ctx)} was declared lost while it ran (heartbeat later than the "
                    f"{grace_s} s grace); its re-queued copy counts instead")
                continue
            except Exception:  # noqa: BLE001 - recorded on the trial by the objective; the agent goes on
                frozen = study._storage.get_trial(ctx.current_trial_id) if ctx.current_trial_id else None
                why = frozen.user_attrs.get("fail_reason", "failed") if frozen else "failed before training"
                report.failed.append((frozen.number if frozen else -1, why))
                log(f"trial {frozen.number if frozen else '?'} failed: {why}")
                consecutive += 1
                if consecutive >= max_consecutive_failures:
                    raise SweepStop(f"agent stopped after {consecutive} consecutive failed trials of sweep "
                                    f"{sweep_id}; last reason: {why}. Finished trials are kept; fix the "
                                    "cause, re-queue them (`inat-cnn sweep requeue`) and start the agent "
                                    "again.") from None
                continue
            last = study._storage.get_trial(ctx.current_trial_id)
            if last.state == TrialState.PRUNED:
                report.pruned.append(last.number)
                log(f"trial {last.number} pruned after epoch {last.user_attrs.get('epochs_run', '?')}")
            else:
                report.finished.append(last.number)
                log(f"trial {last.number} finished: {ctx.metric} {last.value:.4f}")
            consecutive = 0
        else:
            report.stop_reason = f"ran --count {count} trials"
    finally:
        stop.restore()
    return report


def _number(study: optuna.Study, ctx: TrialContext) -> Any:
    return study._storage.get_trial(ctx.current_trial_id).number if ctx.current_trial_id is not None else "?"


def _stopped_by(study: optuna.Study, ctx: TrialContext, fault: EnvironmentFault,
                log: Callable[[str], None]) -> EnvironmentFault:
    """The point goes back in the queue (when the storage lets us), then the agent stops with the fault."""
    where = ""
    if ctx.current_trial_id is not None:
        try:
            number = _requeue_after(study, ctx.current_trial_id, "hit an environment fault", log)
            where = f"; trial {number} was not counted and its point is queued again"
        except EnvironmentFault:  # the storage itself is down: the heartbeat re-queues the trial later
            where = "; its trial is re-queued by the next agent once the storage answers"
    return EnvironmentFault(f"agent stopped: {fault}{where}", what=fault.what)


def _wait_for_lost_trials(study: optuna.Study, heartbeat_s: float, grace_s: float, stop: StopRequest,
                          log: Callable[[str], None]) -> bool:
    """Everything is claimed, but a trial's heartbeat stopped: wait (bounded by its grace) until it can be
    re-queued; True when it was, so this agent can run it instead of leaving the sweep unfinished."""
    announced = False
    deadline = time.monotonic() + grace_s + 2 * heartbeat_s
    while time.monotonic() < deadline and not stop.requested:
        dying = recovery.dying(study, heartbeat_s, grace_s)
        if not dying:
            return False
        if not announced:
            log(f"waiting up to {max(dying.values()):.0f} s for the lost trial(s) "
                f"{', '.join(map(str, sorted(dying)))} to be re-queued")
            announced = True
        time.sleep(min(1.0, heartbeat_s))
        recovery.settle(study, grace_s, log)
        if any(t.state == TrialState.WAITING for t in study.get_trials(deepcopy=False)):
            return True
    return False
