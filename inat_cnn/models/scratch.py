"""The scratch CNN: conv_blocks × (Conv2D → BN → activation → MaxPool) → Dense → Dropout → softmax.

``scratch_plan`` is pure (shapes, params and FLOPs from the config alone);
``build_scratch`` turns the same plan into a keras.Model.
"""

from __future__ import annotations

from ..errors import UserError
from ..trial_config import ScratchTrial
from . import flops as F
from .flops import LayerRow

BN_MOMENTUM = 0.9  # measured: the default 0.99 leaves val accuracy at chance for short runs (docs/design.md)
POOL = (2, 2)


def scratch_plan(config: ScratchTrial, num_classes: int) -> list[LayerRow]:
    """Rows of the scratch CNN without building it; UserError if the image shrinks to nothing."""
    size = int(config.image_size)
    shape: F.Shape = (size, size, 3)
    rows: list[LayerRow] = []

    def add(name: str, kind: str, result: tuple[F.Shape, int, int], trainable: int | None = None) -> None:
        nonlocal shape
        shape = result[0]
        rows.append(LayerRow(name, kind, result[0], result[1], result[2], trainable_params=trainable))

    if config.augment:
        add("augment", "Sequential", (shape, 0, 0))
    add("rescale", "Rescaling", F.elementwise(shape, 2))
    for i, (filters, kernel) in enumerate(zip(config.filter_plan, config.kernel_plan), start=1):
        add(f"block{i}_conv", "Conv2D", F.conv2d(shape, filters, (kernel, kernel), padding=config.padding,
                                                   use_bias=not config.batch_norm))
        _check_positive(shape, config, f"block{i}_conv")
        if config.batch_norm:
            add(f"block{i}_bn", "BatchNormalization", F.batch_norm(shape), trainable=2 * shape[-1])
        add(f"block{i}_act", "Activation", F.elementwise(shape))
        add(f"block{i}_pool", "MaxPooling2D", F.pool2d(shape, POOL))
        _check_positive(shape, config, f"block{i}_pool")
    add("flatten", "Flatten", F.flatten(shape))
    add("dense", "Dense", F.dense(shape, config.dense_units))
    add("dense_act", "Activation", F.elementwise(shape))
    add("dropout", "Dropout", (shape, 0, 0))
    out, params, flops = F.dense(shape, num_classes)
    add("predictions", "Dense", (out, params, flops + F.elements(out)))  # + softmax
    return rows


def _check_positive(shape: F.Shape, config: ScratchTrial, where: str) -> None:
    if min(shape[:2]) < 1:
        raise UserError(
            f"image_size {config.image_size} is too small for conv_blocks {config.conv_blocks} with kernel_size "
            f"{config.kernel_size} and padding {config.padding}: the feature map is empty after {where}. "
            "Use a larger image_size, fewer conv_blocks, smaller kernels or padding: same.")


def build_scratch(config: ScratchTrial, num_classes: int):
    """The scratch CNN as a keras.Model taking raw 0..255 pixels."""
    import keras

    from .augment import augmentation_block

    scratch_plan(config, num_classes)  # validates shapes with a clear error before Keras does
    size = int(config.image_size)
    inputs = keras.Input((size, size, 3), name="image")
    x = augmentation_block(config.seed, config.augment, size)(inputs) if config.augment else inputs
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(x)
    for i, (filters, kernel) in enumerate(zip(config.filter_plan, config.kernel_plan), start=1):
        x = keras.layers.Conv2D(filters, kernel, padding=config.padding, use_bias=not config.batch_norm,
                                name=f"block{i}_conv")(x)
        if config.batch_norm:
            x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn")(x)
        x = keras.layers.Activation(config.activation, name=f"block{i}_act")(x)
        x = keras.layers.MaxPooling2D(POOL, name=f"block{i}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(config.dense_units, name="dense")(x)
    x = keras.layers.Activation(config.activation, name="dense_act")(x)
    x = keras.layers.Dropout(config.dropout, seed=config.seed, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="scratch_cnn")
