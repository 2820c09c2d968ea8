"""`inat-cnn data synth|inspect|prepare|features`: make a synthetic dataset, look at one, build its decode
cache, list or prune the frozen-prefix feature caches."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from .fetch_cmd import fetch

app = typer.Typer(help="Datasets: fetch iNaturalist-12K, synthesize, inspect, build the decode cache.",
                  no_args_is_help=True)
app.command("fetch")(fetch)

_RESIZE_HELP = "How images become squares: squash (stretch, as CS6910 work did) or center_crop."
_VAL_HELP = "Fraction of train/ held out as the class-balanced validation split."
_CACHE_HELP = "Cache folder (default: the workspace cache, INAT_CNN_HOME/cache)."


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _cache_dir(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return cache_dir
    from ..workspace import Workspace

    return Workspace.resolve().cache


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Folder to create (train/<class>/*.jpg and val/<class>/*.jpg)."),
    classes: int = typer.Option(10, help="Number of classes."),
    per_class: int = typer.Option(30, help="Training images per class."),
    test_per_class: int = typer.Option(10, help="Test images (the val/ folder) per class."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same files."),
    min_side: int = typer.Option(64, help="Smallest image side in pixels."),
    max_side: int = typer.Option(160, help="Largest image side in pixels."),
    bad_files: bool = typer.Option(False, "--bad-files", help="Also plant every kind of bad file in train/."),
) -> None:
    """Write a learnable synthetic dataset in the iNaturalist-12K layout."""
    from ..data import synthesize

    started = time.perf_counter()
    synthesize(out, classes=classes, per_class=per_class, test_per_class=test_per_class, seed=seed,
               min_side=min_side, max_side=max_side, bad_files=bad_files)  # fmt: skip
    total = classes * (per_class + test_per_class)
    _console().print(f"wrote {total} images ({classes} classes) to {out} in {time.perf_counter() - started:.1f} s"
                     + (" plus planted bad files" if bad_files else ""))  # fmt: skip


def _print_files(console, title: str, files) -> None:
    console.print(f"\n[bold]{title}: {len(files)}[/]")
    for f in files:
        console.print(f"  {f.path}: {f.reason}", markup=False)


@app.command()
def inspect(
    root: Path = typer.Argument(..., help="Dataset root (ROOT/train/<class>, ROOT/val/<class>) or class folders."),
    val_fraction: float = typer.Option(0.1, help=_VAL_HELP),
    split_seed: int = typer.Option(0, help="Seed of the validation split."),
    cache_dir: Path = typer.Option(None, help=_CACHE_HELP),
) -> None:
    """Per-class counts per split, image size statistics, and every skipped file with its reason."""
    from rich.markup import escape
    from rich.table import Table

    from ..data.scan import scan_dataset, symlink_skips
    from ..data.split import check_fraction
    from ..data.summary import class_counts, decode_failures, saved_or_fresh_manifest, size_stats

    check_fraction(val_fraction)
    console, cache = _console(), _cache_dir(cache_dir)
    scanned = scan_dataset(root)
    manifest, saved = saved_or_fresh_manifest(scanned, val_fraction, split_seed, cache)
    console.print(f"[bold]{scanned.root}[/]  layout={manifest.layout}  classes={len(manifest.class_names)}  "
                  f"fingerprint={manifest.fingerprint}  split_id={manifest.split_id}")  # fmt: skip
    console.print(f"manifest: {saved or 'not saved yet (made by `data prepare` or the first trial)'}", markup=False)
    links = symlink_skips(manifest.skipped)
    if links:
        console.print(f"[bold yellow]warning:[/] {len(links)} symbolic link(s) not followed (they leave the root, "
                      "loop, point to a folder or duplicate a file); listed under skipped below")
    test_name = "test (val/)" if manifest.layout == "inat" else "test (carved)"
    table = Table("class", "train", "val", test_name, title="images per class and split")
    rows = class_counts(manifest)
    for name, *counts in rows:
        table.add_row(escape(name), *map(str, counts))
    table.add_row("[bold]total[/]", *(str(sum(r[i] for r in rows)) for i in (1, 2, 3)))
    console.print(table)
    stats = Table("", "min", "median", "mean", "max", title=f"image sizes ({len(manifest.sizes)} usable files)")
    for name, s in size_stats(manifest.sizes).items():
        fmt = "{:.0f}" if name in ("width", "height") else "{:.3g}"
        stats.add_row(name, *(fmt.format(s[k]) for k in ("min", "median", "mean", "max")))
    console.print(stats)
    _print_files(console, "converted to RGB (kept)", manifest.converted)
    _print_files(console, "skipped", manifest.skipped)
    failed = decode_failures(cache, manifest.split_id)
    _print_files(console, "failed while decoding (from built caches)", failed)


@app.command()
def prepare(
    root: Path = typer.Argument(..., help="Dataset root."),
    image_size: int = typer.Option(..., "--image-size", min=1, help="Side of the square images, in pixels."),
    resize: str = typer.Option("squash", help=_RESIZE_HELP),
    val_fraction: float = typer.Option(0.1, help=_VAL_HELP),
    split_seed: int = typer.Option(0, help="Seed of the validation split."),
    cache_dir: Path = typer.Option(None, help=_CACHE_HELP),
) -> None:
    """Save the split and decode every image once at this size, ahead of a sweep (an existing cache is checked
    byte for byte, and rebuilt if it is broken)."""
    from ..data import load_splits
    from ..data.cache import cache_folder

    started, cache = time.perf_counter(), _cache_dir(cache_dir)
    splits = load_splits(root, image_size, resize=resize, val_fraction=val_fraction, split_seed=split_seed,
                         cache_dir=cache, full_check=True)  # an existing cache is hashed in full here  # fmt: skip
    console = _console()
    console.print(f"split {splits.split_id}: train {len(splits.y_train)}, val {len(splits.y_val)}, "
                  f"test {len(splits.y_test)} images, {len(splits.class_names)} classes, "
                  f"{len(splits.skipped)} files skipped ({time.perf_counter() - started:.1f} s)")  # fmt: skip
    console.print(f"manifest: {splits.manifest_path}", markup=False)
    console.print(f"cache: {cache_folder(cache, splits.split_id, image_size, resize)}", markup=False)


@app.command()
def features(
    cache_dir: Path = typer.Option(None, help=_CACHE_HELP),
    prune: bool = typer.Option(False, "--prune", help="Remove half builds of dead processes, and with "
                               "--unused-days or --all the caches no sweep has opened since."),
    unused_days: float = typer.Option(None, min=0, help="With --prune: also remove caches unused this many days."),
    all_: bool = typer.Option(False, "--all", help="With --prune: remove every feature cache."),
) -> None:
    """List the frozen-prefix feature caches (size, last use) and remove those no sweep needs."""
    from rich.table import Table

    from ..features.store import entries
    from ..features.store import prune as prune_caches

    console, cache = _console(), _cache_dir(cache_dir)
    if prune:
        gone = prune_caches(cache, unused_days=unused_days, everything=all_)
        console.print(f"removed {len(gone)} feature cache folder(s), {sum(e.bytes for e in gone) / 1e6:.1f} MB",
                      markup=False)
    found = entries(cache)
    table = Table("folder", "MB", "idle days", "what", title=f"feature caches under {cache}")
    for e in found:
        idle = "-" if e.idle_days is None else f"{e.idle_days:.1f}"
        table.add_row(e.path.name, f"{e.bytes / 1e6:.1f}", idle, e.what)
    console.print(table)
    console.print(f"total: {sum(e.bytes for e in found) / 1e6:.1f} MB in {len(found)} folder(s)", markup=False)
