"""Root typer app: registers each command group and turns UserError into exit 2."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import EnvironmentFault, SweepStop, UserError
from . import (
    agent_cmd,
    data_cmd,
    demo_cmd,
    evaluate_cmd,
    export_cmd,
    model_cmd,
    quiet,
    report_cmd,
    sweep_cmd,
    train_cmd,
    viz_cmd,
    weights_cmd,
)

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
app.add_typer(viz_cmd.app, name="viz")
app.add_typer(weights_cmd.app, name="weights")
train_cmd.register(app)
agent_cmd.register(app)
demo_cmd.register(app)
report_cmd.register(app)
app.add_typer(export_cmd.app, name="export")
evaluate_cmd.register(app)

_err = Console(stderr=True, highlight=False, soft_wrap=True)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", envvar=quiet.VERBOSE_ENV,
                                       help="Show the frameworks' start-up logs (TensorFlow, CUDA, absl).")) -> None:
    """W&B sweep-driven hyperparameter search for image CNNs (iNaturalist-12K)."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: clear one-paragraph errors, never a traceback for bad input.

    Called without ``argv`` (the ``inat-cnn`` script, ``python -m inat_cnn``) it is the process's entry
    point and first quiets the frameworks' start-up noise (see ``quiet``); in-process callers keep their
    streams."""
    if argv is None:
        quiet.settle(sys.argv[1:])
    try:
        app(args=argv, prog_name="inat-cnn")
    except UserError as err:
        _err.print(f"[bold red]error:[/] {escape(str(err))}", markup=True)
        sys.exit(UserError.exit_code)
    except (SweepStop, EnvironmentFault) as err:  # e.g. the sweep storage unreachable past its retry budget
        _err.print(f"[bold red]stopped:[/] {escape(str(err))}", markup=True)
        sys.exit(SweepStop.exit_code)
    except KeyboardInterrupt:
        _err.print("interrupted")
        sys.exit(130)
    except OSError as err:  # a full or read-only disk anywhere is told as what it is, exit 2; anything else is a bug
        from ..atomic import disk_error

        disk = disk_error(err)
        if disk is None:
            raise
        _err.print(f"[bold red]error:[/] {escape(str(disk))}", markup=True)
        sys.exit(disk.exit_code)
