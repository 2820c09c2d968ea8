"""A trial's outcome is written in its folder first; the storage learns it when it can.

The objective writes ``outcome.json`` (atomically) in the trial folder as soon as training has a
result, before any storage call. If the storage then fails (an outage longer than the retry
budget: the tell raises ``EnvironmentFault`` and the agent stops), the trial stays RUNNING, or is
flipped FAIL by a stale check. The next ``settle`` (every agent start and loop, ``sweep status``,
``sweep run``) finds the folder's outcome and records it instead of re-queueing the point: a
finished trial is never stored as failed, and never trained twice.

Exactly once: the record inserts the same ``requeued_as`` row a re-queue inserts (unique on
(trial, key)), in the transaction that flips the state, so a re-queue and a record of one trial
(or two records) cannot both happen.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import exc as sqlalchemy_exc

from .optuna_adapter import backend, call, models, session, trial_id

OUTCOME = "outcome.json"
RECONCILED = "reconciled"
REQUEUED_AS = "requeued_as"  # system attr of a failed trial: the number of the trial re-queued for it
_STATES = {"COMPLETE": TrialState.COMPLETE, "PRUNED": TrialState.PRUNED}


def write_outcome(trial_dir: Path, study_name: str, trial: optuna.Trial, state: str, value: float | None,
                  user_attrs: dict[str, Any]) -> None:
    """The trial's result, in its folder, before the storage is told (temp file + os.replace)."""
    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    body = {"study": study_name, "trial_id": trial_id(trial), "number": trial.number, "state": state,
            "value": value, "user_attrs": user_attrs}
    tmp = trial_dir / f".{OUTCOME}.{os.getpid()}"
    tmp.write_text(json.dumps(body, default=str))
    os.replace(tmp, trial_dir / OUTCOME)


def read_outcome(study: optuna.Study, t: FrozenTrial) -> dict[str, Any] | None:
    """The outcome ``t``'s folder holds for exactly this trial, or None (no folder here, none written)."""
    folder = t.user_attrs.get("trial_dir")
    if not folder:
        return None
    try:
        body = json.loads((Path(folder) / OUTCOME).read_text())
    except (OSError, ValueError):
        return None
    if body.get("study") != study.study_name or body.get("trial_id") != trial_id(t) or \
            body.get("state") not in _STATES:
        return None
    return body


def record(study: optuna.Study, t: FrozenTrial, outcome: dict[str, Any]) -> bool:
    """Store ``outcome`` on the RUNNING or FAIL trial ``t``; False when it was settled already."""
    store = backend(study)
    state = _STATES[outcome["state"]]

    def transaction() -> bool:
        with session(store) as s:
            row = models.TrialModel.find_or_raise_by_id(trial_id(t), s, for_update=True)
            if row.state not in (TrialState.RUNNING, TrialState.FAIL):
                return False
            s.add(models.TrialSystemAttributeModel(trial_id=trial_id(t), key=REQUEUED_AS,
                                                   value_json=json.dumps(RECONCILED)))
            s.flush()  # unique (trial_id, key): a re-queue of this trial, or a second record, stops here
            if outcome.get("value") is not None:
                stored, kind = models.TrialValueModel.value_to_stored_repr(float(outcome["value"]))
                s.add(models.TrialValueModel(trial_id=trial_id(t), objective=0, value=stored, value_type=kind))
            attrs = {**outcome.get("user_attrs", {}), RECONCILED: True}
            for key, value in attrs.items():
                _set_user_attr(s, row, key, value)
            row.state = state
            row.datetime_complete = _dt.datetime.now()
            return True

    try:
        return call(store, transaction)
    except sqlalchemy_exc.IntegrityError:
        return False


def _set_user_attr(session: Any, row: Any, key: str, value: Any) -> None:
    attr = models.TrialUserAttributeModel.find_by_trial_and_key(row, key, session)
    if attr is None:
        session.add(models.TrialUserAttributeModel(trial_id=row.trial_id, key=key, value_json=json.dumps(value)))
    else:
        attr.value_json = json.dumps(value)


def reconcile(study: optuna.Study, t: FrozenTrial, log=None) -> bool:  # noqa: ANN001
    """Record ``t``'s local outcome when its folder has one (True when this call recorded it)."""
    outcome = read_outcome(study, t)
    if outcome is None or not record(study, t, outcome):
        return False
    if log:
        log(f"trial {t.number}: its result ({outcome['state'].lower()}, value {outcome['value']}) was in its "
            "folder but not in the storage; recorded now")
    return True
