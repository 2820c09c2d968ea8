"""render_trial_figures end to end: five non-blank PNGs of the documented sizes; a real trial logs them to wandb."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inat_cnn.viz import FIGURES, eval_split, render_trial_figures

SIZES = {"filters": (800, 860), "feature_maps": (800, 860), "guided_backprop": (1400, 620),
         "predictions": (720, 4 * 230 + 60), "confusion_matrix": (1000, 900)}


def _read_back(run_dir: Path) -> dict:
    wandb_cli = Path(sys.executable).with_name("wandb")
    out = subprocess.run([str(wandb_cli), "leet", "inspect", "--summary", "--json", str(run_dir)],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def _assert_documented_non_blank(paths: dict[str, Path], folder: Path) -> None:
    assert list(paths) == list(FIGURES)
    for name, path in paths.items():
        assert path == folder / f"{name}.png"
        with Image.open(path) as img:
            assert img.size == SIZES[name], name
            grey = np.asarray(img.convert("L"), np.float32)
        assert grey.std() > 8 and (grey < 128).mean() > 0.005, f"{name} looks blank"


def test_render_writes_documented_non_blank_pngs(tmp_path, make_cnn, tiny_splits):
    paths = render_trial_figures(make_cnn("separate"), tiny_splits, tmp_path / "viz")
    _assert_documented_non_blank(paths, tmp_path / "viz")


def test_empty_test_split_falls_back_to_val(tmp_path, make_cnn, tiny_splits):
    tiny_splits.x_test, tiny_splits.y_test = tiny_splits.x_test[:0], tiny_splits.y_test[:0]
    assert eval_split(tiny_splits)[2] == "val"
    paths = render_trial_figures(make_cnn("fused"), tiny_splits, tmp_path / "viz")
    assert list(paths) == list(FIGURES)
    assert Image.open(paths["predictions"]).size == SIZES["predictions"]  # a row per class, even an empty one


@pytest.mark.slow
def test_a_trial_logs_every_figure_to_its_offline_wandb_run(tmp_path, tiny_splits):
    from inat_cnn.training import run_trial

    config = {"model": "scratch", "image_size": 16, "epochs": 1, "conv_blocks": 2, "filters": 4,
              "dense_units": 8, "batch_size": 8}
    result = run_trial(config, None, tmp_path / "trial", splits=tiny_splits)
    assert result.state == "finished" and result.viz_error is None
    _assert_documented_non_blank({name: tmp_path / "trial" / "viz" / f"{name}.png" for name in FIGURES},
                                 tmp_path / "trial" / "viz")
    run_dir = Path(result.wandb_run_dir)
    summary = _read_back(run_dir)["summary"]
    for name in FIGURES:
        entry = summary[f"viz/{name}"]
        assert entry["_type"] == "image-file"
        assert (entry["width"], entry["height"]) == SIZES[name]
        assert (run_dir / "files" / entry["path"]).is_file()
