"""Early termination on the local engine: W&B's hyperband rungs, judged on one curve rule, every decision kept.

``early_terminate`` (W&B's hyperband: ``min_iter`` or ``max_iter`` + ``s``, ``eta``) places the rungs
(epochs where trials are compared); at a rung a trial goes on only if it is among the best ``1/eta`` of the
trials that reached that rung (at least the best one), as W&B's hyperband stops runs. ``wandb`` sweeps
are pruned by W&B itself; this module is the local engine's. Two choices are options of the sweep
(study user attribute ``pruning``, see ``PruningOptions``):

- ``judge``: the value a trial is judged on at a rung: ``best``, its best epoch so far (default: a noisy
  curve that scored well earlier is not thrown away on one bad epoch), or ``last``, that epoch's value.
- ``rungs``: ``min_iter`` puts rungs at min_iter, min_iter·eta, min_iter·eta², ... below the last epoch
  (W&B's placement; default); ``max_iter`` counts down from the last epoch instead (last/eta, last/eta², ...
  down to min_iter), so no rung sits just before the end, where pruning saves little.

The judging is pure (``decide``: curves in, a ``Decision`` out) so ``engine.replay`` re-runs it on a
finished sweep's curves. Every decision is stored on the trial (user attribute ``pruning``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..errors import UserError
from ..outcome import sweep_objective

OPTIONS_KEY = "pruning"  # study user attribute: PruningOptions.as_attr()
DECISIONS_KEY = "pruning"  # trial user attribute: the list of Decision.as_attr(), one per rung reached
JUDGES = ("best", "last")
PLACEMENTS = ("min_iter", "max_iter")


@dataclass(frozen=True)
class PruningOptions:
    judge: str = "best"
    rungs: str = "min_iter"

    def __post_init__(self) -> None:
        if self.judge not in JUDGES:
            raise UserError(f"pruning judge must be one of {', '.join(JUDGES)} (got {self.judge!r})")
        if self.rungs not in PLACEMENTS:
            raise UserError(f"pruning rungs must be one of {', '.join(PLACEMENTS)} (got {self.rungs!r})")

    def as_attr(self) -> dict[str, str]:
        return asdict(self)


def pruning_options(study_attrs: dict[str, Any]) -> PruningOptions:
    """The sweep's options (the defaults when it stored none)."""
    stored = study_attrs.get(OPTIONS_KEY)
    return PruningOptions(**stored) if isinstance(stored, dict) else PruningOptions()


def store_options(study: optuna.Study, options: PruningOptions) -> None:
    study.set_user_attr(OPTIONS_KEY, options.as_attr())


@dataclass(frozen=True)
class Ladder:
    """The rungs of a sweep and how many survive each: the best ``1/eta`` (at least one)."""

    rungs: tuple[int, ...]
    eta: float
    judge: str = "best"

    def keep(self, reached: int) -> int:
        return max(1, math.floor(reached / self.eta))


def place_rungs(min_iter: int, eta: float, last_epoch: int, placement: str = "min_iter") -> tuple[int, ...]:
    """Rung epochs strictly before ``last_epoch`` (a rung at the last epoch would save nothing)."""
    if eta <= 1 or min_iter < 1:
        return ()
    rungs: set[int] = set()
    k = 0
    while True:
        at = min_iter * eta ** k if placement == "min_iter" else last_epoch / eta ** (k + 1)
        epoch = round(at)
        if (placement == "min_iter" and epoch >= last_epoch) or (placement == "max_iter" and at < min_iter):
            break
        if min_iter <= epoch < last_epoch:
            rungs.add(epoch)
        k += 1
    return tuple(sorted(rungs))


def max_epochs(spec: Any) -> int:
    """The most epochs a trial of the sweep trains (its ``epochs`` parameter; 10, the default, when unset)."""
    p = spec.parameters.get("epochs")
    if p is None:
        return 10
    return int(max(p.choices())) if p.is_finite else int(p.max)


def ladder(spec: Any, max_epochs: int, options: PruningOptions = PruningOptions()) -> Ladder | None:
    """The sweep's ladder from ``early_terminate`` (None: no early termination)."""
    et = spec.early_terminate
    if et is None:
        return None
    min_iter = et.min_iter if et.min_iter is not None else max(1, round(et.max_iter / et.eta ** et.s))
    last = max(et.max_iter or max_epochs, min_iter)
    return Ladder(place_rungs(min_iter, float(et.eta), last, options.rungs), float(et.eta), options.judge)


# --- the judging: curves in, a decision out ---------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """One trial at one rung: the value judged, the threshold it had to reach, among how many trials."""

    rung: int
    judge: str
    value: float
    threshold: float
    reached: int  # trials at this rung, this one included
    keep: int  # how many of them go on
    pruned: bool

    def as_attr(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_attr(cls, attr: dict[str, Any]) -> Decision:
        return cls(**{k: attr[k] for k in cls.__dataclass_fields__})

    def describe(self) -> str:
        verdict = "pruned" if self.pruned else "kept"
        sign = ("<" if self.pruned else "≥") if self.threshold is not None else ""
        return (f"{verdict} at epoch {self.rung}: {self.judge} {self.value:.4g} {sign} {self.threshold:.4g} "
                f"(top {self.keep} of {self.reached})")


def judged(curve: dict[int, float], rung: int, judge: str, goal: str) -> float | None:
    """The value a curve is judged on at ``rung`` (None: it did not reach the rung)."""
    if judge == "last":
        return curve.get(rung)
    if rung not in curve:
        return None
    seen = [v for step, v in curve.items() if step <= rung and math.isfinite(v)]
    if not seen:
        return curve[rung]
    return max(seen) if goal == "maximize" else min(seen)


def decide(curve: dict[int, float], others: list[dict[int, float]], rung: int, ladder_: Ladder,
           goal: str) -> Decision | None:
    """Judge ``curve`` at ``rung`` against the ``others`` that reached it (None: not a rung, or not reached)."""
    if rung not in ladder_.rungs:
        return None
    mine = judged(curve, rung, ladder_.judge, goal)
    if mine is None:
        return None
    values = [mine] + [v for v in (judged(c, rung, ladder_.judge, goal) for c in others) if v is not None]
    ordered = sorted(values, reverse=goal == "maximize")
    keep = ladder_.keep(len(values))
    threshold = ordered[keep - 1]
    worse = mine < threshold if goal == "maximize" else mine > threshold
    return Decision(rung, ladder_.judge, float(mine), float(threshold), len(values), keep, bool(worse))


# --- the Optuna side -------------------------------------------------------------------------------------

def competes(t: FrozenTrial) -> bool:
    """Trials a rung compares against: search trials that ran (a failed one was re-queued: its copy counts)."""
    return t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING) and \
        "ensemble_seed" not in t.system_attrs and not t.user_attrs.get("discarded")


class RungPruner(optuna.pruners.BasePruner):
    """Optuna's pruner interface over ``decide``; the decision of each (trial, rung) is kept for the record."""

    def __init__(self, ladder_: Ladder, goal: str):
        self.ladder, self.goal = ladder_, goal
        self.decisions: dict[tuple[int, int], Decision] = {}

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step not in self.ladder.rungs:
            return False
        others = [t.intermediate_values for t in study.get_trials(deepcopy=False)
                  if t.number != trial.number and competes(t)]
        decision = decide(dict(trial.intermediate_values), others, step, self.ladder, self.goal)
        if decision is None:
            return False
        self.decisions[(trial.number, step)] = decision
        return decision.pruned


def make_pruner(spec: Any, max_epochs: int, options: PruningOptions = PruningOptions()) -> optuna.pruners.BasePruner:
    """The local engine's pruner: the rung ladder of ``early_terminate``, else none."""
    ladder_ = ladder(spec, max_epochs, options)
    if ladder_ is None:
        return optuna.pruners.NopPruner()
    return RungPruner(ladder_, sweep_objective(spec.metric)[1])


def decision_at(pruner: Any, number: int, step: int) -> Decision | None:
    """The decision ``pruner`` took for trial ``number`` at epoch ``step`` (None: no rung there)."""
    return getattr(pruner, "decisions", {}).get((number, step))


def record_decision(trial: optuna.Trial, decision: Decision | None) -> None:
    """Add ``decision`` to the trial's stored list of rung decisions (nothing to do for None)."""
    if decision is None:
        return
    decisions = [d for d in trial.user_attrs.get(DECISIONS_KEY) or [] if d.get("rung") != decision.rung]
    trial.set_user_attr(DECISIONS_KEY, decisions + [decision.as_attr()])


def decisions_of(user_attrs: dict[str, Any]) -> list[Decision]:
    """A stored trial's rung decisions, in rung order."""
    out = []
    for attr in user_attrs.get(DECISIONS_KEY) or []:
        try:
            out.append(Decision.from_attr(attr))
        except (KeyError, TypeError):
            continue
    return sorted(out, key=lambda d: d.rung)


def pruned_note(user_attrs: dict[str, Any]) -> str:
    """One line for a status table or a report: the rung that pruned the trial, else ""."""
    pruned = [d for d in decisions_of(user_attrs) if d.pruned]
    return pruned[-1].describe() if pruned else ""
