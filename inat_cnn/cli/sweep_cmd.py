"""`inat-cnn sweep validate|create|status|run`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..errors import UserError
from .options import StorageFileOpt, StorageOpt, WorkspaceOpt

app = typer.Typer(help="Sweeps: validate YAML, create, run and watch.", no_args_is_help=True)
console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
NewOpt = typer.Option(False, "--new", help="Make a new sweep even when one from the same file (same spec) exists")


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


def create_sweep_from_file(file: Path, backend: str, storage: str | None, workspace, data: str | None = None,
                           new: bool = False) -> str:
    """Validate FILE and create its sweep on the chosen backend; return the sweep id.

    On the local engine a sweep made earlier from the same spec (same content hash) is continued, and said
    so on stderr, unless ``new``."""
    from ..spec import load_sweep

    validated = load_sweep(file)
    if backend == "wandb":
        from ..engine import wandb_backend

        return wandb_backend.create(validated, data_root=data)
    import optuna

    from ..engine import sweep_data
    from ..engine.storage import open_storage
    from ..engine.sweep_identity import create_or_continue

    if data and not Path(data).is_dir():
        raise UserError(f"--data {data}: no such dataset folder")
    if not storage and not (workspace.root / "sweeps.db").exists():
        workspace.ensure()  # a new sweeps.db needs its folder; an existing one is checked first (damaged, read-only)
    store = open_storage(storage or workspace.db_url)
    choice = create_or_continue(validated, store, new=new)
    study = optuna.load_study(study_name=choice.sweep_id, storage=store)
    if choice.existed:
        done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        err_console.print(f"sweep {choice.sweep_id} was already made from this file (same spec, hash "
                          f"{study.user_attrs.get('spec_hash', '?')[:12]}; {done} trial(s) finished): continuing "
                          "it. Pass --new for a new sweep")
        if data:
            sweep_data.bind(study, data, err_console.print)  # refuses another dataset; adopts one if it has none
    elif data:
        sweep_data.state(study, data)
    return choice.sweep_id


@app.command("create")
def create(file: Path = typer.Argument(..., help="Sweep YAML"),
           backend: str = typer.Option("local", "--backend", help="local (embedded Optuna engine) or wandb"),
           storage: str | None = StorageOpt, workspace: Path | None = WorkspaceOpt,
           data: str | None = typer.Option(None, "--data", help="The dataset the sweep trains on (recorded with "
                                           "its content fingerprint; agents with other data are refused). "
                                           "Without it, the first agent's --data is adopted. W&B backend: "
                                           "the root put in the agents' command"),
           storage_file: Path | None = StorageFileOpt, new: bool = NewOpt) -> None:
    """Create a sweep from a YAML file and print its id (the existing one's when this file made one already)."""
    from ..engine.storage import resolve_storage
    from ..workspace import Workspace

    storage = resolve_storage(storage, storage_file)
    if backend not in ("local", "wandb"):
        raise UserError(f"--backend must be local or wandb (got {backend!r})")
    sweep_id = create_sweep_from_file(file, backend, storage, Workspace.resolve(workspace), data, new=new)
    print(sweep_id)


def show_status(sweep_id: str, storage: str | None, workspace, limit: int | None = None) -> None:
    """Print a sweep's table, after settling trials whose agent died (failed and re-queued, exactly once)."""
    from ..engine import ledger, recovery, sweep_data
    from ..engine.storage import GRACE_S, load_study, open_storage
    from .status_view import trials_table

    study, validated = load_study(sweep_id, open_storage(storage or workspace.db_url, must_exist=True))
    settled = recovery.settle(study, GRACE_S)
    metric = study.user_attrs.get("metric", "value")
    rows = ledger.rows(study.get_trials(deepcopy=False), study.user_attrs.get("goal", "maximize"))
    counts = {s: sum(r.state == s for r in rows) for s in ("finished", "running", "waiting", "pruned", "failed")}
    title = f"sweep {sweep_id} ({validated.spec.method}, {metric} {validated.spec.metric.goal if validated.spec.metric else ''}): " \
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    console.print(trials_table(rows, metric, title=title, limit=limit))
    console.print(f"dataset: {sweep_data.summary(study.user_attrs.get(sweep_data.KEY))}")
    for failed, copy in settled:
        console.print(f"trial {failed} lost its agent: re-queued as trial {copy} (an agent runs it)")
    if study.user_attrs.get("stopped_reason"):
        console.print(f"stopped: {study.user_attrs['stopped_reason']}")


@app.command("status")
def status(sweep_id: str = typer.Argument(..., help="Sweep id printed by `sweep create`"),
           storage: str | None = StorageOpt, workspace: Path | None = WorkspaceOpt,
           storage_file: Path | None = StorageFileOpt) -> None:
    """Table of a sweep's trials: state, params, metric, epochs, duration; best first."""
    from ..engine.storage import resolve_storage
    from ..workspace import Workspace

    storage = resolve_storage(storage, storage_file)
    show_status(sweep_id, storage, Workspace.resolve(workspace))


def run_sweep(file: Path, data: Path, agents: int, storage: str | None, workspace, extra: list[str],
              gpus: list[str] | None = None, new: bool = False) -> str:
    """Create a local sweep (or continue the one this file made) and run ``agents`` agent processes on it
    with a live status table."""
    from rich.live import Live

    from ..engine import ledger, recovery
    from ..engine.launcher import run_agents
    from ..engine.storage import GRACE_S, load_study, open_storage
    from .status_view import trials_table

    sweep_id = create_sweep_from_file(file, "local", storage, workspace, str(data), new=new)
    console.print(f"sweep [bold]{sweep_id}[/]; starting {agents} agent(s) "
                  f"(logs in {workspace.runs / sweep_id / 'agents'})")
    study, validated = load_study(sweep_id, open_storage(storage or workspace.db_url, must_exist=True))
    metric = study.user_attrs["metric"]

    def table():
        recovery.settle(study, GRACE_S)  # a killed agent's trial is re-queued while the others run
        trials = study.get_trials(deepcopy=False)
        return trials_table(ledger.rows(trials, study.user_attrs["goal"]), metric, title=f"sweep {sweep_id}")

    with Live(table(), console=console, refresh_per_second=1, transient=True) as live:
        codes = run_agents(sweep_id, data, workspace, agents=agents, storage_url=storage, extra=extra,
                           on_tick=lambda: live.update(table()), gpus=gpus)
    if any(codes):
        console.print(f"[yellow]agents exited with codes {codes}; see their logs in "
                      f"{workspace.runs / sweep_id / 'agents'}[/]")
    return sweep_id


@app.command("run")
def run(file: Path = typer.Argument(..., help="Sweep YAML"),
        data: Path = typer.Option(..., "--data", help="Dataset root (iNaturalist layout)"),
        agents: int = typer.Option(1, "--agents", min=1, help="Local agent processes"),
        count: int | None = typer.Option(None, "--count", help="Trials per agent at most"),
        offline: bool = typer.Option(False, "--offline", help="Force wandb offline"),
        gpus: str | None = typer.Option(None, "--gpus", help="Comma-separated GPU indices, dealt round-robin "
                                        "to the agents (e.g. --agents 4 --gpus 0,1: two agents per GPU)"),
        storage: str | None = StorageOpt, workspace: Path | None = WorkspaceOpt,
        storage_file: Path | None = StorageFileOpt, new: bool = NewOpt) -> None:
    """Create a local sweep and run N agents on it, with a live status table.

    When a sweep from the same file (same spec) exists in the storage, it is continued (--new: a new one)."""
    from ..engine.storage import resolve_storage
    from ..workspace import Workspace

    storage = resolve_storage(storage, storage_file)
    extra = (["--count", str(count)] if count else []) + (["--offline"] if offline else [])
    ws = Workspace.resolve(workspace)
    gpu_list = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else None
    sweep_id = run_sweep(file, data, agents, storage, ws, extra, gpu_list, new=new)
    show_status(sweep_id, storage, ws)


from . import list_cmd, requeue_cmd  # noqa: E402 - `sweep list`, `sweep requeue` register on this app

requeue_cmd.register(app)
list_cmd.register(app)
