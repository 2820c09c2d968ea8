"""Which sweep a file already made: a content hash of the validated spec, and one study per hash.

``sweep create FILE`` / ``sweep run FILE`` twice used to make a second sweep and train the whole grid
again. The hash is SHA-256 of the validated spec as W&B would receive it (canonical JSON, sorted keys),
so comments, key order and formatting of the YAML do not matter, and any change to what is searched
does. The first sweep of a spec is the study ``<name>-<hash[:6]>``: two commands that start at once
both try to create that name, the storage's unique study name lets one win, and the other continues
the winner's sweep. ``--new`` makes a sweep with a random suffix instead.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import optuna

from ..spec import ValidatedSweep
from .storage import create_sweep, new_sweep_id

HASH_KEY = "spec_hash"
_WAIT_S = 30.0  # how long the loser of a creation race waits for the winner to record the spec


def spec_hash(spec: dict[str, Any]) -> str:
    """SHA-256 (hex) of a W&B spec dict in canonical JSON."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _stored_hash(attrs: dict[str, Any]) -> str | None:
    if attrs.get(HASH_KEY):
        return attrs[HASH_KEY]
    return spec_hash(attrs["spec"]) if isinstance(attrs.get("spec"), dict) else None  # sweeps made before the key


def find_same(storage: Any, digest: str) -> str | None:
    """The id of the newest sweep in ``storage`` made from a spec with this hash, or None."""
    same = [(s.user_attrs.get("created_at", ""), s.study_name) for s in storage.get_all_studies()
            if _stored_hash(s.user_attrs) == digest]
    return max(same)[1] if same else None


@dataclass(frozen=True)
class SweepChoice:
    sweep_id: str
    existed: bool  # True: a sweep of this spec was already there and is continued


def create_or_continue(validated: ValidatedSweep, storage: Any, new: bool = False,
                       seed: int | None = None) -> SweepChoice:
    """The existing sweep of ``validated``'s spec (unless ``new``), else a fresh one seeded ``seed``; safe when
    run twice at once."""
    digest = spec_hash(validated.spec.to_wandb())
    if not new:
        existing = find_same(storage, digest)
        if existing:
            return SweepChoice(existing, True)
        candidate = f"{new_sweep_id(validated).rsplit('-', 1)[0]}-{digest[:6]}"
        try:
            sweep_id = create_sweep(validated, storage, sweep_id=candidate, seed=seed)
        except optuna.exceptions.DuplicatedStudyError:
            if _wait_for_hash(storage, candidate) == digest:
                return SweepChoice(candidate, True)  # another command created it a moment ago
            sweep_id = create_sweep(validated, storage, seed=seed)  # another spec took the name (a 6-hex clash)
    else:
        sweep_id = create_sweep(validated, storage, seed=seed)
    storage.set_study_user_attr(storage.get_study_id_from_name(sweep_id), HASH_KEY, digest)
    return SweepChoice(sweep_id, False)


def _wait_for_hash(storage: Any, sweep_id: str) -> str | None:
    """The spec hash of ``sweep_id`` once its creator has recorded the spec (None if it never does)."""
    study_id = storage.get_study_id_from_name(sweep_id)
    deadline = time.monotonic() + _WAIT_S
    while True:
        found = _stored_hash(storage.get_study_user_attrs(study_id))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
