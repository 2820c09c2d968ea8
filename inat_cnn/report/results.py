"""Read a sweep into plain records: local Optuna storage, or wandb.Api.

The local side follows the engine's contract: one Optuna study per sweep (study
name = sweep id) with user_attrs spec/metric/goal/backend; per trial params,
user_attrs config/trial_dir/wandb_run_id/fail_reason/test_accuracy/epochs_run,
intermediate values epoch → metric, value = the best epoch's metric.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from ..workspace import Workspace
from .records import SweepResult, TrialRecord, best_of, read_json, swept_parameters

BACKENDS = ("local", "wandb")
_OPTUNA_STATES = {"COMPLETE": "finished", "PRUNED": "pruned", "FAIL": "failed",
                  "RUNNING": "running", "WAITING": "waiting"}


def load_sweep(sweep_id: str, *, backend: str = "local", storage: str | None = None,
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

    from ..engine.storage import open_storage

    url = storage_url(storage, workspace)
    _check_sqlite_exists(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:  # open_storage: an unreachable server is a UserError, an outage later is waited out
        study = optuna.load_study(study_name=sweep_id, storage=open_storage(url))
    except KeyError:
        raise UserError(_unknown_sweep_message(sweep_id, url)) from None
    attrs = study.user_attrs
    spec = attrs.get("spec") if isinstance(attrs.get("spec"), dict) else {}
    metric = attrs.get("metric") or (spec.get("metric") or {}).get("name") or "val_accuracy"
    goal = attrs.get("goal") or (spec.get("metric") or {}).get("goal") or "maximize"
    # A "discarded" trial lost a race for a grid point / the last run_cap slot: it never ran.
    trials = [record_from_optuna(t, goal) for t in study.get_trials(deepcopy=False)
              if not t.user_attrs.get("discarded")]
    return SweepResult(sweep_id=sweep_id, backend=attrs.get("backend", "local"), metric=metric, goal=goal,
                       spec=spec, trials=trials, swept=swept_parameters(spec, trials),
                       source=_redact_url(url), data_root=attrs.get("data_root"))


def record_from_optuna(trial: Any, goal: str) -> TrialRecord:
    """One Optuna FrozenTrial as a TrialRecord, with its folder's config/metrics."""
    attrs = trial.user_attrs
    trial_dir = Path(attrs["trial_dir"]) if attrs.get("trial_dir") else None
    config, metrics = read_trial_folder(trial_dir)
    if isinstance(attrs.get("config"), dict):
        config = attrs["config"]
    curve = {int(step): float(v) for step, v in sorted(trial.intermediate_values.items())}
    state = _OPTUNA_STATES.get(trial.state.name, trial.state.name.lower())
    value = trial.value
    if value is None and state == "pruned":
        value = best_of(list(curve.values()), goal)
    return TrialRecord(
        number=trial.number,
        name=trial_dir.name if trial_dir else f"trial-{trial.number}",
        state=state,
        params=dict(trial.params),
        value=None if value is None else float(value),
        test_accuracy=_first_number(attrs.get("test_accuracy"), metrics.get("test_accuracy")),
        epochs_run=_first_int(attrs.get("epochs_run"), metrics.get("epochs_run"), len(curve) or None),
        duration_s=_first_number(metrics.get("wall_time_s"), _elapsed(trial.datetime_start, trial.datetime_complete)),
        curve=curve,
        config=config,
        metrics=metrics,
        trial_dir=trial_dir,
        fail_reason=attrs.get("fail_reason"),
        wandb_run_id=attrs.get("wandb_run_id") or metrics.get("wandb_run_id"),
    )


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


def _check_sqlite_exists(url: str) -> None:
    """Opening a missing SQLite file would silently create an empty one: refuse instead."""
    if not url.startswith("sqlite:///"):
        return
    path = Path(url.removeprefix("sqlite:///"))
    if not path.is_file():
        raise UserError(f"no sweep database at {path}: run `inat-cnn sweep create` first, or pass "
                        "--workspace DIR / --storage URL (for a W&B sweep: --backend wandb)")


def _unknown_sweep_message(sweep_id: str, url: str) -> str:
    import optuna

    names = sorted(optuna.study.get_all_study_names(storage=url))
    known = ", ".join(names[:20]) if names else "none"
    hint = " (a W&B sweep path? pass --backend wandb)" if "/" in sweep_id else ""
    return f"no sweep {sweep_id!r} in {_redact_url(url)}{hint}; sweeps there: {known}"


def _redact_url(url: str) -> str:
    """A storage URL without its password (PostgreSQL URLs carry one)."""
    from ..engine.storage import redact_url

    return redact_url(url)


def _elapsed(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None:
        return None
    return ((end or dt.datetime.now()) - start).total_seconds()


def _first_number(*values: Any) -> float | None:
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _first_int(*values: Any) -> int | None:
    number = _first_number(*values)
    return None if number is None else int(number)
