"""Top-k ensembles: one .keras model averaging its members' softmax outputs.

The ensemble is a functional model whose layers are the member models themselves (each behind a
``keras.layers.Resizing`` when it takes another input size) followed by ``keras.layers.Average``: it
takes raw pixels of the largest member size, saves as one .keras file and loads with safe_mode=True.
The aggregations fitted on validation are in ``inat_cnn.ensembles``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserError


def load_keras_model(path: Path) -> Any:
    """Load a .keras model with safe_mode: ``inat_cnn.models.load_model`` when the models layer exists."""
    try:
        from ..models import load_model
    except ImportError:
        import keras

        if not Path(path).is_file():
            raise UserError(f"model file {path} does not exist") from None
        return keras.saving.load_model(path, safe_mode=True)
    return load_model(path)


def build_ensemble(members: list[Any], name: str = "ensemble") -> Any:
    """A model whose output is the mean of ``members``' outputs; members of other input sizes get a
    ``Resizing`` inside the graph (``inat_cnn.ensembles.graph``). They are renamed member_0..k-1."""
    from ..ensembles.graph import build_mean

    return build_mean(members, name=name)


def save_ensemble(member_paths: list[Path], out: Path) -> Path:
    """Load the member .keras files, build their mean ensemble and save it to ``out`` (atomically)."""
    from ..models.io import save_model

    ensemble = build_ensemble([load_keras_model(path) for path in member_paths])
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_model(ensemble, out)
