"""`inat-cnn data features`: sizes of the feature caches; --prune removes only what this project made."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from inat_cnn.cli.main import app

WIDE = {"COLUMNS": "250"}  # the table folds long folder names at 80 columns (a pid of 6+ digits makes it fold)


@pytest.mark.slow
def test_list_and_prune(tmp_path):
    from builder_proc import IDENTITY, SHAPES, compute_with, parts

    from inat_cnn.features.cache import features_root, load_or_build

    cache = tmp_path / "cache"
    got = load_or_build(cache, IDENTITY, SHAPES, parts(), compute_with(tmp_path / "log", 0.0), batch=4)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    debris = features_root(cache) / f"{got.path.name}.tmp-{dead.stdout.strip()}"
    debris.mkdir()
    (debris / "train.0.bin").write_bytes(b"half")
    foreign = features_root(cache) / "mine-not-yours"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")

    listed = CliRunner().invoke(app, ["data", "features", "--cache-dir", str(cache)], env=WIDE)
    assert listed.exit_code == 0, listed.output
    assert got.path.name in listed.output and "half a build" in listed.output and "mine-not-yours" not in listed.output

    kept = CliRunner().invoke(app, ["data", "features", "--cache-dir", str(cache), "--prune", "--unused-days", "1"],
                              env=WIDE)
    assert kept.exit_code == 0 and "removed 1 " in kept.output  # only the dead builder's half build
    assert got.path.is_dir() and not debris.exists()

    gone = CliRunner().invoke(app, ["data", "features", "--cache-dir", str(cache), "--prune", "--all"], env=WIDE)
    assert gone.exit_code == 0 and "removed 1 " in gone.output
    assert not got.path.exists() and (foreign / "keep.txt").read_text() == "x"
