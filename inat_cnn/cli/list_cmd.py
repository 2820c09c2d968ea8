"""`inat-cnn sweep list`: the sweeps of a storage, one row each."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from ..outcome import TRIAL_STATES
from .options import StorageFileOpt, StorageOpt, WorkspaceOpt

_STATES = tuple(TRIAL_STATES)  # Optuna's names, in the order every listing uses


def register(app: typer.Typer) -> None:
    app.command("list")(list_sweeps)


def list_sweeps(storage: str | None = StorageOpt, storage_file: Path | None = StorageFileOpt,
                workspace: Path | None = WorkspaceOpt) -> None:
    """Table of the sweeps in the storage: id, name, file hash, created, trials by state, dataset."""
    from rich.table import Table

    from ..engine import sweep_data
    from ..engine.storage import open_storage, resolve_storage, storage_url
    from ..engine.sweep_identity import HASH_KEY, spec_hash
    from ..redact import redact_url
    from ..workspace import Workspace
    from .status_view import console

    url = storage_url(resolve_storage(storage, storage_file), Workspace.resolve(workspace))
    store = open_storage(url, must_exist=True)
    studies = sorted(store.get_all_studies(), key=lambda s: s.user_attrs.get("created_at", ""))
    table = Table(title=f"sweeps in {redact_url(url)}", header_style="bold", box=None, pad_edge=False)
    for column in ("id", "name", "file hash", "created", "trials", "dataset"):
        table.add_column(column)
    for study in studies:
        attrs = study.user_attrs
        spec = attrs.get("spec") if isinstance(attrs.get("spec"), dict) else {}
        digest = attrs.get(HASH_KEY) or (spec_hash(spec) if spec else "")
        trials_of = store.get_all_trials(store.get_study_id_from_name(study.study_name), deepcopy=False)
        states = Counter(t.state.name for t in trials_of)
        trials = ", ".join(f"{states[s]} {s.lower()}" for s in _STATES if states[s]) or "none"
        dataset = sweep_data.summary(attrs.get(sweep_data.KEY)) if attrs.get(sweep_data.KEY) else "not stated yet"
        table.add_row(study.study_name, str(spec.get("name") or ""), digest[:12], str(attrs.get("created_at", "")),
                      trials, dataset)
    console.print(table if studies else f"no sweeps in {redact_url(url)} yet: `inat-cnn sweep create FILE` makes one")
