"""One local-engine trial: Optuna trial → TrialConfig → run_trial → recorded result."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from ..errors import EnvironmentFault, Preempted, TrialFailed, UserError, outcome_of
from ..outcome import TrialOutcome, monitored_metric, sweep_objective, to_user_attrs, top_k_bar
from ..spec import ValidatedSweep
from ..trial_config import parse_trial_config, resolved_dict
from ..workspace import Workspace
from . import ledger, policy, pruning, reconcile, recovery, resume, seeds, sweep_data
from . import optuna_adapter as adapter
from .policy import Discarded
from .space import feature_cache_cuts, sample_parameters
from .trial_process import FAKE_TRIAL_ENV, TrialCrashed, run_in_child

# FAKE_TRIAL_ENV: the test hook for the engine's bookkeeping (benchmarks/stress.py, engine tests): when set
# to a number of seconds, a trial sleeps that long and reports a value derived from its parameters.
__all__ = ["FAKE_TRIAL_ENV", "Discarded", "TrialContext", "make_objective"]


@dataclass
class TrialContext:
    """What every trial of one agent shares."""

    sweep_id: str
    validated: ValidatedSweep
    data_root: Path
    workspace: Workspace
    wandb_mode: str | None = None
    split_seed: int = 0
    current_trial_id: int | None = None
    on_trial_start: Callable[[int], None] | None = None
    dataset: dict[str, Any] | None = None  # the sweep's stated dataset (sweep_data.bind)
    agent: dict[str, Any] = field(default_factory=dict)  # heartbeat_s, grace_s, host, pid: recorded per trial
    stop: Any = None  # the agent's training.stop.StopRequest: set by SIGTERM/SIGINT
    last_trial: bool = False  # the agent's --count ends with this trial (trial_process: no warm spare)

    def stop_requested(self) -> bool:
        return self.stop is not None and self.stop.requested

    @property
    def metric(self) -> str:
        return sweep_objective(self.validated.spec.metric)[0]

    @property
    def goal(self) -> str:
        return sweep_objective(self.validated.spec.metric)[1]


def make_objective(ctx: TrialContext) -> Callable[[optuna.Trial], float]:
    spec = ctx.validated.spec
    train_metric, _ = monitored_metric(ctx.metric, ctx.goal)

    rules = policy.Rules.of(spec)

    def objective(trial: optuna.Trial) -> float:
        ctx.current_trial_id = adapter.trial_id(trial)
        claimed_at = time.time()
        trial.set_user_attr("agent", ctx.agent)
        _claim(ctx, trial, spec.run_cap)
        trial_dir = ctx.workspace.trial_dir(ctx.sweep_id, f"trial-{trial.number:04d}")
        trial.set_user_attr("trial_dir", str(trial_dir))
        if ctx.on_trial_start:
            ctx.on_trial_start(trial.number)
        try:
            if ctx.stop_requested():
                raise Preempted("stop requested before training")
            params = sample_parameters(trial, spec)
            if params.get("model") == "finetune" and (cuts := feature_cache_cuts(spec)):
                params.setdefault("feature_cache_cuts", cuts)  # the first cache build writes every k's cut
            params.update(seeds.overrides(trial))  # a seed-ensemble trial: the best params, its own seed
            config = parse_trial_config(params, source=f"trial {trial.number}")
            trial.set_user_attr("config", resolved_dict(config))
            result, attrs = _train(ctx, trial, config, trial_dir, train_metric, claimed_at, rules)
        except (Exception, Preempted) as err:  # noqa: BLE001 - recorded on the trial by its kind
            told = _record_end(ctx, trial, trial_dir, err)
            if told is err:
                raise
            raise told from (None if isinstance(told, optuna.TrialPruned) else err)
        attrs["claim_to_end_s"] = round(time.time() - claimed_at, 3)
        value = result.get(ctx.metric)
        value = float(result["best_value"] if value is None else value)
        if not math.isfinite(value):  # Optuna would fail it without a reason, which reads as a lost agent
            trial.set_user_attr("fail_reason", f"{ctx.metric} is {value}")
            raise TrialFailed(f"{ctx.metric} is {value}")
        # the folder first: if the storage fails from here on, the next settle records this result
        reconcile.write_outcome(trial_dir, ctx.sweep_id, trial, "COMPLETE", value, attrs)
        for key, attr in attrs.items():
            trial.set_user_attr(key, attr)
        # a value measured once at the end (test_accuracy) is checked here; every epoch was checked already
        _record_target(trial, policy.target_hit(rules, trial.number, attrs.get("best_epoch"), value,
                                                seed_trial=bool(seeds.overrides(trial)), at=time.time()))
        return value

    return objective


def _record_end(ctx: TrialContext, trial: optuna.Trial, trial_dir: Path, err: BaseException) -> BaseException:
    """Record on the trial how it ended (sorted by ``errors.outcome_of``); the exception to give Optuna."""
    kind = outcome_of(err)
    if kind == policy.FAILED and not isinstance(err, TrialFailed):  # a bug in one config, unless the machine did
        fault = sweep_data.environment_problem(ctx.data_root, ctx.dataset)
        if fault is not None:
            err, kind = fault, policy.FAULT
    if kind == policy.PRUNED:
        # the folder first: if the storage fails now, the next settle records this outcome
        decisions = trial.user_attrs.get(pruning.DECISIONS_KEY) or []  # the rung that cut it, and those it passed
        reconcile.write_outcome(trial_dir, ctx.sweep_id, trial, "PRUNED", None,
                                {"epochs_run": err.epoch, pruning.DECISIONS_KEY: decisions})
        trial.set_user_attr("epochs_run", err.epoch)
        return optuna.TrialPruned(str(err))
    if kind == policy.PREEMPTED:
        trial.set_user_attr("preempted", True)
        signal_name = ctx.stop.signal_name if ctx.stop_requested() else "a stop signal"
        trial.set_user_attr("fail_reason", f"preempted (agent received {signal_name})")
    elif kind == policy.FAULT:
        _record_fault(trial, err)
    elif isinstance(err, TrialFailed):  # the configuration's own failure (NaN, too small an image, OOM for its size)
        trial.set_user_attr("fail_reason", str(err.reason))
    else:
        reason = str(err) if isinstance(err, (UserError, TrialCrashed)) else f"{type(err).__name__}: {err}"
        trial.set_user_attr("fail_reason", reason[:500])
    return err


def _record_target(trial: optuna.Trial, hit: policy.TargetHit | None) -> None:
    """This trial reached metric.target: say so on it; the first such epoch of the sweep stops the sweep."""
    if hit is None:
        return
    if trial.user_attrs.get(policy.TARGET_KEY) is None:
        trial.set_user_attr(policy.TARGET_KEY, hit.as_attr())
    if recovery.insert_study_user_attr_once(trial.study, policy.TARGET_KEY, hit.as_attr()):  # first writer wins
        trial.study.set_user_attr(policy.STOPPED_KEY, hit.reason)


def _claim(ctx: TrialContext, trial: optuna.Trial, run_cap: int | None) -> None:
    """Raise Discarded when this trial's slot belongs to another agent (its grid point, or run_cap)."""
    frozen = adapter.frozen(trial)
    conflict = ledger.cap_conflict(trial.study.get_trials(deepcopy=False), frozen, run_cap)
    final = conflict is not None
    grid_id = frozen.system_attrs.get("grid_id")
    if conflict is None and grid_id is not None and seeds.SEED_KEY not in frozen.system_attrs:  # seeds: no claim
        holder = recovery.claim_grid_point(trial.study, grid_id, ledger.lineage(frozen))
        if holder != ledger.lineage(frozen):
            conflict = f"grid point {grid_id} is trained by trial {holder}"
    if conflict:
        trial.set_user_attr("discarded", True)
        raise Discarded(conflict, final=final)


def _record_fault(trial: optuna.Trial, fault: EnvironmentFault) -> None:
    """Not a result: the point is re-queued (recovery.settle) and the agent stops."""
    trial.set_user_attr("env_fault", fault.what)
    trial.set_user_attr("fail_reason", f"environment ({fault.what}): {fault}"[:500])


def _train(ctx: TrialContext, trial: optuna.Trial, config: Any, trial_dir: Path, metric: str,
           claimed_at: float, rules: policy.Rules) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train in a child process (trial_process); the result and the user attributes to record with it."""
    seed_trial = bool(seeds.overrides(trial))  # seed-ensemble trials run to the end and reach no target
    target_each_epoch = metric == rules.metric  # test_accuracy is measured once, at the end

    def on_epoch(epoch: int, logs: dict[str, float]) -> str | None:
        if metric not in logs:
            return None
        value = float(logs[metric])
        trial.report(value, epoch)
        hit = policy.target_hit(rules, trial.number, epoch, value, seed_trial=seed_trial, at=time.time()) \
            if target_each_epoch else None
        _record_target(trial, hit)
        prune = hit is None and trial.should_prune()
        pruning.record_decision(trial, pruning.decision_at(trial.study.pruner, trial.number, epoch))
        return policy.epoch_verdict(hit, prune, seed_trial)

    spec = ctx.validated.spec
    job = {"config": resolved_dict(config), "data_root": str(ctx.data_root), "trial_dir": str(trial_dir),
           "workspace": str(ctx.workspace.root), "metric": metric, "objective_metric": ctx.metric, "goal": ctx.goal,
           "wandb_group": ctx.sweep_id, "wandb_project": spec.project or "inat-cnn", "wandb_mode": ctx.wandb_mode,
           "run_name": f"{ctx.sweep_id}-trial-{trial.number:04d}", "number": trial.number,
           "split_seed": ctx.split_seed, "resume": resume.plan(trial, trial_dir)}
    if config.post_training != "inline":  # where the sweep stands: the trial tests and draws now if it enters
        job["top_k_bar"] = top_k_bar([t.value for t in trial.study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))], ctx.goal)
    handed_over_at = time.time()
    summary = run_in_child(job, on_epoch, ctx.stop, last=ctx.last_trial)
    if ctx.stop_requested() and int(summary.get("epochs_run") or 0) < config.epochs:
        # training ended early at the signal: not a result, the point runs again (from its resume point)
        raise Preempted(f"stopped by {ctx.stop.signal_name} after {summary.get('epochs_run', 0)} epoch(s)")
    attrs = to_user_attrs(TrialOutcome.from_json(summary))
    if summary.get("startup_s") is not None:  # claim → first training step (process, data, model, compile)
        attrs["startup_s"] = round(handed_over_at - claimed_at + summary["startup_s"], 3)
    return summary, attrs

