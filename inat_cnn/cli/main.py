"""Root typer app: registers each command group and turns UserError into exit 2."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from ..errors import SweepStop, UserError
from . import data_cmd, model_cmd, sweep_cmd, train_cmd

app = typer.Typer(
    name="inat-cnn",
    help="W&B sweep-driven hyperparameter search for image CNNs (iNaturalist-12K).",
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(sweep_cmd.app, name="sweep")
app.add_typer(data_cmd.app, name="data")
app.add_typer(model_cmd.app, name="model")
train_cmd.register(app)

_err = Console(stderr=True, highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: clear one-paragraph errors, never a traceback for bad input."""
    try:
        app(args=argv, prog_name="inat-cnn")
    except UserError as err:
        _err.print(f"[bold red]error:[/] {err}", markup=True)
        sys.exit(UserError.exit_code)
    except SweepStop as err:
        _err.print(f"[bold red]stopped:[/] {err}", markup=True)
        sys.exit(SweepStop.exit_code)
    except KeyboardInterrupt:
        _err.print("interrupted")
        sys.exit(130)
