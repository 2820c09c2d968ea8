"""The local-engine agent: claim trials of one sweep until it is done, surviving faults.

Faults never stop the sweep or lose a result: a failing trial is recorded with its
reason and the agent goes on (until ``max_consecutive_failures``); SIGTERM/SIGINT
fail the running trial as preempted, re-queue its parameters and exit cleanly; a
SIGKILLed agent's trial loses its heartbeat and the next agent re-queues it.
"""

from __future__ import annotations

import signal
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

from ..errors import Preempted, SweepStop
from ..workspace import Workspace
from . import ledger
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


def requeue(study: optuna.Study, trial_number: int) -> None:
    """Put a preempted trial's parameters back in the queue (as Optuna's retry callback does)."""
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == trial_number)
    history = list(frozen.system_attrs.get("retry_history", [])) + [trial_number]
    system_attrs = {**frozen.system_attrs, "failed_trial": frozen.system_attrs.get("failed_trial", trial_number),
                    "retry_history": history}
    study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, params=frozen.params,
                                              distributions=frozen.distributions, system_attrs=system_attrs))


def _stop_reason(study: optuna.Study, validated: Any) -> str | None:
    with warnings.catch_warnings():  # fail (and re-queue) trials of dead agents before counting the budget
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    if study.user_attrs.get("stopped_reason"):
        return study.user_attrs["stopped_reason"]
    trials = study.get_trials(deepcopy=False)
    if ledger.budget_left(trials, validated.spec.run_cap) <= 0 and \
            not any(t.state == TrialState.WAITING for t in trials):
        return f"run_cap of {validated.spec.run_cap} trials reached"
    if validated.spec.method == "grid" and ledger.grid_exhausted(trials, validated.spec.grid_size()):
        return "every grid point has been claimed"
    return None


def run_agent(sweep_id: str, data_root: Path, *, workspace: Workspace, storage_url: str | None = None,
              count: int | None = None, max_consecutive_failures: int = 3, wandb_mode: str | None = None,
              heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S,
              log: Callable[[str], None] = print) -> AgentReport:
    """Train trials of a local sweep until it is done, ``count`` trials ran, or a stop rule fires."""
    storage = open_storage(storage_url or workspace.db_url, heartbeat_s, grace_s, must_exist=True)
    study, validated = load_study(sweep_id, storage)
    if "data_root" not in study.user_attrs:  # for exports that measure the ensemble on the test split
        study.set_user_attr("data_root", str(Path(data_root).resolve()))
    study.sampler = make_sampler(validated.spec)
    study.pruner = make_pruner(validated.spec, _max_epochs(validated))
    ctx = TrialContext(sweep_id, validated, Path(data_root), workspace.ensure(), wandb_mode=wandb_mode)
    objective = make_objective(ctx)
    report, consecutive = AgentReport(), 0
    previous = _install_signal_handlers()
    try:
        while count is None or len(report.finished) + len(report.pruned) + len(report.failed) < count:
            reason = _stop_reason(study, validated)
            if reason:
                report.stop_reason = reason
                break
            ctx.current_trial_id = None
            try:
                study.optimize(objective, n_trials=1, catch=(), gc_after_trial=False)
            except Discarded as err:
                report.stop_reason = str(err)
                break
            except Preempted:
                if ctx.current_trial_id is not None:
                    number = study._storage.get_trial(ctx.current_trial_id).number
                    requeue(study, number)
                    report.preempted = number
                    log(f"trial {number} preempted: marked failed and re-queued for another agent")
                report.stop_reason = "preempted by a signal"
                break
            except Exception:  # noqa: BLE001 - recorded on the trial by the objective; the agent goes on
                frozen = study._storage.get_trial(ctx.current_trial_id) if ctx.current_trial_id else None
                why = frozen.user_attrs.get("fail_reason", "failed") if frozen else "failed before training"
                report.failed.append((frozen.number if frozen else -1, why))
                log(f"trial {frozen.number if frozen else '?'} failed: {why}")
                consecutive += 1
                if consecutive >= max_consecutive_failures:
                    raise SweepStop(f"agent stopped after {consecutive} consecutive failed trials of sweep "
                                    f"{sweep_id}; last reason: {why}. Finished trials are kept; fix the "
                                    "cause and start the agent again.") from None
                continue
            last = study.get_trials(deepcopy=False)[-1] if ctx.current_trial_id is None else \
                study._storage.get_trial(ctx.current_trial_id)
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
        _restore_signal_handlers(previous)
    return report


def _raise_preempted(signum: int, frame: Any) -> None:
    """First signal: stop gracefully (re-queue the running trial). A second one kills as usual; the
    heartbeat then re-queues the trial."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    raise Preempted(f"signal {signal.Signals(signum).name}")


def _install_signal_handlers() -> dict[int, Any]:
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, _raise_preempted)
        except ValueError:  # not the main thread (e.g. inside a test runner thread)
            pass
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
