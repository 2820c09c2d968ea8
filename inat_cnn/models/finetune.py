"""Fine-tuning: a frozen-k backbone under a new head, two phases, tuning ratios.

Phase ``head``: the whole backbone is frozen. Phase ``fine_tune``: the last
``trainable_layers`` backbone layers train (BatchNormalization layers are not
counted and always stay frozen: a non-trainable BN runs in inference mode in
Keras 3, which ``base(x, training=False)`` does not guarantee during fit, keras-team/keras#20285;
see docs/design.md).
"""

from __future__ import annotations

import keras

from ..trial_config import FinetuneTrial
from .augment import AUGMENT_NAME, augmentation_block
from .backbones import get_spec, load_backbone
from .flops import count_weights
from .layers import iter_leaf_layers
from .preprocess import apply_preprocessing, is_preprocessing

PHASES = ("head", "fine_tune")


def build_finetune(config: FinetuneTrial, num_classes: int) -> keras.Model:
    """Raw pixels → [augment] → preprocess → backbone → GAP → [dense] → dropout → softmax."""
    spec = get_spec(config.backbone)
    size = int(config.image_size)
    backbone = load_backbone(config.backbone, config.weights, size)
    inputs = keras.Input((size, size, 3), name="image")
    x = augmentation_block(config.seed, config.augment, size)(inputs) if config.augment else inputs
    x = apply_preprocessing(x, spec.preprocess)  # built-in layers: plain Keras loads the model
    x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if config.extra_dense:
        x = keras.layers.Dense(config.extra_dense, name="extra_dense")(x)
        x = keras.layers.Activation("relu", name="extra_dense_act")(x)
    x = keras.layers.Dropout(config.dropout, seed=config.seed, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=f"finetune_{config.backbone}")
    apply_phase(model, config, "fine_tune")
    return model


def finetune_plan(config: FinetuneTrial, num_classes: int) -> list:
    """Summary rows of the fine-tuning model: built with random weights (never run) and walked."""
    from .summary import summarize_model

    return summarize_model(build_finetune(config.model_copy(update={"weights": "none"}), num_classes)).rows


def find_backbone(model: keras.Model) -> keras.Model | None:
    """The nested backbone model (the one nested model that is not the augmentation block)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.name != AUGMENT_NAME:
            return layer
    return None


def _is_bn(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization)


def backbone_layers(backbone: keras.Model) -> list[keras.layers.Layer]:
    """The backbone's layers that frozen-k counts: all but the input layer and BatchNormalization."""
    return [layer for layer in backbone.layers
            if not isinstance(layer, keras.layers.InputLayer) and not _is_bn(layer)]


def apply_phase(model: keras.Model, config, phase: str) -> None:
    """Set ``trainable`` for a phase (recompile afterwards). A model without a backbone trains fully."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; expected one of {PHASES}")
    backbone = find_backbone(model)
    if backbone is None:
        return
    k = 0 if phase == "head" else int(getattr(config, "trainable_layers", 0))
    backbone.trainable = k > 0
    for layer in backbone.layers:
        layer.trainable = False
    if k:
        for layer in backbone_layers(backbone)[-k:]:
            layer.trainable = True


def tuning_ratios(model: keras.Model) -> dict[str, float]:
    """Layer tuning ratio (layers with weights that train / layers with weights) and parameter tuning ratio.

    The fixed input-preprocessing layers (caffe's frozen channel swap) are not network layers: left out.
    """
    weighted = [(layer, trainable) for layer, trainable, parent in iter_leaf_layers(model)
                if layer.weights and not (parent is None and is_preprocessing(layer))]
    tuned = sum(1 for layer, trainable in weighted if trainable and layer.trainable_weights)
    total_params = model.count_params()
    trainable_params = count_weights(model.trainable_weights)
    return {
        "layer_tuning_ratio": tuned / len(weighted) if weighted else 0.0,
        "parameter_tuning_ratio": trainable_params / total_params if total_params else 0.0,
    }
