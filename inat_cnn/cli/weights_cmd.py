"""`inat-cnn weights fetch NAME...`: fill Keras' weights cache ahead for machines without internet."""

from __future__ import annotations

import typer

app = typer.Typer(help="Pretrained backbone weights: download into Keras' cache.", no_args_is_help=True)


@app.command("fetch")
def fetch(names: list[str] = typer.Argument(..., help="Backbone names, or `all`")) -> None:
    """Download the ImageNet weights (without the top) of each backbone into Keras' cache."""
    from ..models.backbones import REGISTRY, get_spec, keras_cache_dir, load_backbone

    chosen = list(REGISTRY) if names == ["all"] else names
    specs = [get_spec(name) for name in chosen]  # unknown names fail before any download
    for spec in specs:
        load_backbone(spec.name, "imagenet", spec.native_size)
        typer.echo(f"{spec.name}: ImageNet weights cached in {keras_cache_dir()}")
