"""The local-engine agent: claim trials of one sweep until it is done, surviving faults.

Trials train in child processes that the agent reuses and retires (``trial_process``), so its memory stays flat.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from ..errors import EnvironmentFault, Preempted, SweepStop
from ..training.stop import StopRequest
from ..workspace import Workspace
from . import optuna_adapter as adapter
from . import policy, reconcile, recovery, sweep_data, trial_process
from .objective import TrialContext, make_objective
from .pruning import make_pruner, max_epochs, pruned_note, pruning_options
from .space import make_sampler
from .storage import GRACE_S, HEARTBEAT_S, load_study, open_storage, sweep_seed


@dataclass
class AgentReport(policy.Tally):
    """What one agent did, for its exit message and for tests."""

    preempted: int | None = None
    stop_reason: str = ""


def _stop_reason(study: optuna.Study, rules: policy.Rules) -> str | None:
    """Why the sweep takes no new trial (read only: the storage is not written)."""
    return policy.sweep_stop(study.get_trials(deepcopy=False), rules, study.user_attrs)


def _requeue_after(study: optuna.Study, trial_id: int, why: str, log: Callable[[str], None]) -> int | None:
    """Re-queue the point of a trial this agent could not finish (unless another agent already did)."""
    frozen = adapter.get_trial(study, trial_id)
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
    trial_process.prestart()  # the first trial's child imports while the storage opens and the data is checked
    storage = open_storage(storage_url or workspace.db_url, heartbeat_s, grace_s, must_exist=True)
    study, validated = load_study(sweep_id, storage)
    dataset = sweep_data.bind(study, data_root, log)
    study.sampler = make_sampler(validated.spec, sweep_seed(study))
    study.pruner = make_pruner(validated.spec, max_epochs(validated.spec), pruning_options(study.user_attrs))
    rules = policy.Rules.of(validated.spec)
    stop = StopRequest(insist_kills=False)  # a second signal must not cut the re-queue short
    ctx = TrialContext(sweep_id, validated, Path(data_root), workspace.ensure(), wandb_mode=wandb_mode,
                       dataset=dataset, stop=stop,
                       agent={"host": socket.gethostname(), "pid": os.getpid(), "heartbeat_s": heartbeat_s,
                              "grace_s": grace_s})
    objective = make_objective(ctx)
    report = AgentReport()
    stop.install()
    try:
        while True:
            reason = policy.agent_stop(report, count, stop.requested)
            if reason:
                report.stop_reason = reason
                break
            sweep_data.check_root(data_root)  # before claiming: a missing dataset fails no trial
            recovery.settle(study, grace_s, log)
            reason = _stop_reason(study, rules)
            if reason:
                if _wait_for_lost_trials(study, heartbeat_s, grace_s, stop, log):
                    continue
                report.stop_reason = reason
                break
            ctx.last_trial = count is not None and report.ran + 1 >= count  # its child starts no warm spare
            reason = _one_trial(study, objective, ctx, report, max_consecutive_failures, log)
            if reason:
                report.stop_reason = reason
                break
    finally:
        stop.restore()
        trial_process.close_spare()  # the idle child and a spare: nothing of a trial is in them
    return report


def _one_trial(study: optuna.Study, objective: Callable, ctx: TrialContext, report: AgentReport,
               max_consecutive_failures: int, log: Callable[[str], None]) -> str | None:
    """Claim and run one trial, act on what ``policy`` makes of its end; why the agent stops now, or None."""
    ctx.current_trial_id = None
    err: BaseException | None = None
    try:
        study.optimize(objective, n_trials=1, catch=(), gc_after_trial=False)
    except (Exception, Preempted) as caught:  # noqa: BLE001 - sorted by policy.kind_of, recorded by the objective
        err = caught
    last = None  # the trial as stored: read only when its end needs it (a fault may mean the storage is down)
    if ctx.current_trial_id is not None and (err is None or policy.kind_of(err) in (policy.FAILED, policy.LOST)):
        last = adapter.get_trial(study, ctx.current_trial_id)
    kind = policy.kind_of(err, last.state if last is not None else None)
    number = last.number if last is not None else None
    why = _why(kind, err, last)
    step = policy.after_trial(kind, report, number, why, max_consecutive_failures)
    _tell(kind, number, why, ctx, last, log)
    if step.requeue and step.raise_fault:
        raise _stopped_by(study, ctx, err, log) from None
    if step.requeue and ctx.current_trial_id is not None:
        report.preempted = _requeue_after(study, ctx.current_trial_id, step.requeue, log)
    if step.give_up:
        raise SweepStop(f"agent stopped after {report.consecutive_failures} consecutive failed trials of sweep "
                        f"{ctx.sweep_id}; last reason: {why}. Finished trials are kept; fix the cause, re-queue "
                        "them (`inat-cnn sweep requeue`) and start the agent again.") from None
    return step.stop


def _why(kind: str, err: BaseException | None, last: Any) -> str:
    if kind in (policy.SKIPPED, policy.FULL):
        return str(err)
    if kind == policy.FAILED:
        return last.user_attrs.get("fail_reason", "failed") if last is not None else "failed before training"
    return ""


def _tell(kind: str, number: int | None, why: str, ctx: TrialContext, last: Any, log: Callable[[str], None]) -> None:
    """The agent's log line for one trial's end."""
    if kind == policy.PRUNED:
        note = pruned_note(last.user_attrs)
        log(f"trial {number} pruned after epoch {last.user_attrs.get('epochs_run', '?')}"
            + (f" ({note})" if note else ""))
    elif kind == policy.FINISHED:
        log(f"trial {number} finished: {ctx.metric} {last.value:.4f}")
    elif kind == policy.FAILED:
        log(f"trial {number if number is not None else '?'} failed: {why}")
    elif kind == policy.SKIPPED:
        log(f"{why}; claiming another point")
    elif kind == policy.LOST:
        grace = ctx.agent.get("grace_s", GRACE_S)
        log(f"trial {number if number is not None else '?'} was declared lost while it ran (heartbeat later "
            f"than the {grace} s grace); its re-queued copy counts instead")


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
