"""`inat-cnn export best SWEEP_ID --out DIR [--top-k K] [--snapshots] [--seeds N]`: the best trial, ready to
reload, with a model card, and its ensembles judged on the test split (docs/ensembles.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from .options import BackendOpt, ResultsSweepArg, StorageFileOpt, StorageOpt, WorkspaceOpt

app = typer.Typer(help="Export sweep results: the best trial's model, config, metrics and card.",
                  no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)


@app.command("best")
def best(
    sweep_id: str = ResultsSweepArg,
    out: Path = typer.Option(..., "--out", "-o", help="Export folder (must be empty or absent unless --force)"),
    top_k: int = typer.Option(1, "--top-k", min=1, help="Also export an ensemble of the K best trials (K > 1)"),
    force: bool = typer.Option(False, "--force", help="Replace an earlier export in --out (only once the new one is "
                               "done; refused for any other folder)"),
    snapshots: bool = typer.Option(False, "--snapshots", help="Also export the best trial's snapshot ensemble "
                                   "(trained with lr_schedule: snapshot)"),
    seeds: int = typer.Option(0, "--seeds", min=0, help="Re-train the best configuration with N other seeds on the "
                              "sweep's agents (queued once) and export their ensemble once they have finished"),
    wait: int = typer.Option(0, "--wait", min=0, help="With --seeds: wait up to this many seconds for the seed "
                             "trials (else export what has finished and run the export again later)"),
    data: Path | None = typer.Option(None, "--data", help="Dataset root: fits greedy weights and the stacker on "
                                     "validation and measures every ensemble on test"),
    storage: str | None = StorageOpt,
    workspace: Path | None = WorkspaceOpt,
    backend: str = BackendOpt,
    storage_file: Path | None = StorageFileOpt,
) -> None:
    """Export the best trial: config.yaml, model.keras, metrics.json, viz/, MODEL_CARD.md (+ ensemble/,
    snapshots/, seeds/)."""
    from ..engine.storage import resolve_storage, storage_url
    from ..export.best import check_destination, export_best
    from ..outcome import TOP_K
    from ..report.records import format_value
    from ..report.results import complete_pending, read_sweep_results
    from ..workspace import Workspace

    storage = resolve_storage(storage, storage_file)
    ws = Workspace.resolve(workspace)
    check_destination(out, force, workspace=ws.root)
    result = read_sweep_results(sweep_id, backend=backend, storage=storage, workspace=workspace)
    # every exported trial (the best, the top-k ensemble's) has its test score and figures
    result = complete_pending(result, top_k=max(top_k, TOP_K), data_root=data, workspace=ws.root, storage=storage,
                              log=lambda line: console.print(f"  {line}"))
    exported = export_best(result, out, top_k=top_k, force=force, data_root=data, cache_dir=ws.cache if data else None,
                           workspace=ws.root, snapshots=snapshots, seeds=seeds, wait_s=wait or None,
                           storage_url=storage_url(storage, ws) if backend == "local" else None,
                           log=lambda line: console.print(f"  {line}"))
    chosen = exported.best
    console.print(f"[bold green]✓[/] exported {chosen.name} ({result.metric} {chosen.value:.4g}, "
                  f"test accuracy {format_value(chosen.test_accuracy, 'n/a')}) to {exported.out}")
    for ens in ([exported.ensemble] if exported.ensemble is not None else []) + exported.others:
        scores = ", ".join(f"{name} {format_value(agg.get('test_accuracy'), 'n/a')}"
                           for name, agg in ens.judged.aggregations.items())
        console.print(f"  {ens.kind} ensemble of {len(ens.judged.members)}: test accuracy {scores} (best single "
                      f"model {format_value(ens.best_single_test_accuracy, 'n/a')}) in {exported.out / ens.folder}")
    for warning in exported.warnings:
        console.print(f"  [yellow]note:[/] {warning}")
