"""`inat-cnn sweep requeue SWEEP_ID [--reason TEXT | --all]`: run failed points of a sweep again.

Each failed point is queued once: a point that already has a result, a queued copy or a
running trial is left alone, so running the command twice queues nothing more.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from ..errors import UserError
from .options import StorageFileOpt, StorageOpt, WorkspaceOpt


def register(app: typer.Typer) -> None:
    app.command("requeue")(requeue)


def requeue(sweep_id: str = typer.Argument(..., help="Local sweep id"),
            reason: str | None = typer.Option(None, "--reason", help="Only points whose failure reason contains "
                                              "this text (case-insensitive), e.g. 'NaN' or 'environment'"),
            all_failed: bool = typer.Option(False, "--all", help="Every failed point"),
            storage: str | None = StorageOpt, storage_file: Path | None = StorageFileOpt,
            workspace: Path | None = WorkspaceOpt) -> None:
    """Queue failed points of a sweep again (each once); agents then run them."""
    from ..engine import ledger, recovery
    from ..engine.storage import GRACE_S, load_study, open_storage, resolve_storage
    from ..workspace import Workspace

    url = resolve_storage(storage, storage_file) or Workspace.resolve(workspace).db_url
    study, _ = load_study(sweep_id, open_storage(url, must_exist=True))
    recovery.settle(study, GRACE_S)
    trials = study.get_trials(deepcopy=False)
    if not all_failed and not reason:
        retried = ledger.retried_numbers(trials)
        reasons = Counter(ledger.fail_reason(t, retried) for t in ledger.failed_points(trials))
        listed = "; ".join(f"{n} × {why}" for why, n in reasons.most_common(10)) or "none"
        raise UserError(f"say which failed points of {sweep_id} to queue again: --all, or --reason TEXT "
                        f"matching their failure reason. Failed points now: {listed}")
    made = []
    for failed in ledger.failed_points(trials, None if all_failed else reason):
        copy = recovery.requeue_once(study, failed, f"sweep requeue ({ledger.fail_reason(failed, set())})")
        if copy is not None:
            made.append((failed.number, copy))
    if not made:
        print(f"nothing to re-queue in sweep {sweep_id}: no failed point without a result or a queued copy"
              + (f" matches {reason!r}" if reason and not all_failed else ""))
        return
    for failed, copy in made:
        print(f"trial {failed} re-queued as trial {copy}")
    print(f"{len(made)} point(s) queued again; start an agent to run them: inat-cnn agent {sweep_id} --data ROOT")
