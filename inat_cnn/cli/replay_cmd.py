"""`inat-cnn sweep replay-pruning SWEEP_ID [--min-iter N] [--eta E] [--judge best|last] [--rungs ...]`.

Re-runs the pruning decisions on a finished local sweep's per-epoch curves (engine.replay) and prints what
those rules would have pruned and saved, and whether the best trial survives. Nothing is trained or written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from ..errors import UserError
from .options import StorageFileOpt, StorageOpt, WorkspaceOpt


def register(app: typer.Typer) -> None:
    app.command("replay-pruning")(replay_pruning)


def replay_pruning(sweep_id: str = typer.Argument(..., help="Local sweep id"),
                   min_iter: int | None = typer.Option(None, "--min-iter", min=1,
                                                       help="First rung (default: the sweep's early_terminate)"),
                   eta: float | None = typer.Option(None, "--eta", min=1.01, help="Keep the best 1/eta at each rung "
                                                    "(default: the sweep's, else 3)"),
                   judge: str | None = typer.Option(None, "--judge", help="best (the best epoch so far) or last "
                                                    "(the rung epoch's value); default: the sweep's"),
                   rungs: str | None = typer.Option(None, "--rungs", help="min_iter (min_iter·eta^k, W&B's) or "
                                                    "max_iter (counted down from the last epoch); default: the "
                                                    "sweep's"),
                   storage: str | None = StorageOpt, storage_file: Path | None = StorageFileOpt,
                   workspace: Path | None = WorkspaceOpt) -> None:
    """Show what other early-termination settings would have pruned and saved on a finished sweep."""
    from ..engine import pruning
    from ..engine.replay import replay
    from ..engine.storage import load_study, open_storage, resolve_storage
    from ..outcome import sweep_objective
    from ..workspace import Workspace

    url = resolve_storage(storage, storage_file) or Workspace.resolve(workspace).db_url
    study, validated = load_study(sweep_id, open_storage(url, must_exist=True))
    spec = validated.spec
    goal = sweep_objective(spec.metric)[1]
    stored = pruning.pruning_options(study.user_attrs)
    options = pruning.PruningOptions(judge or stored.judge, rungs or stored.rungs)
    live = pruning.ladder(spec, pruning.max_epochs(spec), stored)
    et = spec.early_terminate
    if min_iter is None and et is None:
        raise UserError(f"sweep {sweep_id} has no early_terminate: say which rules to replay (--min-iter N, "
                        "and --eta E, default 3)")
    first = min_iter or (et.min_iter if et.min_iter is not None else max(1, round(et.max_iter / et.eta ** et.s)))
    eta = eta or (float(et.eta) if et is not None else 3.0)
    last = max((et.max_iter if et is not None and et.max_iter else 0) or pruning.max_epochs(spec), first)
    ladder = pruning.Ladder(pruning.place_rungs(first, eta, last, options.rungs), eta, options.judge)
    result = replay(_curves(study), ladder, goal)
    _print(sweep_id, result, live, first, eta, options)


def _curves(study: Any) -> list[Any]:
    """The finished and pruned search trials' curves, with each epoch's seconds from its history.csv."""
    from optuna.trial import TrialState

    from ..engine.replay import Curve
    from ..report.records import read_history

    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED) or "ensemble_seed" in t.system_attrs \
                or t.user_attrs.get("discarded") or not t.intermediate_values:
            continue
        folder = t.user_attrs.get("trial_dir")
        rows = read_history(Path(folder) / "history.csv") if folder else []
        seconds = {i: row["epoch_time_s"] for i, row in enumerate(rows, start=1)
                   if not math.isnan(row.get("epoch_time_s", math.nan))}
        out.append(Curve(t.number, "finished" if t.state == TrialState.COMPLETE else "pruned",
                         {int(k): float(v) for k, v in t.intermediate_values.items()}, seconds, t.value))
    return out


def _print(sweep_id: str, result: Any, live: Any, first: int, eta: float, options: Any) -> None:
    from rich.table import Table

    from .status_view import console

    table = Table(header_style="bold")
    for col in ("trial", "state", "epochs", "replayed", "saved epochs", "saved s"):
        table.add_column(col)
    for t in result.trials:
        if t.cut_at is not None:
            what = t.decision.describe()
        elif t.unknown_after:
            what = f"kept past epoch {t.ran}: what follows is unknown"
        else:
            what = t.decision.describe() if t.decision is not None else "kept (reached no rung)"
        table.add_row(str(t.number), t.state, str(t.ran), what, str(t.saved_epochs), f"{t.saved_s:.1f}")
    ran = f"rungs {', '.join(map(str, live.rungs)) or 'none'}, judge {live.judge}" if live else "no early_terminate"
    console.print(f"sweep {sweep_id} replayed with min_iter {first}, eta {eta:g}, rungs "
                  f"{', '.join(map(str, result.ladder.rungs)) or 'none'} ({options.rungs}), judge {options.judge} "
                  f"(the sweep ran with {ran}); trials in claim order, as one agent would run them")
    console.print(table)
    share = result.saved_epochs / result.epochs if result.epochs else 0.0
    seconds = f" and {result.saved_s:.1f} s of {result.seconds:.1f} s" if result.seconds else \
        " (no epoch times recorded)"
    console.print(f"would prune {len(result.cut)} of {len(result.trials)} trials "
                  f"({sum(t.state == 'pruned' for t in result.trials)} were pruned), saving {result.saved_epochs} of "
                  f"{result.epochs} trained epochs ({share:.0%}){seconds}")
    if result.best is None:
        console.print("no trial finished: nothing to keep")
    elif result.best_cut_at is None:
        console.print(f"the best trial, {result.best}, survives")
    else:
        console.print(f"the best trial, {result.best}, would be pruned at epoch {result.best_cut_at}")
    if result.unknown:
        console.print(f"{len(result.unknown)} trial(s) the sweep pruned would be kept "
                      f"({', '.join(str(t.number) for t in result.unknown)}): their later epochs were never "
                      "trained, so their cost and score past that point are unknown (not counted)")
