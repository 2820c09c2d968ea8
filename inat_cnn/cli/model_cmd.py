"""`inat-cnn model summary` (filled by the models layer)."""

import typer

app = typer.Typer(help="Model plans: per-layer shapes, parameters and FLOPs.", no_args_is_help=True)
