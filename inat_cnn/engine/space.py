"""W&B sweep spec → Optuna search space and sampler (pure: no storage, no training; the pruner: engine.pruning).

Mapping (README, "Two sweep backends, one YAML"): value → fixed; values → Categorical; int_uniform → Int;
uniform → Float; log_uniform_values → Float(log); q_uniform → Float/Int(step=q);
grid → GridSampler; random → RandomSampler; bayes → TPESampler (a tree-structured Parzen estimator, not W&B's
Gaussian process: it needs random start-up trials before it models the space, 3-10 by run_cap);
hyperband → engine.pruning. Anything Optuna cannot honour is an error at create time.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from ..errors import Problem, UserError
from ..outcome import sweep_objective
from ..spec import SweepSpec
from ..spec.sweep_spec import ParameterSpec

_SCALARS = (type(None), bool, int, float, str)
SUPPORTED = ("constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform_values")
_USE_WANDB = "or use --backend wandb"


def encode_choice(value: Any) -> Any:
    """Optuna stores only scalars: a list choice (a kernel_size per block) becomes its JSON text."""
    return value if isinstance(value, _SCALARS) else json.dumps(value)


def decode_choice(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def local_support_problems(spec: SweepSpec) -> list[Problem]:
    """What the local engine cannot honour faithfully, located at its key (W&B's backend can)."""
    problems = []
    for name, p in spec.parameters.items():
        dist = p.inferred_distribution
        if p.probabilities is not None:
            problems.append(Problem("`probabilities` cannot be honoured by the local engine (Optuna samples "
                                    f"categories uniformly); remove them {_USE_WANDB}",
                                    key_path=f"parameters.{name}.probabilities"))
        elif dist is not None and dist not in SUPPORTED:
            problems.append(Problem(f"distribution {dist} is not supported by the local engine; supported: "
                                    f"{', '.join(SUPPORTED)} ({_USE_WANDB})",
                                    key_path=f"parameters.{name}.distribution"))
        elif spec.method == "grid" and not p.is_finite:
            problems.append(Problem(f"the local engine's grid takes value/values only; write `{name}` as "
                                    f"values: {p.grid_choices()!r} (what W&B's grid enumerates for {dist}) "
                                    f"{_USE_WANDB}", key_path=f"parameters.{name}"))
    problems += _metric_support_problems(spec)
    return problems


def require_local_support(spec: SweepSpec, source: str) -> None:
    """UserError listing, located in the file ``source``, what the local engine cannot honour (see above)."""
    problems = local_support_problems(spec)
    if problems:
        raise UserError(problems=[Problem(p.message, file=source, key_path=p.key_path) for p in problems])


def _metric_support_problems(spec: SweepSpec) -> list[Problem]:
    metric, problems = spec.metric, []
    if metric is None:
        return problems
    if spec.early_terminate and metric.name == "test_accuracy":
        problems.append(Problem("hyperband needs a metric logged every epoch; test_accuracy is measured once "
                                "at the end: use val_accuracy", key_path="metric.name"))
    if spec.method == "bayes" and metric.impute is not None:
        problems.append(Problem("metric.impute is W&B's bayes value for failed runs; the local engine's TPE "
                                f"leaves failed trials out of its model: remove it {_USE_WANDB}",
                                key_path="metric.impute"))
    if spec.method == "bayes" and metric.impute_while_running not in (None, "false"):
        problems.append(Problem("metric.impute_while_running is W&B's bayes value for running runs; the local "
                                f"engine's TPE does not impute running trials: remove it {_USE_WANDB}",
                                key_path="metric.impute_while_running"))
    return problems


def _distribution(p: ParameterSpec) -> BaseDistribution | None:
    dist = p.inferred_distribution
    if p.values is not None:
        return CategoricalDistribution([encode_choice(v) for v in p.values])
    if dist in (None, "constant"):
        return None
    if dist == "int_uniform":
        return IntDistribution(int(p.min), int(p.max))
    if dist == "uniform":
        return FloatDistribution(float(p.min), float(p.max))
    if dist == "log_uniform_values":
        return FloatDistribution(float(p.min), float(p.max), log=True)
    if dist == "q_uniform":
        q = p.q or 1
        if all(isinstance(v, int) for v in (p.min, p.max, q)):
            return IntDistribution(int(p.min), int(p.max), step=int(q))
        high = p.min + math.floor((p.max - p.min) / q) * q
        return FloatDistribution(float(p.min), float(high), step=float(q))
    raise ValueError(f"unsupported distribution {dist}")  # guarded by local_support_problems


def search_space(spec: SweepSpec) -> dict[str, BaseDistribution]:
    """Optuna distributions of the parameters a sweep varies."""
    space = {}
    for name, p in spec.parameters.items():
        d = _distribution(p)
        if d is not None:
            space[name] = d
    return space


def fixed_parameters(spec: SweepSpec) -> dict[str, Any]:
    """Parameters fixed with ``value:``."""
    return {n: p.value for n, p in spec.parameters.items() if p.values is None and p.is_finite}


def trial_parameters(spec: SweepSpec, sampled: dict[str, Any]) -> dict[str, Any]:
    """The trial config dict: fixed values plus decoded sampled values."""
    return {**fixed_parameters(spec), **{k: decode_choice(v) for k, v in sampled.items()}}


def suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """Ask ``trial`` for parameter ``name`` of distribution ``dist`` (what its sampler proposes)."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    raise TypeError(f"unexpected distribution {dist!r}")


def sample_parameters(trial: optuna.Trial, spec: SweepSpec) -> dict[str, Any]:
    """The trial config dict of ``trial``: its sampled parameters (asked in the space's order, which a seeded
    sampler's stream depends on) with the fixed ones."""
    return trial_parameters(spec, {name: suggest(trial, name, d) for name, d in search_space(spec).items()})


def feature_cache_cuts(spec: SweepSpec) -> list[int]:
    """The frozen-k values a sweep tries when ``trainable_layers`` is a set of values (``values:``), sorted: a
    fine-tuning trial's ``feature_cache_cuts``, so the sweep's first feature-cache build writes every one of
    their cuts in the same pass. ``[]`` when the sweep does not vary it over a finite set of integers."""
    p = spec.parameters.get("trainable_layers")
    if p is None or p.values is None or not p.is_finite:
        return []
    ks = p.choices()
    if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in ks):
        return []
    return sorted(set(ks)) if len(set(ks)) > 1 else []


def startup_trials(run_cap: int | None) -> int:
    """TPE's random start-up trials for a budget of ``run_cap`` trials (10, Optuna's default, when uncapped).

    A tenth of the budget, at least 3 and at most 10. On a synthetic objective over a CS6910-style space,
    a target 2 % of random points reach was reached within 16 trials by 46 % of 150 seeds with 3 start-up
    trials, 36 % with 5 or 10; from 40 trials on the count made no difference (docs/engine.md).
    """
    return 10 if not run_cap else max(3, min(10, run_cap // 10))


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial ``number``'s proposal in a sweep seeded ``seed`` (a 32-bit NumPy seed)."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def _sampler(spec: SweepSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    if spec.method == "grid":
        grid = {name: list(d.choices) for name, d in search_space(spec).items()}
        return optuna.samplers.GridSampler(grid or {"_": [0]}, seed=seed)
    if spec.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # multivariate: once per trial
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=startup_trials(spec.run_cap))


class PerTrialSeedSampler(optuna.samplers.BaseSampler):
    """A sweep's sampler, rebuilt for each trial from the sweep seed and the trial number.

    An Optuna sampler seeded once per process restarts its random stream in every agent process: two agents
    that run one after the other would propose the same first points. Built per trial instead, the proposal
    of trial N depends only on the seed, N and the trials already in the storage, so one agent, several
    agents one after the other, and ``sweep preview`` propose the same points in the same order. The grid
    keeps one shuffle (the sweep seed's): Optuna's grid ids index that shuffled list, which every agent must
    share.
    """

    def __init__(self, spec: SweepSpec, seed: int):
        self._spec, self._seed = spec, seed
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}

    def _for(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        if trial.number not in self._by_trial:
            seed = self._seed if self._spec.method == "grid" else trial_seed(self._seed, trial.number)
            self._by_trial[trial.number] = _sampler(self._spec, seed)
        return self._by_trial[trial.number]

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._for(trial).after_trial(study, trial, state, values)
        self._by_trial.pop(trial.number, None)

    def reseed_rng(self) -> None:  # Optuna calls it for parallel threads; the seeds here are per trial already
        pass


def make_sampler(spec: SweepSpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The sweep's sampler: unseeded (each process draws its own stream), or seeded per trial."""
    return _sampler(spec, None) if seed is None else PerTrialSeedSampler(spec, seed)


def direction(spec: SweepSpec) -> str:
    return sweep_objective(spec.metric)[1]
