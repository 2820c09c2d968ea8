"""The local engine's Optuna storage: one study per sweep, with heartbeats and retries.

A sweep is an Optuna study named by the sweep id. The validated W&B spec lives in
the study's user_attrs, so every agent (on any host sharing the storage URL)
rebuilds the same sampler and pruner from it.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import secrets
import warnings
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from ..errors import Problem, UserError
from ..spec import ValidatedSweep, validate_sweep_dict
from ..workspace import Workspace
from .space import direction, local_support_problems

optuna.logging.set_verbosity(logging.ERROR)

HEARTBEAT_S = 10
GRACE_S = 30
MAX_RETRY = 3


def storage_url(storage: str | None, workspace: Workspace) -> str:
    return storage or workspace.db_url


def open_storage(url: str, heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S,
                 must_exist: bool = False) -> RDBStorage:
    """RDB storage with heartbeats: a trial whose agent died is failed and re-queued by the next agent."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}
        path = url.split(":///", 1)[-1]
        if must_exist and not os.path.exists(path):
            raise UserError(f"no sweeps database at {path}: create a sweep first (`inat-cnn sweep create FILE`), "
                            "or point --workspace / --storage at the one your sweep uses")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=heartbeat_s, grace_period=grace_s,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY))
    except Exception as err:  # noqa: BLE001 - any driver error is the user's URL or server
        raise UserError(f"cannot open sweep storage {_redact(url)}: {type(err).__name__}: {err}") from None


def _redact(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def new_sweep_id(validated: ValidatedSweep) -> str:
    stem = validated.spec.name or "sweep"
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-")[:40] or "sweep"
    return f"{stem}-{secrets.token_hex(3)}"


def create_sweep(validated: ValidatedSweep, storage: RDBStorage, sweep_id: str | None = None) -> str:
    """Create the Optuna study of a sweep; clear error when the local engine cannot honour the spec."""
    problems = local_support_problems(validated.spec)
    if problems:
        raise UserError(problems=[Problem(p.message, file=validated.source, key_path=p.key_path) for p in problems])
    sweep_id = sweep_id or new_sweep_id(validated)
    study = optuna.create_study(study_name=sweep_id, storage=storage, direction=direction(validated.spec))
    spec = validated.spec
    study.set_user_attr("spec", spec.to_wandb())
    study.set_user_attr("source", validated.source)
    study.set_user_attr("metric", spec.metric.name if spec.metric else "val_accuracy")
    study.set_user_attr("goal", direction(spec))
    study.set_user_attr("backend", "local")
    study.set_user_attr("created_at", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    return sweep_id


def load_study(sweep_id: str, storage: RDBStorage | str) -> tuple[optuna.Study, ValidatedSweep]:
    """Open a sweep's study and its spec, or a UserError listing the sweeps that exist."""
    if isinstance(storage, str):
        storage = open_storage(storage, must_exist=True)
    try:
        study = optuna.load_study(study_name=sweep_id, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        known = ", ".join(names[-10:]) if names else "none yet (create one with `inat-cnn sweep create FILE`)"
        raise UserError(f"no sweep {sweep_id!r} in this storage; sweeps here: {known}") from None
    validated = validate_sweep_dict(study.user_attrs["spec"], source=study.user_attrs.get("source", sweep_id))
    return study, validated
