"""`inat-cnn sweep validate|create|status|run`."""

import typer

app = typer.Typer(help="Sweeps: validate YAML, create, run and watch.", no_args_is_help=True)
