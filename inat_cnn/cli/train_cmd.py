"""`inat-cnn train` (filled by the trial layer)."""

import typer


def register(app: typer.Typer) -> None:
    """Add the `train` command to the root app."""
