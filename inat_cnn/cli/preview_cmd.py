"""`inat-cnn sweep preview FILE [-n N] [--seed S]`: the points a sweep would try and the commands W&B would run."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)


def preview(file: Path = typer.Argument(..., help="Sweep YAML"),
            n: int = typer.Option(5, "-n", "--count", min=1, help="How many points to show"),
            seed: int | None = typer.Option(None, "--seed", min=0, max=2**32 - 1,
                                            help="The seed `sweep create --seed` would be given")) -> None:
    """Print the first N configurations the local engine would propose and, for each, the argv the stock
    `wandb agent` would run. Nothing is trained, and nothing is written."""
    from rich.table import Table

    from ..engine.preview import preview as make_preview
    from ..report.records import format_value
    from ..spec import load_sweep
    from .status_view import console, seed_line

    validated = load_sweep(file)
    shown = make_preview(validated, n, seed)
    spec = validated.spec
    varied = [name for name, p in spec.parameters.items() if p.values is not None or not p.is_finite]
    console.print(f"{validated.source}: the first {len(shown.points)} point(s) of its {spec.method} search")
    table = Table(header_style="bold")
    table.add_column("trial")
    for name in varied:
        table.add_column(name)
    for i, point in enumerate(shown.points):
        table.add_row(str(i), *(format_value(point[name]) for name in varied))
    console.print(table)
    fixed = {name: point for name, point in shown.points[0].items() if name not in varied} if shown.points else {}
    if fixed:
        console.print("fixed: " + " ".join(f"{k}={format_value(v)}" for k, v in fixed.items()))
    if shown.limit_note:
        console.print(f"only {len(shown.points)}: {shown.limit_note}")
    console.print(seed_line(seed) if seed is not None else
                  "unseeded: one possible draw (a grid's order is fixed); pass --seed N here and to `sweep create`")
    console.print("\n[bold]what the stock `wandb agent` runs for each[/] (wandb's own argument builder):")
    for i, argv in enumerate(shown.argvs):
        console.print(f"{i}: {shlex.join(argv)}", soft_wrap=True)
