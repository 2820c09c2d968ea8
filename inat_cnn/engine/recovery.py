"""Exactly-once recovery of lost trials: stale heartbeats, preemption, environment faults, grid claims.

Optuna's own ``fail_stale_trials`` flips a stale trial to FAIL with a read-then-write that
two agents can both win on SQLite (SQLite ignores ``SELECT ... FOR UPDATE``), and its retry
callback then re-queues the trial once per winner: one grid point trains twice. Here every
re-queue goes through one transaction that inserts a row keyed by the failed trial
(``requeued_as`` in Optuna's trial system attributes, unique on (trial, key)) together with
the new WAITING copy. A second agent's insert hits the unique constraint and its whole
transaction, copy included, rolls back, on SQLite (one writer at a time) as on PostgreSQL
(the unique index waits for the first transaction). Whoever flipped the state, the copy
exists once. Grid points are claimed the same way (a study system attribute per point), so
two agents that drew the same point cannot both train it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy import orm as sqlalchemy_orm

from . import ledger, reconcile
from .optuna_adapter import backend, call, models, new_trial_in, session, stale_trial_ids, study_id, trial_id
from .reconcile import REQUEUED_AS

GRID_CLAIM = "grid_claim:"
MAX_LOST = 3  # a point whose agent vanished this many times in a row is left failed (it may kill agents)


def requeue_once(study: optuna.Study, failed: FrozenTrial, reason: str) -> int | None:
    """Put ``failed``'s parameters back in the queue unless some agent already did; the new trial's number.

    The copy keeps the grid point (``grid_id``) and Optuna's retry lineage (``failed_trial``,
    ``retry_history``), so it replaces the failed trial in every count.
    """
    store = backend(study)
    history = list(failed.system_attrs.get("retry_history", [])) + [failed.number]
    lost = int(failed.system_attrs.get("lost_in_a_row", 0))
    system = {k: v for k, v in failed.system_attrs.items() if k != REQUEUED_AS}
    system.update(failed_trial=failed.system_attrs.get("failed_trial", failed.number), retry_history=history,
                  lost_in_a_row=lost + 1 if ledger.is_lost(failed) else 0)
    template = optuna.trial.create_trial(state=TrialState.WAITING, params=failed.params,
                                         distributions=failed.distributions, system_attrs=system,
                                         user_attrs={"requeue_reason": reason})

    def transaction() -> int:
        with session(store) as s:
            models.StudyModel.find_or_raise_by_id(study_id(study), s, for_update=True)
            copy = new_trial_in(store, study_id(study), template, s)
            s.flush()
            s.add(models.TrialSystemAttributeModel(trial_id=trial_id(failed), key=REQUEUED_AS,
                                                   value_json=json.dumps(copy.number)))
            s.flush()  # the unique (trial_id, key) constraint: only one agent gets past here
            return copy.number

    try:
        return call(store, transaction)
    except sqlalchemy_exc.IntegrityError:
        return None  # another agent re-queued it (or our own first try did, and only its reply was lost)


def claim_grid_point(study: optuna.Study, grid_id: int, root: int) -> int:
    """Claim a grid point for the trial lineage ``root`` (first writer wins); the lineage that holds it."""
    store = backend(study)
    key = f"{GRID_CLAIM}{int(grid_id)}"
    if _insert_once(store, models.StudySystemAttributeModel(study_id=study_id(study), key=key,
                                                            value_json=json.dumps(int(root)))):
        return int(root)
    return int(store.get_study_system_attrs(study_id(study))[key])


def _insert_once(store: RDBStorage, row: Any) -> bool:
    """Insert one attribute row; False when the unique (owner, key) constraint says it is there already."""
    def transaction() -> None:
        with session(store) as s:
            s.add(row)

    try:
        call(store, transaction)
        return True
    except sqlalchemy_exc.IntegrityError:
        return False


def insert_study_user_attr_once(study: optuna.Study, key: str, value: Any) -> bool:
    """Set a study user attribute only if no agent set it first (True when this call set it)."""
    return _insert_once(backend(study), models.StudyUserAttributeModel(study_id=study_id(study), key=key,
                                                                        value_json=json.dumps(value)))


def running_ages(study: optuna.Study) -> dict[int, float]:
    """Seconds since each RUNNING trial's last heartbeat (since its start when it never beat), by number.

    Heartbeats are compared with the database's own clock, as Optuna does; a trial killed between
    its claim and its first heartbeat (which Optuna's stale check never sees) by its start time.
    """
    def query() -> dict[int, float]:
        with session(backend(study), read_only=True) as s:
            return _ages(s, study_id(study))

    return call(backend(study), query)


def _ages(session: Any, study_id: int) -> dict[int, float]:
    db_now = session.execute(sqlalchemy.func.now()).scalar().replace(tzinfo=None)
    running = (session.query(models.TrialModel)
               .options(sqlalchemy_orm.selectinload(models.TrialModel.heartbeats))
               .filter(models.TrialModel.state == TrialState.RUNNING, models.TrialModel.study_id == study_id).all())
    ages = {}
    for t in running:
        if t.heartbeats:
            ages[t.number] = (db_now - t.heartbeats[0].heartbeat).total_seconds()
        elif t.datetime_start is not None:  # written by the claiming agent's own clock, like ours
            ages[t.number] = (_dt.datetime.now() - t.datetime_start).total_seconds()
    return ages


def _has_heartbeat(store: RDBStorage, tid: int) -> bool:
    def query() -> bool:
        with session(store, read_only=True) as s:
            return models.TrialHeartbeatModel.where_trial_id(tid, s) is not None

    return call(store, query)


def trial_grace(t: FrozenTrial, default_grace_s: float) -> float:
    """The grace period of the agent that runs ``t`` (it records it), else the caller's."""
    return float((t.user_attrs.get("agent") or {}).get("grace_s", default_grace_s))


def trial_heartbeat(t: FrozenTrial, default_heartbeat_s: float) -> float:
    return float((t.user_attrs.get("agent") or {}).get("heartbeat_s", default_heartbeat_s))


def settle(study: optuna.Study, grace_s: float, log=None) -> list[tuple[int, int]]:  # noqa: ANN001
    """Fail trials whose agent is gone and re-queue every point that must run again, each exactly once.

    A RUNNING trial is stale when its heartbeat is older than its own agent's grace period and the
    storage's stale check (which holds off right after a storage outage) agrees; a trial that never
    sent a heartbeat, when it started longer ago than that. Returns (failed trial, new copy) pairs.
    """
    store = backend(study)
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    beat_stale = set(stale_trial_ids(store, study_id(study)))
    for number, age in running_ages(study).items():
        t = by_number.get(number)
        if t is None:
            continue
        stale = age > max(trial_grace(t, grace_s), grace_s) and (
            trial_id(t) in beat_stale or not _has_heartbeat(store, trial_id(t)))
        if (stale or _agent_gone(t)) and reconcile.reconcile(study, t, log):
            continue  # it had finished: its agent only failed to tell the storage
        if stale:
            try:
                store.set_trial_state_values(trial_id(t), state=TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another agent (or the trial's own) got there first
    made = []
    trials = study.get_trials(deepcopy=False)
    requeued = ledger.retried_numbers(trials)
    for t in trials:
        why = ledger.requeue_reason(t)
        if t.number in requeued or why is None:
            continue
        if reconcile.reconcile(study, t, log):
            continue  # a result in its folder: recorded, not re-run
        if ledger.is_lost(t) and int(t.system_attrs.get("lost_in_a_row", 0)) >= MAX_LOST:
            continue  # left failed: `sweep requeue --reason lost` runs it again on purpose
        copy = requeue_once(study, t, why)
        if copy is not None:
            made.append((t.number, copy))
            if log:
                log(f"trial {t.number} ({why}) re-queued as trial {copy}")
    return made


def on_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's heartbeat-stale callback: re-queue the trial Optuna just failed, exactly once."""
    why = ledger.requeue_reason(trial)
    if why is not None and reconcile.reconcile(study, trial):
        return
    if why is not None and int(trial.system_attrs.get("lost_in_a_row", 0)) < MAX_LOST:
        requeue_once(study, trial, why)


def dying(study: optuna.Study, heartbeat_s: float, grace_s: float) -> dict[int, float]:
    """RUNNING trials whose heartbeat stopped (missed two beats) but are not stale yet: seconds until they are."""
    out = {}
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    for number, age in running_ages(study).items():
        t = by_number.get(number)
        if t is None:
            continue
        grace = trial_grace(t, grace_s)
        if _agent_gone(t) or age > min(2 * trial_heartbeat(t, heartbeat_s) + 1, grace):
            out[number] = max(0.0, grace - age)
    return out


def _agent_gone(t: FrozenTrial) -> bool:
    """The trial's agent ran on this host and its process no longer exists (only ever used to wait longer:
    a PID namespace we cannot see would make a live agent look gone)."""
    agent = t.user_attrs.get("agent") or {}
    if agent.get("host") != socket.gethostname() or not agent.get("pid"):
        return False
    try:
        os.kill(int(agent["pid"]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False
