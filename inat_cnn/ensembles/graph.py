"""One Keras model out of several members: raw 0..255 pixels of one size in, class probabilities out.

Members may take different input sizes (different families, backbones, ``image_size``): the ensemble
takes the largest size and gives each smaller member its own ``keras.layers.Resizing`` (bilinear,
antialiased: what the data loader's PIL resize does) inside the graph. Only Keras' own layers are used,
so plain ``keras.saving.load_model(path, safe_mode=True)`` loads the result without this project.

Heads (the aggregation), all on the members' softmax outputs:

- ``mean``: ``Average``;
- ``weighted``: the members' outputs concatenated, then a frozen bias-free ``Dense`` whose kernel is
  ``w_i`` times the identity for member i: ``sum_i w_i p_i`` (weights from greedy selection; members
  of weight 0 are left out of the graph, so they cost nothing);
- ``stacked``: the concatenated outputs through a ``Dense`` holding a fitted multinomial logistic
  regression (``coef_.T``, ``intercept_``), then ``Softmax``: sklearn's ``predict_proba``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UserError


def input_side(model: Any) -> int:
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or shape[0] != shape[1] or not isinstance(shape[0], int):
        raise UserError(f"ensemble member {model.name} takes input {shape}: expected square images of a fixed size")
    return int(shape[0])


def check_members(members: list[Any]) -> tuple[int, int]:
    """(ensemble input side, classes); members must agree on the classes (their number here)."""
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    classes = {int(m.output_shape[-1]) for m in members}
    if len(classes) != 1:
        raise UserError(f"ensemble members predict different numbers of classes: {sorted(classes)}")
    return max(input_side(m) for m in members), classes.pop()


def member_outputs(members: list[Any], side: int) -> tuple[Any, list[Any]]:
    """(input, each member's probabilities) with a per-member Resizing where its size differs."""
    import keras

    inputs = keras.Input(shape=(side, side, 3), name="image")
    outputs = []
    for i, member in enumerate(members):
        member.name = f"member_{i}"  # nested layer names stay unique
        own = input_side(member)
        x = inputs if own == side else keras.layers.Resizing(own, own, interpolation="bilinear", antialias=True,
                                                             name=f"resize_{i}", dtype="float32")(inputs)
        outputs.append(member(x))
    return inputs, outputs


def build_mean(members: list[Any], name: str = "ensemble") -> Any:
    import keras

    side, _ = check_members(members)
    inputs, outputs = member_outputs(members, side)
    return keras.Model(inputs, keras.layers.Average(name="mean_softmax", dtype="float32")(outputs), name=name)


def build_weighted(members: list[Any], weights: np.ndarray, name: str = "ensemble_weighted") -> Any:
    """``sum_i w_i p_i`` over the members of non-zero weight (weights are normalised to sum to 1)."""
    import keras

    weights = np.asarray(weights, dtype="float64")
    if weights.shape != (len(members),) or weights.min() < 0 or weights.sum() <= 0:
        raise ValueError(f"weights must be {len(members)} non-negative numbers, not all 0 (got {weights})")
    kept = [i for i in range(len(members)) if weights[i] > 0]
    weights = weights[kept] / weights[kept].sum()
    chosen = [members[i] for i in kept]
    _, classes = check_members(members)
    inputs, outputs = member_outputs(chosen, max(input_side(m) for m in chosen))
    dense = keras.layers.Dense(classes, use_bias=False, trainable=False, name="greedy_weights", dtype="float32")
    out = dense(_concat(outputs))
    dense.set_weights([np.concatenate([w * np.eye(classes) for w in weights]).astype("float32")])
    model = keras.Model(inputs, out, name=name)
    return model


def build_stacked(members: list[Any], coef: np.ndarray, intercept: np.ndarray, name: str = "ensemble_stacked") -> Any:
    """softmax(concat(p_1..p_M) @ coef.T + intercept): a fitted multinomial logistic regression on top."""
    import keras

    side, classes = check_members(members)
    coef, intercept = np.asarray(coef, dtype="float32"), np.asarray(intercept, dtype="float32")
    if coef.shape != (classes, classes * len(members)) or intercept.shape != (classes,):
        raise ValueError(f"stacker coefficients {coef.shape}/{intercept.shape} do not fit {len(members)} members "
                         f"of {classes} classes")
    inputs, outputs = member_outputs(members, side)
    dense = keras.layers.Dense(classes, trainable=False, name="stacker", dtype="float32")
    logits = dense(_concat(outputs))
    dense.set_weights([coef.T, intercept])
    out = keras.layers.Softmax(name="stacked_softmax", dtype="float32")(logits)
    return keras.Model(inputs, out, name=name)


def _concat(outputs: list[Any]) -> Any:
    import keras

    if len(outputs) == 1:
        return outputs[0]
    return keras.layers.Concatenate(name="member_probabilities", dtype="float32")(outputs)


def members_model(members: list[Any]) -> Any:
    """A model returning every member's probabilities (on the ensemble's input): fitting and judging use it."""
    import keras

    side, _ = check_members(members)
    inputs, outputs = member_outputs(members, side)
    return keras.Model(inputs, outputs, name="members")
