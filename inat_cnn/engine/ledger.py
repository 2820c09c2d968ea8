"""Pure bookkeeping over a study's trials: budgets, grid coverage, re-queues, leaderboard rows."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from ..outcome import STATE_ORDER, TRIAL_STATES, TrialOutcome, from_user_attrs
from .pruning import pruned_note
from .space import decode_choice

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def retried_numbers(trials: list[FrozenTrial]) -> set[int]:
    """Trials that were re-queued (preempted, or lost with their agent): a copy runs instead."""
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history", []))
    return out


def is_lost(t: FrozenTrial) -> bool:
    """Failed without a reason of its own: its agent died (the heartbeat expired) before it could say why."""
    return t.state == TrialState.FAIL and not t.user_attrs.get("fail_reason") and not t.user_attrs.get("discarded")


def requeue_reason(t: FrozenTrial) -> str | None:
    """Why this failed trial's point must run again by itself (no result of its own), or None."""
    if t.state != TrialState.FAIL or t.user_attrs.get("discarded"):
        return None
    if t.user_attrs.get("env_fault"):
        return "environment fault"
    if t.user_attrs.get("preempted"):
        return "preempted"
    if is_lost(t):
        return "agent lost (no heartbeat)"
    return None


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that use the run_cap budget: finished or running, not preempted, lost to the environment,
    re-queued or discarded."""
    retried = retried_numbers(trials)
    return [t for t in trials if (t.state in FINISHED or t.state == TrialState.RUNNING)
            and t.number not in retried and not t.user_attrs.get("discarded")
            and not t.user_attrs.get("preempted") and not t.user_attrs.get("env_fault")
            and "ensemble_seed" not in t.system_attrs]  # seed-ensemble trials (engine.seeds) are not the search


def budget_left(trials: list[FrozenTrial], run_cap: int | None) -> float:
    return float("inf") if run_cap is None else run_cap - len(counted(trials))


def grid_exhausted(trials: list[FrozenTrial], grid_size: int | None) -> bool:
    """Every grid point is taken (running or finished) and nothing waits to be re-run."""
    if grid_size is None or any(t.state == TrialState.WAITING for t in trials):
        return False
    taken = {t.system_attrs.get("grid_id") for t in counted(trials)}
    return len(taken - {None}) >= grid_size


def lineage(t: FrozenTrial) -> int:
    """The first trial of a point's chain of re-queued copies (the trial itself when never re-queued)."""
    return int(t.system_attrs.get("failed_trial", t.number))


def cap_conflict(trials: list[FrozenTrial], me: FrozenTrial, run_cap: int | None) -> str | None:
    """Why a freshly claimed trial must not run (other agents used the last of run_cap first), or None.

    Grid points are claimed atomically in the storage (``recovery.claim_grid_point``), not here.
    """
    if "failed_trial" in me.system_attrs or "ensemble_seed" in me.system_attrs or run_cap is None:
        return None  # a re-queued trial always runs: it replaces one already counted
    earlier = [t for t in counted(trials) if t.number < me.number]
    return f"run_cap {run_cap} reached by other agents" if len(earlier) >= run_cap else None


def point_key(t: FrozenTrial) -> Any:
    """What makes two trials the same point: the grid id on a grid, else the parameters."""
    if "grid_id" in t.system_attrs:
        return ("grid", t.system_attrs["grid_id"], t.system_attrs.get("ensemble_seed"))
    return ("params", tuple(sorted((k, repr(v)) for k, v in t.params.items())), t.system_attrs.get("ensemble_seed"))


def failed_points(trials: list[FrozenTrial], reason: str | None = None) -> list[FrozenTrial]:
    """The latest failed trial of every point that has no result and nothing queued or running.

    ``reason``: only those whose failure reason contains it (case-insensitive).
    """
    retried = retried_numbers(trials)
    live = {point_key(t) for t in trials if t.state != TrialState.FAIL and not t.user_attrs.get("discarded")}
    latest: dict[Any, FrozenTrial] = {}
    for t in trials:
        if t.state != TrialState.FAIL or t.user_attrs.get("discarded") or t.number in retried:
            continue
        if point_key(t) in live or (reason and reason.lower() not in fail_reason(t, retried).lower()):
            continue
        if point_key(t) not in latest or latest[point_key(t)].number < t.number:
            latest[point_key(t)] = t
    return sorted(latest.values(), key=lambda t: t.number)


def fail_reason(t: FrozenTrial, retried: set[int]) -> str:
    reason = t.user_attrs.get("fail_reason")
    if reason:
        return reason + ("; re-queued" if t.number in retried else "")
    if is_lost(t):
        return "agent lost (no heartbeat)" + ("; re-queued" if t.number in retried else "")
    return "failed"


@dataclass
class Row:
    """One line of `sweep status`: the trial's place in the sweep, and the outcome the storage holds."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    duration_s: float | None
    note: str
    trial_dir: str | None
    outcome: TrialOutcome

    @property
    def test_accuracy(self) -> float | None:
        return self.outcome.test_accuracy

    @property
    def epochs(self) -> int:
        return self.outcome.epochs_run


def rows(trials: list[FrozenTrial], goal: str, now: _dt.datetime | None = None) -> list[Row]:
    """Leaderboard rows in STATE_ORDER: finished (best value first), pruned, running, waiting, failed."""
    now = now or _dt.datetime.now()
    retried = retried_numbers(trials)
    out = []
    for t in trials:
        if t.user_attrs.get("discarded"):
            continue
        state = TRIAL_STATES[t.state.name]
        end = t.datetime_complete or (now if t.state == TrialState.RUNNING else None)
        duration = (end - t.datetime_start).total_seconds() if end and t.datetime_start else None
        value = t.value if t.state == TrialState.COMPLETE else (
            max(t.intermediate_values.values()) if goal == "maximize" and t.intermediate_values else
            min(t.intermediate_values.values()) if t.intermediate_values else None)
        note = fail_reason(t, retried) if t.state == TrialState.FAIL else "; ".join(filter(None, (
            f"re-run of trial {t.system_attrs['failed_trial']}" if "failed_trial" in t.system_attrs else "",
            pruned_note(t.user_attrs) if t.state == TrialState.PRUNED else "")))
        outcome = from_user_attrs(t.user_attrs, state)
        if "epochs_run" not in t.user_attrs:  # still training: the epochs it reported
            outcome = outcome.noted(epochs_run=len(t.intermediate_values))
        out.append(Row(t.number, state, {k: decode_choice(v) for k, v in t.params.items()}, value,
                       duration, note, t.user_attrs.get("trial_dir"), outcome))
    order = {name: i for i, name in enumerate(STATE_ORDER)}
    sign = -1 if goal == "maximize" else 1

    def key(r: Row) -> tuple:
        return (order[r.state], sign * r.value if r.value is not None and r.state == "finished" else 0, r.number)

    return sorted(out, key=key)
