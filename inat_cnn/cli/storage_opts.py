"""The --storage / --storage-file options every local-engine command shares (resolved by engine.storage)."""

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
