"""Read a sweep into plain records: local Optuna storage, or wandb.Api.

The local side follows the engine's contract: one Optuna study per sweep (study
name = sweep id) with user_attrs spec/metric/goal/backend; per trial params,
user_attrs config/trial_dir plus the outcome's (outcome.USER_ATTRS), intermediate
values epoch → metric, value = the best epoch's metric. A trial's outcome is its
folder's metrics.json when this host has it, else what the storage holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from ..outcome import TOP_K, TRIAL_STATES, TrialOutcome, from_user_attrs, sweep_objective
from ..redact import redact_url
from ..workspace import Workspace
from .records import SweepResult, TrialRecord, best_of, read_json, swept_parameters

BACKENDS = ("local", "wandb")


def read_sweep_results(sweep_id: str, *, backend: str = "local", storage: str | None = None,
                       workspace: str | Path | None = None, api: Any = None) -> SweepResult:
    """The sweep's results from the backend that ran it."""
    if backend == "local":
        return load_local_sweep(sweep_id, storage=storage, workspace=workspace)
    if backend == "wandb":
        from .wandb_source import load_wandb_sweep

        return load_wandb_sweep(sweep_id, api=api)
    raise UserError(f"--backend must be one of {', '.join(BACKENDS)} (got {backend!r})")


def storage_url(storage: str | None, workspace: str | Path | None) -> str:
    """The Optuna storage URL: --storage, else the workspace's sweeps.db."""
    return storage or Workspace.resolve(workspace).db_url


def load_local_sweep(sweep_id: str, *, storage: str | None = None,
                     workspace: str | Path | None = None) -> SweepResult:
    """Read the Optuna study named ``sweep_id`` into a SweepResult."""
    import optuna

    from ..engine.storage import find_study, open_storage

    url = storage_url(storage, workspace)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # open_storage: a missing SQLite file or an unreachable server is a UserError, an outage later is waited out
    study = find_study(sweep_id, open_storage(url, must_exist=True))
    attrs = study.user_attrs
    spec = attrs.get("spec") if isinstance(attrs.get("spec"), dict) else {}
    default_metric, default_goal = sweep_objective(spec.get("metric"))
    metric, goal = attrs.get("metric") or default_metric, attrs.get("goal") or default_goal
    # A "discarded" trial lost a race for a grid point / the last run_cap slot: it never ran.
    trials = [record_from_optuna(t, goal) for t in study.get_trials(deepcopy=False)
              if not t.user_attrs.get("discarded")]
    return SweepResult(sweep_id=sweep_id, backend=attrs.get("backend", "local"), metric=metric, goal=goal,
                       spec=spec, trials=trials, swept=swept_parameters(spec, trials),
                       source=redact_url(url), data_root=attrs.get("data_root"))


def record_from_optuna(trial: Any, goal: str) -> TrialRecord:
    """One Optuna FrozenTrial as a TrialRecord, with its folder's config and outcome."""
    from ..engine.policy import trial_note

    attrs = trial.user_attrs
    trial_dir = Path(attrs["trial_dir"]) if attrs.get("trial_dir") else None
    state = TRIAL_STATES.get(trial.state.name, trial.state.name.lower())
    config, metrics = read_trial_folder(trial_dir)
    if isinstance(attrs.get("config"), dict):
        config = attrs["config"]
    outcome = TrialOutcome.from_json(metrics) if metrics else from_user_attrs(attrs, state)
    if attrs.get("fail_reason"):  # the engine's verdict on how the trial ended (preempted, environment...)
        outcome = outcome.noted(fail_reason=attrs["fail_reason"])
    curve = {int(step): float(v) for step, v in sorted(trial.intermediate_values.items())}
    value = trial.value
    if value is None and state == "pruned":
        value = best_of(list(curve.values()), goal)
    return TrialRecord(
        number=trial.number,
        name=trial_dir.name if trial_dir else f"trial-{trial.number}",
        state=state,
        params=dict(trial.params),
        value=None if value is None else float(value),
        duration_s=_first_number(outcome.wall_time_s, _elapsed(trial.datetime_start, trial.datetime_complete)),
        curve=curve,
        config=config,
        outcome=outcome,
        trial_dir=trial_dir,
        note=trial_note(attrs, state),
    )


def complete_pending(result: SweepResult, *, top_k: int = TOP_K, data_root: str | Path | None = None,
                     workspace: str | Path | None = None, storage: str | None = None,
                     log: Callable[[str], None] = print) -> SweepResult:
    """Test and draw the top ``top_k`` trials that left it for later (``post_training: top_k | export``),
    on ``data_root`` (default: the sweep's dataset), then read the sweep again; ``result`` itself when
    none did (or it is not a local sweep)."""
    pending = [t for t in result.ranked()[:top_k] if t.outcome.pending and t.model_path is not None]
    if result.backend != "local" or not pending:
        return result
    root = data_root or result.data_root
    if not root:
        raise UserError(f"sweep {result.sweep_id} records no dataset: pass --data ROOT to test and draw "
                        f"{', '.join(t.name for t in pending)}")
    from ..training.post_training import complete_trial

    for trial in pending:
        log(f"{trial.name}: {' and '.join(trial.outcome.pending)} left for later (post_training: "
            f"{trial.outcome.post_training}); doing it now")
        complete_trial(trial.trial_dir, Path(root), workspace=workspace)
    return load_local_sweep(result.sweep_id, storage=storage, workspace=workspace)


def read_trial_folder(trial_dir: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config.yaml, metrics.json) of a trial folder; {} for what is missing or unreadable."""
    if trial_dir is None:
        return {}, {}
    config: Any = {}
    try:
        config = yaml.safe_load((trial_dir / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    return (config if isinstance(config, dict) else {}), read_json(trial_dir / "metrics.json")


def _elapsed(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None:
        return None
    return ((end or dt.datetime.now()) - start).total_seconds()


def _first_number(*values: Any) -> float | None:
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
