"""`inat-cnn report SWEEP_ID`: one offline HTML page (plus PNGs) for a sweep, local or W&B."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from .options import BackendOpt, ResultsSweepArg, StorageFileOpt, StorageOpt, WorkspaceOpt

console = Console(highlight=False, soft_wrap=True)


def report(
    sweep_id: str = ResultsSweepArg,
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write; PNGs go to <stem>_plots/"),
    storage: str | None = StorageOpt,
    workspace: Path | None = WorkspaceOpt,
    backend: str = BackendOpt,
    storage_file: Path | None = StorageFileOpt,
) -> None:
    """Leaderboard, parallel coordinates, parameter importance, learning curves and the best trial's figures."""
    from ..engine.storage import resolve_storage
    from ..report.dashboard import write_report
    from ..report.results import complete_pending, read_sweep_results

    storage = resolve_storage(storage, storage_file)
    result = read_sweep_results(sweep_id, backend=backend, storage=storage, workspace=workspace)
    # the top trials a post_training: top_k | export sweep left untested and undrawn
    result = complete_pending(result, workspace=workspace, storage=storage, log=lambda line: console.print(f"  {line}"))
    written = write_report(result, out)
    counts = ", ".join(f"{n} {s}" for s, n in result.counts().items() if n) or "no trials"
    console.print(f"[bold green]✓[/] wrote {written.html} ({counts}); "
                  f"{len(written.pngs)} PNG plots in {written.html.parent / (written.html.stem + '_plots')}")


def register(app: typer.Typer) -> None:
    """Add the `report` command to the root app."""
    app.command("report")(report)
