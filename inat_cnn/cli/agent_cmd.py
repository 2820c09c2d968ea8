"""`inat-cnn agent SWEEP_ID --data ROOT`: train trials of a sweep (local engine or W&B)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from ..errors import EnvironmentFault, Preempted, SweepStop, UserError
from .options import StorageFileOpt, StorageOpt, WorkspaceOpt


def register(app: typer.Typer) -> None:
    app.command("agent")(agent)


def agent(sweep_id: str = typer.Argument(..., help="Local sweep id, or ENTITY/PROJECT/ID for a W&B sweep"),
          data: Path = typer.Option(..., "--data", help="Dataset root (iNaturalist layout)"),
          count: int | None = typer.Option(None, "--count", min=1, help="Stop after N trials"),
          gpu: str | None = typer.Option(None, "--gpu", help="GPU index(es) for this agent (CUDA_VISIBLE_DEVICES)"),
          storage: str | None = StorageOpt,
          storage_file: Path | None = StorageFileOpt,
          workspace: Path | None = WorkspaceOpt,
          max_consecutive_failures: int = typer.Option(3, "--max-consecutive-failures", min=1),
          heartbeat: int = typer.Option(10, "--heartbeat", min=1, help="Seconds between heartbeats"),
          grace: int = typer.Option(30, "--grace", min=2, help="Seconds without heartbeat before a trial is "
                                    "declared lost and re-queued"),
          offline: bool = typer.Option(False, "--offline", help="Force wandb offline")) -> None:
    """Claim and train trials until the sweep is done (SIGTERM re-queues the running trial, exit 0)."""
    if gpu is not None:  # must happen before any framework import
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # several agents can share one GPU
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # the same for JAX
    if offline:
        os.environ["WANDB_MODE"] = "offline"
    from ..engine.storage import resolve_storage
    from ..workspace import Workspace

    storage = resolve_storage(storage, storage_file)
    ws = Workspace.resolve(workspace)
    if not data.is_dir():
        raise UserError(f"--data {data}: no such dataset folder")
    try:
        from ..engine import wandb_backend

        if wandb_backend.is_wandb_sweep_id(sweep_id):
            wandb_backend.agent(sweep_id, data, ws, count)
            return
        from ..engine import trial_process

        trial_process.prestart()  # the first trial's child imports TensorFlow while the agent imports Optuna
        from ..engine.agent import run_agent

        report = run_agent(sweep_id, data, workspace=ws, storage_url=storage, count=count,
                           max_consecutive_failures=max_consecutive_failures,
                           wandb_mode="offline" if offline else None, heartbeat_s=heartbeat, grace_s=grace)
    except Preempted:
        print("agent interrupted between trials; nothing was lost", file=sys.stderr)
        return
    except EnvironmentFault as fault:  # the machine, not a configuration: exit 1 with what is broken
        raise SweepStop(str(fault)) from None
    print(f"agent done: {len(report.finished)} finished, {len(report.pruned)} pruned, "
          f"{len(report.failed)} failed; {report.stop_reason}")
