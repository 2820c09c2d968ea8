"""`inat-cnn sweep validate|create|status|run`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..errors import UserError

app = typer.Typer(help="Sweeps: validate YAML, create, run and watch.", no_args_is_help=True)
console = Console(highlight=False)


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
