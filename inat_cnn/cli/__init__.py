"""The ``inat-cnn`` command line (typer). Heavy imports happen inside commands."""

from .main import app, main

__all__ = ["app", "main"]
