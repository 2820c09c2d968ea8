"""The local agent's decisions, from plain data: no storage, no training, no clock.

The agent (``engine.agent``) reads the trials and the sweep's attributes, asks this module what to do and
does it: claim the next trial, stop with a reason, re-queue a point, count a failure. The objective asks
it, at every reported epoch, whether the trial goes on, is pruned, or ends because the sweep reached its
``metric.target``. Every outcome of a trial is sorted here, in one place (``kind_of``), into the kinds
the agent acts on. Trials are Optuna's ``FrozenTrial`` records (plain data; ``engine.ledger`` counts
them), the rules come from the validated sweep spec (``Rules.of``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from ..errors import outcome_of
from ..outcome import DEFAULT_GOAL, DEFAULT_METRIC, sweep_objective
from . import ledger
from .pruning import pruned_note

STOPPED_KEY = "stopped_reason"  # study user attribute: why the sweep stopped (any agent set it)
TARGET_KEY = "target_reached"  # study user attribute: the first epoch that reached metric.target (TargetHit)


@dataclass(frozen=True)
class Rules:
    """What of the sweep spec the agent's decisions depend on."""

    metric: str = DEFAULT_METRIC
    goal: str = DEFAULT_GOAL
    target: float | None = None
    run_cap: int | None = None
    method: str = "random"
    grid_size: int | None = None

    @classmethod
    def of(cls, spec: Any) -> Rules:
        metric = spec.metric
        name, goal = sweep_objective(metric)
        return cls(metric=name, goal=goal,
                   target=None if metric is None or metric.target is None else float(metric.target),
                   run_cap=spec.run_cap, method=spec.method,
                   grid_size=spec.grid_size() if spec.method == "grid" else None)


# --- the metric target, at every reported epoch -----------------------------------------------------------

@dataclass(frozen=True)
class TargetHit:
    """A trial's epoch whose value reached ``metric.target`` (epoch None: a value measured once, at the end)."""

    trial: int
    epoch: int | None
    value: float
    target: float
    at: float | None = None  # unix time the agent saw it

    @property
    def reason(self) -> str:
        where = f" at epoch {self.epoch}" if self.epoch is not None else ""
        return f"metric target {self.target} reached by trial {self.trial}{where} ({self.value:.4g})"

    def as_attr(self) -> dict[str, Any]:
        return {"trial": self.trial, "epoch": self.epoch, "value": self.value, "target": self.target, "at": self.at}

    @classmethod
    def from_attr(cls, attr: Any) -> TargetHit | None:
        if not isinstance(attr, dict) or not {"trial", "value", "target"} <= attr.keys():
            return None
        return cls(int(attr["trial"]), None if attr.get("epoch") is None else int(attr["epoch"]),
                   float(attr["value"]), float(attr["target"]), attr.get("at"))


def trial_note(user_attrs: dict[str, Any], state: str) -> str:
    """How the engine ended a trial, in one line: the target it reached, or the rung that pruned it."""
    hit = TargetHit.from_attr(user_attrs.get(TARGET_KEY))
    if hit is not None:
        where = f" at epoch {hit.epoch}" if hit.epoch is not None else ""
        return f"reached metric target {hit.target}{where} ({hit.value:.4g})"
    return pruned_note(user_attrs) if state == "pruned" else ""


def reaches_target(value: float | None, rules: Rules) -> bool:
    if rules.target is None or value is None or not math.isfinite(value):
        return False
    return value >= rules.target if rules.goal == "maximize" else value <= rules.target


def target_hit(rules: Rules, trial: int, epoch: int | None, value: float | None, *, seed_trial: bool = False,
               at: float | None = None) -> TargetHit | None:
    """The hit when this value of a search trial reaches the target (seed-ensemble trials are not the search)."""
    if seed_trial or not reaches_target(value, rules):
        return None
    return TargetHit(trial, epoch, float(value), float(rules.target), at)


PRUNE, STOP = "prune", "stop"


def epoch_verdict(hit: TargetHit | None, should_prune: bool, seed_trial: bool) -> str | None:
    """What the trial does after a reported epoch: ``stop`` (it reached the target: the sweep is done and its
    best checkpoint is this epoch, so it ends now as finished, never pruned), ``prune``, or None (go on)."""
    if hit is not None:
        return STOP
    return PRUNE if should_prune and not seed_trial else None


# --- before claiming: does this agent go on? --------------------------------------------------------------

@dataclass
class Tally:
    """What one agent did so far (its exit report)."""

    finished: list[int] = field(default_factory=list)
    pruned: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    consecutive_failures: int = 0

    @property
    def ran(self) -> int:
        return len(self.finished) + len(self.pruned) + len(self.failed)


def agent_stop(tally: Tally, count: int | None, stop_requested: bool) -> str | None:
    """Why this agent stops before touching the storage again (its own limits), or None."""
    if count is not None and tally.ran >= count:
        return f"ran --count {count} trials"
    if stop_requested:
        return "preempted by a signal"
    return None


def sweep_stop(trials: list[FrozenTrial], rules: Rules, study_attrs: dict[str, Any]) -> str | None:
    """Why the sweep takes no new trial (target reached, run_cap used, grid claimed), or None."""
    if study_attrs.get(STOPPED_KEY):
        return str(study_attrs[STOPPED_KEY])
    hit = TargetHit.from_attr(study_attrs.get(TARGET_KEY))
    if hit is not None:
        return hit.reason
    if ledger.budget_left(trials, rules.run_cap) <= 0 and not any(t.state == TrialState.WAITING for t in trials):
        return f"run_cap of {rules.run_cap} trials reached"
    if rules.method == "grid" and ledger.grid_exhausted(trials, rules.grid_size):
        return "every grid point has been claimed"
    return None


# --- after a trial: sort its outcome, then act -----------------------------------------------------------

class Discarded(Exception):
    """Another agent claimed this trial's slot first: a grid point (``final`` False: claim another one),
    or the last of run_cap (``final``: the sweep is full)."""

    def __init__(self, message: str, final: bool):
        self.final = final
        super().__init__(message)


FINISHED, PRUNED, FAILED, PREEMPTED, FAULT = "finished", "pruned", "failed", "preempted", "fault"
SKIPPED, FULL, LOST = "skipped", "full", "lost"  # another agent's grid point / run_cap slot; declared lost


def kind_of(err: BaseException | None, final_state: TrialState | None = None) -> str:
    """Every way a claimed trial can end, as one kind. ``err``: what ``study.optimize`` raised (None: it
    returned, and ``final_state`` is the trial's stored state)."""
    if err is None:
        return PRUNED if final_state == TrialState.PRUNED else FINISHED
    if isinstance(err, UpdateFinishedTrialError):
        return LOST  # our heartbeat came too late: the trial was re-queued while it ran
    if isinstance(err, Discarded):  # the slot belonged to another agent
        return FULL if err.final else SKIPPED
    return outcome_of(err)


@dataclass(frozen=True)
class Step:
    """What the agent does after one trial: go on, or stop with a reason; ``requeue`` the point first,
    ``raise_fault`` (an environment fault: re-queue, then stop with it), ``give_up`` (too many failures)."""

    stop: str | None = None
    requeue: str | None = None
    raise_fault: bool = False
    give_up: bool = False


def after_trial(kind: str, tally: Tally, number: int | None, why: str = "",
                max_consecutive_failures: int = 3) -> Step:
    """Record ``kind`` in ``tally`` and say what comes next."""
    if kind == FINISHED:
        tally.finished.append(number)
    elif kind == PRUNED:
        tally.pruned.append(number)
    elif kind == FAILED:
        tally.failed.append((-1 if number is None else number, why))
        tally.consecutive_failures += 1
        return Step(give_up=tally.consecutive_failures >= max_consecutive_failures)
    elif kind == PREEMPTED:
        return Step(stop="preempted by a signal", requeue="preempted")
    elif kind == FAULT:
        return Step(requeue="hit an environment fault", raise_fault=True)
    elif kind == FULL:
        return Step(stop=why)
    if kind in (FINISHED, PRUNED):
        tally.consecutive_failures = 0
    return Step()  # finished, pruned, skipped, lost: claim the next one
