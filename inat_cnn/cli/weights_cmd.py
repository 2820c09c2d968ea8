"""`inat-cnn weights fetch NAME... [--mirror URL_OR_DIR]`: fill Keras' weights cache ahead of a sweep."""

from __future__ import annotations

import typer

from ..fetch.mirror import MIRROR_ENV
from ..redact import redact_text

app = typer.Typer(help="Pretrained backbone weights: download into Keras' cache.", no_args_is_help=True)

_MIRROR_HELP = ("Base URL, or folder, holding the weights files under Keras' own file names (for clusters "
                f"without internet; trials read ${MIRROR_ENV} the same way). Default: Keras' origin.")


@app.command("fetch")
def fetch(
    names: list[str] = typer.Argument(..., help="Backbone names, or `all`"),
    mirror: str | None = typer.Option(None, "--mirror", envvar=MIRROR_ENV, help=_MIRROR_HELP),
) -> None:
    """Download the ImageNet weights (without the top) of each backbone into Keras' cache, verified by the hash
    Keras records for each file (or by size where it records none)."""
    from ..models.backbones import REGISTRY, get_spec, keras_cache_dir, load_backbone

    chosen = list(REGISTRY) if names == ["all"] else names
    specs = [get_spec(name) for name in chosen]  # unknown names fail before any download
    source = f" (from the mirror {redact_text(mirror)})" if mirror else ""
    for spec in specs:
        load_backbone(spec.name, "imagenet", spec.native_size, mirror=mirror)
        typer.echo(f"{spec.name}: ImageNet weights cached in {keras_cache_dir()}{source}")
