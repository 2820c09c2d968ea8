"""The few private corners of Optuna the engine needs, in one place (Optuna 5.0).

Optuna's public API has no way to read one trial by its storage id, to open a transaction on its
relational storage, or to insert a trial inside one (what ``recovery``'s exactly-once re-queue and
``reconcile``'s exactly-once record are built on). Everything that reaches past the public API goes
through here, so an Optuna upgrade is checked in one file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.storages._rdb import models  # noqa: F401 - re-exported: the relational tables
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial

__all__ = ["backend", "call", "frozen", "get_trial", "models", "new_trial_in", "session", "stale_trial_ids",
           "study_id", "trial_id"]


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a trial (not its number)."""
    return trial._trial_id


def study_id(study: optuna.Study) -> int:
    return study._study_id


def get_trial(study: optuna.Study, tid: int) -> FrozenTrial:
    """A trial of ``study`` by its storage id, as stored now."""
    return study._storage.get_trial(tid)


def frozen(trial: optuna.Trial) -> FrozenTrial:
    """The running trial's stored record (its system attributes, which ``optuna.Trial`` does not show)."""
    return get_trial(trial.study, trial_id(trial))


def backend(study: optuna.Study) -> RDBStorage:
    """The relational storage under the study (under ``engine.storage.ResilientStorage`` when it wraps one)."""
    storage = study._storage
    return getattr(storage, "_backend", storage)


def call(store: RDBStorage, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` through the storage's outage retries when it has them (engine.storage.ResilientStorage)."""
    retrying = getattr(store, "call", None)
    return retrying(fn, *args) if retrying is not None else fn(*args)


@contextlib.contextmanager
def session(store: RDBStorage, read_only: bool = False) -> Iterator[Any]:
    """One transaction on the relational storage (committed on exit, rolled back on an error)."""
    with _create_scoped_session(store.scoped_session, read_only) as s:
        yield s


def new_trial_in(store: RDBStorage, sid: int, template: FrozenTrial, s: Any) -> FrozenTrial:
    """Insert ``template`` as a new trial of study ``sid`` inside the open transaction ``s``."""
    return store._get_prepared_new_trial(sid, template, s)


def stale_trial_ids(store: RDBStorage, sid: int) -> list[int]:
    """Ids of RUNNING trials whose heartbeat is older than the storage's grace period (Optuna's own check)."""
    return list(store._get_stale_trial_ids(sid))
