"""Top-k ensembles: one .keras model averaging its members' softmax outputs.

The ensemble is a functional model whose layers are the member models
themselves followed by ``keras.layers.Average``: it takes the same raw-pixel
input as each member, saves as one .keras file and loads with safe_mode=True.
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
    """A model whose output is the mean of ``members``' outputs on the same input.

    Members must share input and output shapes; they are renamed member_0..k-1
    so that nested layer names stay unique.
    """
    import keras

    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    input_shape = tuple(members[0].input_shape[1:])
    output_shape = tuple(members[0].output_shape[1:])
    for i, member in enumerate(members):
        if tuple(member.input_shape[1:]) != input_shape or tuple(member.output_shape[1:]) != output_shape:
            raise UserError(f"ensemble member {i} takes {member.input_shape[1:]} → {member.output_shape[1:]}, "
                            f"but member 0 takes {input_shape} → {output_shape}: members must match")
    inputs = keras.Input(shape=input_shape, name="image")
    outputs = []
    for i, member in enumerate(members):
        member.name = f"member_{i}"
        outputs.append(member(inputs))
    averaged = keras.layers.Average(name="mean_softmax", dtype="float32")(outputs)
    return keras.Model(inputs, averaged, name=name)


def save_ensemble(member_paths: list[Path], out: Path) -> Path:
    """Load the member .keras files, build their ensemble and save it to ``out``."""
    ensemble = build_ensemble([load_keras_model(path) for path in member_paths])
    out.parent.mkdir(parents=True, exist_ok=True)
    ensemble.save(out)
    return out
