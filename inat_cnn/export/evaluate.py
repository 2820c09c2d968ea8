"""`inat-cnn evaluate`: test accuracy, per-class accuracy and the confusion matrix of a saved model.

Works on a trial's model.keras, an export folder and an ensemble: anything that
takes raw 0..255 float32 pixels and outputs class probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import UserError
from ..models.predict import predict_probs
from ..report.records import read_json


@dataclass
class ClassScore:
    name: str
    support: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.support if self.support else None


@dataclass
class Evaluation:
    accuracy: float
    count: int
    class_names: list[str]
    per_class: list[ClassScore]
    confusion: np.ndarray  # rows: true class, columns: predicted class

    def to_dict(self) -> dict[str, Any]:
        return {"test_accuracy": self.accuracy, "count": self.count, "class_names": self.class_names,
                "per_class": [{"class": c.name, "support": c.support, "accuracy": c.accuracy}
                              for c in self.per_class],
                "confusion_matrix": self.confusion.tolist()}


def score(y_true: np.ndarray, probs: np.ndarray, class_names: list[str]) -> Evaluation:
    """Accuracy, per-class accuracy and confusion matrix of predicted probabilities."""
    from ..viz.confusion import confusion as count_confusion

    y_true = np.asarray(y_true, dtype=int)
    predicted = np.argmax(probs, axis=1) if len(probs) else np.zeros(0, dtype=int)
    confusion, _ = count_confusion(y_true, predicted, len(class_names))
    per_class = [ClassScore(name, int(confusion[i].sum()), int(confusion[i, i])) for i, name in enumerate(class_names)]
    accuracy = float(np.trace(confusion) / len(y_true)) if len(y_true) else float("nan")
    return Evaluation(accuracy=accuracy, count=int(len(y_true)), class_names=list(class_names),
                      per_class=per_class, confusion=confusion)


def resolve_model_path(model: Path) -> Path:
    """MODEL may be a .keras file or a folder holding model.keras (a trial folder or an export)."""
    model = Path(model)
    if model.is_dir():
        model = model / "model.keras"
    if not model.is_file():
        raise UserError(f"no model at {model}: pass a .keras file, or a trial / export folder with model.keras")
    return model


def saved_settings(model_path: Path) -> dict[str, Any]:
    """What the model's folder says about its training data: resize, class_names, fingerprint.

    An export's ensemble/ folder (it holds members.json) inherits them from the export beside it.
    """
    folder = model_path.parent
    if (folder / "members.json").is_file():
        folder = folder.parent
    try:
        config = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    metrics = read_json(folder / "metrics.json")
    settings = {"resize": config.get("resize")} if isinstance(config, dict) else {}
    settings.update({key: metrics.get(key) for key in ("class_names", "fingerprint")})
    return {key: value for key, value in settings.items() if value}


def evaluate_model_on_test(model: Any, data_root: Path, *, resize: str = "squash", batch_size: int = 64,
                           expected_classes: list[str] | None = None, cache_dir: Path | None = None) -> Evaluation:
    """Evaluate a loaded model on the test split of ``data_root`` at the model's input size."""
    from ..data import load_splits

    size = model.input_shape[1]
    if not isinstance(size, int) or size != model.input_shape[2]:
        raise UserError(f"the model takes input {model.input_shape[1:]}: expected square images of a fixed size")
    splits = load_splits(data_root, size, resize=resize, cache_dir=cache_dir)
    outputs = int(model.output_shape[-1])
    if outputs != splits.num_classes:
        raise UserError(f"the model predicts {outputs} classes but {data_root} has {splits.num_classes}: "
                        f"{', '.join(splits.class_names)}")
    if expected_classes and list(expected_classes) != list(splits.class_names):
        raise UserError(f"the model was trained on classes {', '.join(expected_classes)} but {data_root} has "
                        f"{', '.join(splits.class_names)}")
    return score(splits.y_test, predict_probs(model, splits.x_test, batch_size), splits.class_names)


def evaluate_saved_model(model: Path, data_root: Path, *, resize: str | None = None, batch_size: int = 64,
                         cache_dir: Path | None = None) -> Evaluation:
    """Load MODEL (file or folder) with safe_mode and evaluate it on DATA's test split."""
    from .ensemble import load_keras_model

    path = resolve_model_path(model)
    settings = saved_settings(path)
    loaded = load_keras_model(path)
    return evaluate_model_on_test(loaded, data_root, resize=resize or settings.get("resize", "squash"),
                                  batch_size=batch_size, expected_classes=settings.get("class_names"),
                                  cache_dir=cache_dir)


def save_confusion_png(evaluation: Evaluation, path: Path) -> Path:
    """The confusion matrix as a PNG heat map with counts (the trial figure's drawing)."""
    from ..viz.confusion import draw_confusion
    from ..viz.figures import save_png

    return save_png(draw_confusion(evaluation.confusion, evaluation.class_names, "test"), path)
