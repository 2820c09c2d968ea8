"""The options and arguments several commands share (one definition each, so their help reads the same)."""

from __future__ import annotations

import typer

StorageOpt = typer.Option(
    None, "--storage",
    help="SQLAlchemy URL of the local engine's storage (default sqlite:///<workspace>/sweeps.db; "
         "postgresql://USER@HOST:PORT/DB for agents on many hosts). Also $INAT_CNN_STORAGE. A password in this "
         "option is visible in `ps`: use $INAT_CNN_STORAGE, --storage-file or ~/.pgpass instead")
StorageFileOpt = typer.Option(
    None, "--storage-file",
    help="File whose first line is the storage URL (also $INAT_CNN_STORAGE_FILE): keeps a password off the "
         "command line")
WorkspaceOpt = typer.Option(None, "--workspace", help="Workspace folder (default ./inat_runs or INAT_CNN_HOME)")
BackendOpt = typer.Option("local", "--backend", help="local (Optuna storage) or wandb (wandb.Api; "
                          "SWEEP_ID is entity/project/sweep_id)")
ResultsSweepArg = typer.Argument(..., help="Sweep id (local) or entity/project/sweep_id (wandb)")
