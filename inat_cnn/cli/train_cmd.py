"""`inat-cnn train`: one trial, from --config/--set or the arguments a plain `wandb agent` passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
import yaml

from ..errors import UserError

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def parse_value(key: str, text: str) -> Any:
    """A --set value as YAML (3, 0.1, true, [3, 5], adam)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UserError(f"--set {key}: cannot parse value {text!r}: {err}") from None


def parse_assignment(arg: str, source: str = "--set") -> tuple[str, Any]:
    key, sep, text = arg.partition("=")
    key = key.strip().removeprefix("--")
    if not sep or not key:
        raise UserError(f"{source} expects key=value, got {arg!r}")
    return key, parse_value(key, text)


def parse_agent_args(args: list[str]) -> dict[str, Any]:
    """What `wandb agent` appends: ``--key=value`` pairs (${args}), ``key=value`` or one JSON object."""
    values: dict[str, Any] = {}
    for arg in args:
        if arg.lstrip().startswith("{"):
            try:
                data = json.loads(arg)
            except json.JSONDecodeError as err:
                raise UserError(f"cannot parse the JSON parameter argument {arg!r}: {err}") from None
            if not isinstance(data, dict):
                raise UserError(f"the JSON parameter argument must be an object, got {arg!r}")
            values.update(data)
        elif "=" in arg:
            values.update([parse_assignment(arg, "a parameter argument")])
        else:
            raise UserError(f"unexpected argument {arg!r}: parameters are --key=value, key=value or one JSON object")
    return values


def read_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def build_trial_config(config_file: Path | None, sets: list[str] | None, extra: list[str] | None = None):
    """Config file < agent parameters < --set, validated into a trial config (UserError names the key)."""
    from ..trial_config import parse_trial_config

    data = read_config_file(config_file)
    data.update(parse_agent_args(list(extra or [])))
    data.update(parse_assignment(s) for s in sets or [])
    return parse_trial_config(data, source=str(config_file) if config_file else None)


def _print_epoch(epoch: int, logs: dict) -> None:
    parts = [f"{k} {logs[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs]
    typer.echo(f"epoch {epoch} [{logs.get('phase')}]: " + ", ".join(parts)
               + f" ({logs['epoch_time_s']:.1f} s, {logs['images_per_s']:.0f} img/s)", err=True)


def train(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", envvar="INAT_CNN_DATA",
                              help="Dataset root (train/ and val/ class folders); default $INAT_CNN_DATA"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of trial parameters"),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="key=value (YAML value); repeatable"),
    out: Optional[Path] = typer.Option(None, "--out", help="Trial folder (default <workspace>/runs/single/...)"),
    workspace: Optional[Path] = typer.Option(None, "--workspace",
                                             help="Workspace (default INAT_CNN_HOME or ./inat_runs)"),
    metric: str = typer.Option("val_accuracy", "--metric", help="Metric that picks the best epoch"),
    offline: bool = typer.Option(False, "--offline", help="wandb offline even with an API key"),
) -> None:
    """Run one trial: fit, keep the best epoch, test it, log to wandb, write the trial folder.

    Extra --key=value arguments (what `wandb agent` passes with ${args}) or one JSON object
    (${args_json}) are trial parameters too; --set wins over them, they win over --config.
    Under a sweep, pass the sweep's metric with --metric so the summary holds its best epoch.
    """
    from ..errors import TrialFailed
    from ..trial_config import METRIC_GOALS
    from ..workspace import Workspace

    trial = build_trial_config(config, sets, ctx.args)
    if metric not in METRIC_GOALS:
        raise UserError(f"--metric must be one of {', '.join(METRIC_GOALS)} (got {metric!r})")
    if not data.exists():
        raise UserError(f"dataset root {data} does not exist")
    from ..training import run_trial
    from ..training.artifacts import default_out_dir

    ws = Workspace.resolve(workspace)
    out_dir = out or default_out_dir(ws.runs)
    try:
        result = run_trial(trial, data, out_dir, workspace=ws.root, metric=metric, goal=METRIC_GOALS[metric],
                           on_epoch_end=_print_epoch, wandb_mode="offline" if offline else None)
    except TrialFailed as err:
        typer.echo(f"trial failed: {err.reason}\n  details: {Path(out_dir) / 'metrics.json'}", err=True)
        raise typer.Exit(1) from None
    m = result.metrics
    typer.echo(f"best epoch {m['best_epoch']}: {metric} {m['best_value']:.4f}; test_accuracy "
               f"{m['test_accuracy'] if m['test_accuracy'] is None else round(m['test_accuracy'], 4)}")
    typer.echo(f"trial folder: {result.out_dir}")


def register(app: typer.Typer) -> None:
    """Add the `train` command to the root app."""
    app.command("train", context_settings=EXTRA_ARGS)(train)
