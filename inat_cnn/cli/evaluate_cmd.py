"""`inat-cnn evaluate MODEL --data ROOT`: test accuracy, per-class accuracy and confusion matrix."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .. import atomic
from .options import WorkspaceOpt

console = Console(highlight=False, soft_wrap=True)


def evaluate(
    model: Path = typer.Argument(..., help="A .keras file, or a trial / export folder holding model.keras"),
    data: Path = typer.Option(..., "--data", help="Dataset root (train/ and val/; val/ is the test split)"),
    resize: str | None = typer.Option(None, "--resize", help="squash or center_crop (default: the model's config)"),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per prediction batch"),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the evaluation as JSON"),
    confusion_png: Path | None = typer.Option(None, "--confusion-png", help="Also draw the confusion matrix"),
    workspace: Path | None = WorkspaceOpt,
) -> None:
    """Evaluate a saved model (exports and ensembles included, loaded with safe_mode) on the test split."""
    from ..export.evaluate import evaluate_saved_model, save_confusion_png
    from ..workspace import Workspace

    result = evaluate_saved_model(model, data, resize=resize, batch_size=batch_size,
                                  cache_dir=Workspace.resolve(workspace).cache)
    table = Table("class", "images", "accuracy", box=None, header_style="bold")
    for row in result.per_class:
        table.add_row(row.name, str(row.support), "n/a" if row.accuracy is None else f"{row.accuracy:.3f}")
    console.print(table)
    _print_confusion(result)
    console.print(f"[bold]test accuracy {result.accuracy:.4f}[/] on {result.count} images")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(json_out, result.to_dict(), indent=2)
    if confusion_png is not None:
        save_confusion_png(result, confusion_png)


def _print_confusion(result) -> None:  # noqa: ANN001 - Evaluation
    table = Table("true \\ predicted", *[str(i) for i in range(len(result.class_names))], box=None,
                  header_style="bold", title="confusion matrix (columns: predicted class index)")
    for i, name in enumerate(result.class_names):
        table.add_row(f"{i} {name}", *[str(v) for v in result.confusion[i]])
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `evaluate` command to the root app."""
    app.command("evaluate")(evaluate)
