"""`inat-cnn viz filters|guided-backprop|predictions MODEL ...`: figures for any saved .keras model."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import UserError

app = typer.Typer(help="Figures for a saved model: filters, guided backprop, prediction grid.",
                  no_args_is_help=True)

MODEL_ARG = typer.Argument(..., help="A saved .keras model (e.g. a trial's model.keras)", show_default=False)


def _load(model: Path):
    from ..models import load_model

    return load_model(model, compile=False)


def _input_size(model) -> int:
    """The square input side the model expects; UserError for anything else."""
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] != 3:
        raise UserError(f"model {model.name!r} takes input {shape}; viz needs one square RGB image input "
                        "(None, S, S, 3)")
    return int(shape[1])


def _numbered(out: Path, k: int, count: int) -> Path:
    """``out`` for a single image, else ``<stem>-<k>.png`` beside it (1-based, in argument order)."""
    return out if count == 1 else out.with_name(f"{out.stem}-{k}{out.suffix or '.png'}")


@app.command("filters")
def filters(model: Path = MODEL_ARG,
            out: Path = typer.Option(Path("filters.png"), "--out", help="PNG to write (800 x 860 px)")) -> None:
    """First conv layer's kernels as a grid (8x8 for 64), each normalised to [0, 1]; RGB for RGB input."""
    from ..viz.filters import plot_filters

    typer.echo(f"wrote {plot_filters(_load(model), out)}")


@app.command("guided-backprop")
def guided_backprop(
    model: Path = MODEL_ARG,
    images: list[Path] = typer.Argument(..., help="Image files (any format PIL reads)", show_default=False),
    layer: str | None = typer.Option(None, "--layer", help="Feature-map layer (default: the last conv stage)"),
    neurons: int = typer.Option(10, "--neurons", min=1, help="Channels explained: the most active ones"),
    out: Path = typer.Option(Path("guided_backprop.png"), "--out",
                             help="PNG to write (1400 x 620 px); with several images <stem>-1.png, ..."),
) -> None:
    """Guided backpropagation of the most active channels of a conv layer, each at its strongest position."""
    from ..data import load_image_file
    from ..viz.guided_backprop import guided_backprop as explain
    from ..viz.guided_backprop import plot_guided_backprop
    from ..viz.introspect import find_layer

    net = _load(model)
    size = _input_size(net)
    if layer:
        find_layer(net, layer)  # a wrong name fails before any image is decoded
    pixels = [load_image_file(path, size) for path in images]
    for k, (path, image) in enumerate(zip(images, pixels), start=1):
        result = explain(net, image, layer=layer, neurons=neurons)
        written = plot_guided_backprop(result, _numbered(out, k, len(images)))
        typer.echo(f"wrote {written} ({path.name}: {result.layer}, channels {result.channels})")


@app.command("predictions")
def predictions(
    model: Path = MODEL_ARG,
    data: Path = typer.Option(..., "--data", help="Dataset root (train/ and val/ class folders)",
                              show_default=False),
    out: Path = typer.Option(Path("predictions.png"), "--out", help="PNG to write (720 px wide, 230 px a row)"),
    resize: str = typer.Option("squash", "--resize", help="How images were fitted: squash or center_crop"),
) -> None:
    """A 10x3 grid (one row per class) of test images with true / predicted label and confidence."""
    from ..data import load_splits
    from ..viz.predictions import plot_predictions

    net = _load(model)
    splits = load_splits(data, _input_size(net), resize=resize)
    if net.output_shape[-1] != len(splits.class_names):
        raise UserError(f"model {model} predicts {net.output_shape[-1]} classes but {data} has "
                        f"{len(splits.class_names)}: {', '.join(splits.class_names)}")
    if not len(splits.y_test):
        raise UserError(f"{data} has no test images (its val/ folder is empty)")
    path, rows = plot_predictions(net, splits.x_test, splits.y_test, splits.class_names, out)
    right = sum(cell.correct for row in rows for cell in row)
    typer.echo(f"wrote {path} ({right}/{sum(len(r) for r in rows)} shown images right)")
