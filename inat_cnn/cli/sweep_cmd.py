"""`inat-cnn sweep validate|create|status|run` (the orchestration itself: engine/orchestrate.py)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..errors import UserError
from .options import StorageFileOpt, StorageOpt, WorkspaceOpt
from .status_view import console

app = typer.Typer(help="Sweeps: validate YAML, create, run and watch.", no_args_is_help=True)
NewOpt = typer.Option(False, "--new", help="Make a new sweep even when one from the same file (same spec) exists")
SeedOpt = typer.Option(None, "--seed", min=0, max=2**32 - 1,
                       help="Seed of the search: the same seed proposes the same points in the same order (grid, "
                            "random, and bayes with one agent); stored with the sweep. Default: unseeded")


PruneJudgeOpt = typer.Option(None, "--prune-judge", help="Local pruning: the value a trial is judged on at a rung: "
                             "best (its best epoch so far, the default) or last (that epoch's)")
PruneRungsOpt = typer.Option(None, "--prune-rungs", help="Local pruning: rungs at min_iter·eta^k (min_iter, W&B's "
                             "placement, the default) or counted down from the last epoch (max_iter)")


def _pruning(judge: str | None, rungs: str | None):  # noqa: ANN202 - engine.pruning.PruningOptions | None
    if judge is None and rungs is None:
        return None
    from ..engine.pruning import PruningOptions

    default = PruningOptions()
    return PruningOptions(judge=judge or default.judge, rungs=rungs or default.rungs)


def _describe(p) -> str:  # noqa: ANN001 - ParameterSpec
    if p.values is not None:
        return "values " + ", ".join(map(str, p.values))
    if p.is_finite:
        return f"value {p.value}"
    dist = p.inferred_distribution
    bounds = f" [{p.min}, {p.max}]" if p.min is not None else ""
    return f"{dist}{bounds}"


def print_summary(validated) -> None:  # noqa: ANN001 - ValidatedSweep
    """Short human summary of a valid sweep."""
    spec = validated.spec
    metric = f"{spec.metric.name} ({spec.metric.goal})" if spec.metric else "none"
    grid = spec.grid_size()
    console.print(f"[bold green]✓[/] {validated.source}: method [bold]{spec.method}[/], metric {metric}, "
                  f"model {'/'.join(validated.families)}"
                  + (f", grid of {grid} runs" if grid is not None else "")
                  + (f", run_cap {spec.run_cap}" if spec.run_cap else "")
                  + (", hyperband" if spec.early_terminate else ""))
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("parameter")
    table.add_column("search")
    for name, p in spec.parameters.items():
        table.add_row(name, _describe(p))
    console.print(table)


@app.command("validate")
def validate(files: list[Path] = typer.Argument(..., help="Sweep YAML files")) -> None:
    """Check sweep files against W&B's rules and the project vocabulary (exit 2 when invalid)."""
    from ..spec import load_sweep

    problems: list[str] = []
    for path in files:
        try:
            print_summary(load_sweep(path))
        except UserError as err:
            problems.append(str(err))
    if problems:
        raise UserError("\n".join(problems))


@app.command("create")
def create(file: Path = typer.Argument(..., help="Sweep YAML"),
           backend: str = typer.Option("local", "--backend", help="local (embedded Optuna engine) or wandb"),
           storage: str | None = StorageOpt, workspace: Path | None = WorkspaceOpt,
           data: str | None = typer.Option(None, "--data", help="The dataset the sweep trains on (recorded with "
                                           "its content fingerprint; agents with other data are refused). "
                                           "Without it, the first agent's --data is adopted. W&B backend: "
                                           "the root put in the agents' command"),
           storage_file: Path | None = StorageFileOpt, new: bool = NewOpt, seed: int | None = SeedOpt,
           prune_judge: str | None = PruneJudgeOpt, prune_rungs: str | None = PruneRungsOpt) -> None:
    """Create a sweep from a YAML file and print its id (the existing one's when this file made one already)."""
    from ..engine.orchestrate import create_sweep_from_file
    from ..engine.storage import resolve_storage
    from ..workspace import Workspace
    from .status_view import err_console

    storage = resolve_storage(storage, storage_file)
    if backend not in ("local", "wandb"):
        raise UserError(f"--backend must be local or wandb (got {backend!r})")
    sweep_id = create_sweep_from_file(file, backend, storage, Workspace.resolve(workspace), data, new=new, seed=seed,
                                      log=err_console.print, pruning=_pruning(prune_judge, prune_rungs))
    print(sweep_id)


@app.command("status")
def status(sweep_id: str = typer.Argument(..., help="Sweep id printed by `sweep create`"),
           storage: str | None = StorageOpt, workspace: Path | None = WorkspaceOpt,
           storage_file: Path | None = StorageFileOpt) -> None:
    """Table of a sweep's trials: state, params, metric, epochs, duration; best first."""
    from ..engine.orchestrate import read_state
    from ..engine.storage import resolve_storage
    from ..workspace import Workspace
    from .status_view import print_status

    storage = resolve_storage(storage, storage_file)
    print_status(read_state(sweep_id, storage, Workspace.resolve(workspace)))


@app.command("run")
def run(file: Path = typer.Argument(..., help="Sweep YAML"),
        data: Path = typer.Option(..., "--data", help="Dataset root (iNaturalist layout)"),
        agents: int = typer.Option(1, "--agents", min=1, help="Local agent processes"),
        count: int | None = typer.Option(None, "--count", help="Trials per agent at most"),
        offline: bool = typer.Option(False, "--offline", help="Force wandb offline"),
        gpus: str | None = typer.Option(None, "--gpus", help="Comma-separated GPU indices, dealt round-robin "
                                        "to the agents (e.g. --agents 4 --gpus 0,1: two agents per GPU)"),
        storage: str | None = StorageOpt, workspace: Path | None = WorkspaceOpt,
        storage_file: Path | None = StorageFileOpt, new: bool = NewOpt, seed: int | None = SeedOpt,
        prune_judge: str | None = PruneJudgeOpt, prune_rungs: str | None = PruneRungsOpt) -> None:
    """Create a local sweep and run N agents on it, with a live status table.

    When a sweep from the same file (same spec) exists in the storage, it is continued (--new: a new one)."""
    from ..engine.orchestrate import read_state
    from ..engine.storage import resolve_storage
    from ..workspace import Workspace
    from .status_view import print_status, run_and_watch

    storage = resolve_storage(storage, storage_file)
    extra = (["--count", str(count)] if count else []) + (["--offline"] if offline else [])
    ws = Workspace.resolve(workspace)
    gpu_list = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else None
    sweep_id = run_and_watch(file, data, agents, storage, ws, extra, gpu_list, new=new, seed=seed,
                             pruning=_pruning(prune_judge, prune_rungs))
    print_status(read_state(sweep_id, storage, ws))


from . import list_cmd, preview_cmd, replay_cmd, requeue_cmd  # noqa: E402 - `sweep list|requeue|preview|replay-pruning`

requeue_cmd.register(app)
list_cmd.register(app)
preview_cmd.register(app)
replay_cmd.register(app)
