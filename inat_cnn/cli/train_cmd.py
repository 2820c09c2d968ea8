"""`inat-cnn train`: one trial, from --config/--set or the arguments a plain `wandb agent` passes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from ..errors import UserError
from ..outcome import DEFAULT_METRIC
from ..spec.yaml_source import MAX_BYTES, parse_yaml_text
from .agent_args import agent_parameters, parse_value, sweep_run_params
from .options import WorkspaceOpt

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def parse_assignment(arg: str, source: str = "--set") -> tuple[str, Any]:
    """``key=value``, the value a Python literal or YAML (3, 0.1, true, [3, 5], adam)."""
    key, sep, text = arg.partition("=")
    key = key.strip().removeprefix("--")
    if not sep or not key:
        raise UserError(f"{source} expects key=value, got {arg!r}")
    return key, parse_value(key, text, source)


def read_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise UserError(f"{path}: the file is {size:,} bytes; a trial config is at most {MAX_BYTES:,} (a key: value "
                        "per parameter): is this the right file?")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    data = parse_yaml_text(text, str(path))[0] or {}  # bounded: depth, aliases, nodes (like a sweep file)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def build_trial_config(config_file: Path | None, sets: list[str] | None, extra: list[str] | None = None,
                       sampled: dict[str, Any] | None = None):
    """Config file < agent parameters (``sampled`` by a wandb agent, then argv) < --set, validated into a
    trial config (UserError names the key)."""
    from ..trial_config import parse_trial_config

    data = read_config_file(config_file)
    data.update(agent_parameters(list(extra or []), sampled))
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
    config: Path | None = typer.Option(None, "--config", help="YAML file of trial parameters"),
    sets: list[str] | None = typer.Option(None, "--set",
                                             help="key=value (a YAML or Python literal value); repeatable"),
    out: Path | None = typer.Option(None, "--out", help="Trial folder (default <workspace>/runs/single/...; "
                                       "under a W&B sweep run <workspace>/runs/wandb-SWEEP/RUN_ID)"),
    workspace: Path | None = WorkspaceOpt,
    metric: str = typer.Option(DEFAULT_METRIC, "--metric", help="Metric that picks the best epoch"),
    offline: bool = typer.Option(False, "--offline", help="wandb offline even with an API key"),
) -> None:
    """Run one trial: fit, keep the best epoch, test it, log to wandb, write the trial folder.

    Extra arguments are trial parameters, in every form a `wandb agent` macro
    writes: --key=value, key=value, --key value, --flag, one JSON object or a
    .json file; None means the default. Under an agent, the run's sampled
    parameters (WANDB_SWEEP_PARAM_PATH) fill in what argv leaves out (a false
    flag). --set wins over them, they win over --config. Under a sweep, pass
    the sweep's metric with --metric so the summary holds its best epoch.

    SIGTERM/SIGINT (how the agent stops a run) end training after the current
    batch: the best epoch is kept and tested, the run closes as stopped, exit 0.
    When the agent is gone by then (a scheduler preempted the whole job; or
    INAT_CNN_PREEMPTIBLE=1), the stop is a preemption: the run is marked
    preempting and exits 128 + signal, W&B re-queues it, and the re-queued run
    (same run id) resumes from the last whole epoch's resume point.
    """
    from ..training.stop import StopRequest, preempted_unless_parent

    # caught before TensorFlow loads: an early stop still closes the run
    with StopRequest(preempt_if=preempted_unless_parent()) as stop:
        _train_command(ctx.args, data, config, sets, out, workspace, metric, offline, stop)


def _train_command(extra: list[str], data: Path, config: Path | None, sets: list[str] | None, out: Path | None,
                   workspace: Path | None, metric: str, offline: bool, stop) -> None:
    from ..errors import TrialFailed
    from ..trial_config import METRIC_GOALS
    from ..workspace import Workspace

    trial = build_trial_config(config, sets, extra, sampled=sweep_run_params())
    if metric not in METRIC_GOALS:
        raise UserError(f"--metric must be one of {', '.join(METRIC_GOALS)} (got {metric!r})")
    if not data.exists():
        raise UserError(f"dataset root {data} does not exist")
    from ..training import run_trial
    from ..training.artifacts import default_out_dir

    ws = Workspace.resolve(workspace)
    out_dir, resume = (out, None) if out else _run_folder(ws.runs, default_out_dir)
    if resume:
        typer.echo(f"resuming W&B run {os.environ.get('WANDB_RUN_ID')} from {resume['from']}", err=True)
    try:
        result = run_trial(trial, data, out_dir, workspace=ws.root, metric=metric, goal=METRIC_GOALS[metric],
                           on_epoch_end=_print_epoch, wandb_mode="offline" if offline else None, stop=stop,
                           resume=resume)
    except TrialFailed as err:
        typer.echo(f"trial failed: {err.reason}\n  details: {Path(out_dir) / 'metrics.json'}", err=True)
        raise typer.Exit(1) from None
    if stop.preempted:
        typer.echo(f"preempted by {stop.signal_name}: the W&B run is marked preempting and exits "
                   f"{128 + stop.signum}, so W&B re-queues it; the re-queued run resumes from {out_dir}", err=True)
        raise typer.Exit(128 + stop.signum)
    if result.state == "stopped":
        typer.echo(f"stopped by {result.stop_signal} after {result.epochs_run} whole epoch(s)", err=True)
    if result.best_epoch is not None:
        typer.echo(f"best epoch {result.best_epoch}: {metric} {_shown(result.best_value)}; test_accuracy "
                   f"{_shown(result.test_accuracy)}")
    typer.echo(f"trial folder: {Path(out_dir).expanduser().resolve()}")


def _run_folder(runs: Path, default_out_dir) -> tuple[Path, dict[str, Any] | None]:  # noqa: ANN001
    """The trial folder and resume job: under a W&B sweep run (the stock agent sets WANDB_SWEEP_ID and
    WANDB_RUN_ID; a re-queued run keeps its id) one folder per attempt of the run, resuming the latest
    attempt's point; otherwise a new single-run folder."""
    from ..training.resume import attempt_folders

    sweep_id, run_id = os.environ.get("WANDB_SWEEP_ID"), os.environ.get("WANDB_RUN_ID")
    if not (sweep_id and run_id) or not _safe_name(sweep_id) or not _safe_name(run_id):
        return default_out_dir(runs), None
    return attempt_folders(runs / f"wandb-{sweep_id}", run_id)


def _safe_name(text: str) -> bool:
    return text.replace("-", "").replace("_", "").isalnum()


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    """Add the `train` command to the root app."""
    app.command("train", context_settings=EXTRA_ARGS)(train)
