"""`inat-cnn model summary`: per-layer shapes, parameters and analytic FLOPs of a trial config."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Model plans: per-layer shapes, parameters and FLOPs.", no_args_is_help=True)


@app.command("summary")
def summary(
    config: Path | None = typer.Option(None, "--config", help="YAML file of trial parameters"),
    sets: list[str] | None = typer.Option(None, "--set", help="key=value (YAML value); repeatable"),
    classes: int = typer.Option(10, "--classes", min=1, help="Number of output classes"),
    expand: bool = typer.Option(False, "--expand", help="One row per backbone layer instead of one in total"),
) -> None:
    """Print output shape, parameters and FLOPs per layer (no training; weights are never downloaded)."""
    from ..models import format_summary, summarize
    from .train_cmd import build_trial_config

    trial = build_trial_config(config, sets)
    typer.echo(format_summary(summarize(trial, classes), expand=expand))
