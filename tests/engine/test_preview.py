"""`sweep preview`: the engine's first points and the stock `wandb agent` argv, with nothing trained or written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inat_cnn.engine.preview import preview
from inat_cnn.spec import load_sweep, validate_sweep_dict

SWEEPS = Path(__file__).parents[2] / "sweeps"

# Runs the command in this process, then says whether TensorFlow was imported (training needs it).
_RUN = ("import sys\nfrom inat_cnn.cli.main import main\nsys.argv = ['inat-cnn', *sys.argv[1:]]\n"
        "try:\n    main()\nfinally:\n    print('TF_IMPORTED', 'tensorflow' in sys.modules)\n")


@pytest.mark.slow
def test_preview_of_a_shipped_sweep_prints_points_and_stock_agent_argv_and_writes_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["INAT_CNN_HOME"] = str(tmp_path / "ws")
    proc = subprocess.run([sys.executable, "-c", _RUN, "sweep", "preview", SWEEPS / "smoke.yaml", "-n", "3",
                           "--seed", "1"], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "the first 3 point(s) of its grid search" in proc.stdout
    argvs = [line.split(": ", 1)[1] for line in proc.stdout.splitlines() if line[:3] in ("0: ", "1: ", "2: ")]
    assert len(argvs) == 3 and len(set(argvs)) == 3  # three different grid points
    assert all(a.startswith("/usr/bin/env inat-cnn train --metric=val_accuracy --model=scratch --image_size=32 ")
               and "--filters=" in a and "--filter_org=" in a and a.endswith("--viz=True") for a in argvs)
    assert "TF_IMPORTED False" in proc.stdout  # nothing trained
    assert list(tmp_path.iterdir()) == []  # no workspace, no sweeps.db, no wandb folder


def test_the_argv_is_what_wandbs_agent_builds_from_each_macro(tmp_path, monkeypatch):
    monkeypatch.setenv("PREVIEW_TOKEN", "hunter2")
    monkeypatch.chdir(tmp_path)
    validated = validate_sweep_dict(yaml.safe_load(
        "method: random\nprogram: train.py\nparameters:\n  model: {value: scratch}\n"
        "  batch_norm: {values: [false]}\n  kernel_size: {values: [[5, 3, 3, 3, 3]]}\n"
        "command:\n  - ${env}\n  - ${interpreter}\n  - ${program}\n  - ${args_no_hyphens}\n"
        "  - ${args_no_boolean_flags}\n  - ${args_json_file}\n  - --token=${envvar:PREVIEW_TOKEN}\n"))
    before = dict(os.environ)
    shown = preview(validated, 1, seed=3)
    assert shown.points == [{"model": "scratch", "batch_norm": False, "kernel_size": [5, 3, 3, 3, 3]}]
    assert shown.argvs == [["/usr/bin/env", "python", "train.py", "model=scratch", "batch_norm=False",
                            "kernel_size=[5, 3, 3, 3, 3]", "--model=scratch", "--kernel_size=[5, 3, 3, 3, 3]",
                            "$WANDB_DIR/wandb/sweep-SWEEP_ID/config-preview-0000.json", "--token=$PREVIEW_TOKEN"]]
    assert dict(os.environ) == before and list(tmp_path.iterdir()) == []


def test_a_grid_previews_at_most_its_points_and_bayes_its_start_up_trials():
    grid = preview(load_sweep(SWEEPS / "smoke.yaml"), 10, seed=2)
    assert len(grid.points) == 4 and "the grid has 4 point(s)" in grid.limit_note
    assert len({(p["filters"], p["filter_org"]) for p in grid.points}) == 4
    bayes = preview(load_sweep(SWEEPS / "scratch.yaml"), 12, seed=2)  # run_cap 60: 6 start-up trials
    assert len(bayes.points) == 6 and "TPE's 6 random start-up trials" in bayes.limit_note
    assert preview(load_sweep(SWEEPS / "scratch.yaml"), 12, seed=2).points == bayes.points
