"""Seed-ensemble trials: the best configuration re-trained with other seeds, by the sweep's own agents.

``enqueue_seeds`` adds WAITING trials to the sweep's study with the best trial's parameters fixed
(``fixed_params``, as ``study.enqueue_trial`` does, and on a grid the best trial's own ``grid_id``, so
Optuna's GridSampler neither samples them nor stops early; they claim no grid point) and two system
attributes that a re-queued copy keeps: ``ensemble_seed`` (the seed the trial trains with, whatever the
search space says) and ``seed_of`` (the best trial's number). Agents claim them like any trial, in
parallel; a preempted, lost or faulted one is re-queued like any trial. They are not the search: they
use no ``run_cap`` budget and no grid point, are never pruned (``engine.ledger``, ``engine.objective``),
and ``export best`` does not rank them (they are the same-cost baseline and the seed ensemble).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from . import optuna_adapter as adapter

SEED_KEY = "ensemble_seed"
OF_KEY = "seed_of"


def seed_of(trial: FrozenTrial) -> int | None:
    """The best trial a seed trial re-trains, or None for a search trial."""
    value = trial.system_attrs.get(OF_KEY)
    return None if value is None else int(value)


def overrides(trial: optuna.Trial) -> dict[str, Any]:
    """Config keys a seed trial sets over its sampled parameters: its seed ({} for a search trial)."""
    frozen = adapter.frozen(trial)
    seed = frozen.system_attrs.get(SEED_KEY)
    return {} if seed is None else {"seed": int(seed)}


@dataclass
class SeedTrials:
    """The seed trials of one best trial, by seed: the latest attempt of each."""

    best: int
    seeds: list[int]
    trials: dict[int, FrozenTrial] = field(default_factory=dict)

    @property
    def finished(self) -> list[FrozenTrial]:
        return [self.trials[s] for s in self.seeds if s in self.trials and self.trials[s].state == TrialState.COMPLETE]

    @property
    def pending(self) -> list[int]:
        """Seeds still waiting or running (a failed one is pending only while its re-queued copy runs)."""
        return [s for s in self.seeds if s in self.trials and self.trials[s].state in
                (TrialState.WAITING, TrialState.RUNNING)]

    @property
    def failed(self) -> list[int]:
        return [s for s in self.seeds if s in self.trials and self.trials[s].state in
                (TrialState.FAIL, TrialState.PRUNED)]


def wanted_seeds(best: FrozenTrial, n: int) -> list[int]:
    """The N seeds: the ones after the best trial's own (so no copy repeats it)."""
    own = int((best.user_attrs.get("config") or {}).get("seed", 0))
    return [own + i for i in range(1, n + 1)]


def find_seed_trials(study: optuna.Study, best: FrozenTrial, n: int) -> SeedTrials:
    found = SeedTrials(best.number, wanted_seeds(best, n))
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if seed_of(t) == best.number and t.system_attrs.get(SEED_KEY) is not None:
            found.trials[int(t.system_attrs[SEED_KEY])] = t  # later numbers (re-queued copies) win
    return found


def enqueue_seeds(study: optuna.Study, best: FrozenTrial, n: int) -> SeedTrials:
    """Queue the seed trials of ``best`` that do not exist yet (idempotent: a second call adds nothing,
    except a new attempt for a seed whose trial failed by itself); returns them all."""
    found = find_seed_trials(study, best, n)
    system = {"fixed_params": dict(best.params), OF_KEY: best.number}
    for key in ("grid_id", "search_space"):  # Optuna's GridSampler reads both; the best's point is visited already
        if key in best.system_attrs:
            system[key] = best.system_attrs[key]
    for seed in found.seeds:
        if seed in found.trials and seed not in found.failed:
            continue
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.WAITING, params=best.params, distributions=best.distributions,
            system_attrs={**system, SEED_KEY: seed},
            user_attrs={"requeue_reason": f"seed ensemble of trial {best.number}"}))
    return find_seed_trials(study, best, n)


def wait_for_seeds(study: optuna.Study, best: FrozenTrial, n: int, timeout_s: float, poll_s: float = 5.0,
                   log: Callable[[str], None] = print, stop: Callable[[], bool] = lambda: False) -> SeedTrials:
    """Poll until no seed trial is waiting or running (or ``timeout_s`` passed, or ``stop()``)."""
    deadline = time.monotonic() + timeout_s
    found = find_seed_trials(study, best, n)
    announced = -1
    while found.pending and time.monotonic() < deadline and not stop():
        if len(found.finished) != announced:
            announced = len(found.finished)
            log(f"seed trials of trial {best.number}: {announced}/{n} finished, waiting for agents")
        time.sleep(poll_s)
        found = find_seed_trials(study, best, n)
    return found
