"""`inat-cnn data fetch [--url URL] [--dest DIR] [--sha256 HEX]`: the dataset, downloaded and unzipped safely."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ..fetch.dataset import DEFAULT_URL


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it lies inside it (what a user would type), else absolute."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def fetch(
    url: str = typer.Option(DEFAULT_URL, help="Archive to download (http(s):// or file://)."),
    dest: Path = typer.Option(Path("."), help="Folder that receives the archive and the unzipped dataset."),
    sha256: str | None = typer.Option(None, help="Expected SHA-256 of the archive (64 hex digits)."),
) -> None:
    """Download the iNaturalist-12K zip (resuming an interrupted download), verify it, unzip it safely, and print
    the --data path to use. A second run does nothing."""
    from rich.console import Console

    from ..errors import UserError
    from ..fetch import fetch_dataset

    try:
        done = fetch_dataset(url, dest, sha256)
    except PermissionError as err:
        raise UserError(f"cannot write in {dest}: {err.strerror} ({err.filename}); pick another --dest") from None
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if done.fresh:
        err.print(f"archive {_shown(done.archive)} sha256 {done.sha256} (pin it with --sha256); "
                  f"unzipped {done.files} files into {_shown(done.folder)}", markup=False)  # fmt: skip
    else:
        err.print(f"already fetched: {_shown(done.folder)} (sha256 {done.sha256}); nothing to do", markup=False)
    typer.echo(f"use --data {_shown(done.data_root)}")
