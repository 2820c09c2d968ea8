"""Figures that show what a trained network learned, written as PNGs (and logged to wandb).

``render_trial_figures(model, splits, out_dir)`` writes, from one model and the
trial's splits (any object with the ``DatasetSplits`` fields); the trial runner
logs each file to its wandb run as ``viz/<name>``:

=====================  ===============  ==========================================================
file                   pixels (w x h)   content
=====================  ===============  ==========================================================
filters.png            800 x 860        first Conv2D's kernels, one tile each (8x8 for 64)
feature_maps.png       800 x 860        that layer's output for the first test image
guided_backprop.png    1400 x 620       that image + 10 neurons of the last conv stage (2x5)
predictions.png        720 x 230*R+60   R = classes shown, all up to 20 (10 -> 10x3 grid, 720 x 2360)
confusion_matrix.png   1000 x 900       counts, colours per true-class rate, per-class accuracy
=====================  ===============  ==========================================================

The test split is used; when it is empty, the validation split (titles say so).
A model without a Conv2D layer gets only the prediction grid and confusion matrix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIGURES = ("filters", "feature_maps", "guided_backprop", "predictions", "confusion_matrix")


def eval_split(splits: Any) -> tuple[Any, Any, str]:
    """(images, labels, name) of the split the figures describe: test, or val when test is empty."""
    if len(splits.y_test):
        return splits.x_test, splits.y_test, "test"
    return splits.x_val, splits.y_val, "val"


def render_trial_figures(model: Any, splits: Any, out_dir: Path) -> dict[str, Path]:
    """Write the five figures into ``out_dir``; returns {name: path} for those drawn."""
    import numpy as np

    from ..models.predict import predict_probs
    from .confusion import plot_confusion
    from .feature_maps import plot_feature_maps
    from .filters import plot_filters
    from .guided_backprop import guided_backprop, plot_guided_backprop
    from .introspect import NoConvLayer
    from .predictions import plot_predictions

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x, y, split = eval_split(splits)
    names = list(splits.class_names)
    paths: dict[str, Path] = {}
    if len(y):
        probs = predict_probs(model, x)
        paths["predictions"], _ = plot_predictions(model, x, y, names, out_dir / "predictions.png", probs, split)
        paths["confusion_matrix"] = plot_confusion(y, probs.argmax(axis=1), names, out_dir / "confusion_matrix.png",
                                                   split)
    image = np.asarray(x[0] if len(y) else splits.x_train[0], np.uint8)
    label = int(y[0]) if len(y) else int(splits.y_train[0])
    try:
        paths["filters"] = plot_filters(model, out_dir / "filters.png")
        paths["feature_maps"] = plot_feature_maps(model, image, out_dir / "feature_maps.png",
                                                  f"\nimage: first {split} image, class {names[label]}")
        paths["guided_backprop"] = plot_guided_backprop(guided_backprop(model, image), out_dir / "guided_backprop.png")
    except NoConvLayer:
        pass
    return {name: paths[name] for name in FIGURES if name in paths}


__all__ = ["FIGURES", "eval_split", "render_trial_figures"]
