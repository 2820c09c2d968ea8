"""Walking a model's layers with nested models (a fine-tuned backbone) flattened in place."""

from __future__ import annotations

from collections.abc import Iterator

import keras


def iter_leaf_layers(model: keras.Model, parent_trainable: bool = True, parent: str | None = None, *,
                     inputs: bool = False) -> Iterator[tuple[keras.layers.Layer, bool, str | None]]:
    """(layer, effectively trainable, parent name) for every non-model layer in graph order, nested models
    expanded in place (the sub-models themselves left out); ``InputLayer`` s only with ``inputs``."""
    for layer in model.layers:
        trainable = parent_trainable and layer.trainable
        if isinstance(layer, keras.Model):
            yield from iter_leaf_layers(layer, trainable, layer.name, inputs=inputs)
        elif inputs or not isinstance(layer, keras.layers.InputLayer):
            yield layer, trainable, parent


def leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer the figures may look at: ``iter_leaf_layers`` with the input layers, without the flags."""
    return [layer for layer, _, _ in iter_leaf_layers(model, inputs=True)]
