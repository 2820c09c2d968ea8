"""Find layers in a Keras model (nested backbones included) and record their outputs.

A fine-tuned model holds its keras.applications backbone as a nested sub-model,
so every lookup walks the layers recursively. Outputs of any inner layer are
captured during one eager forward pass of the whole model by temporarily
wrapping that layer's ``call``: no sub-model has to be rebuilt across the
nesting boundary.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator
from typing import Any

import keras

from ..errors import UserError
from ..models.layers import leaf_layers

_SKIP_AS_TARGET = ("Pooling", "Dropout", "InputLayer", "ZeroPadding", "Cropping", "Resizing", "Rescaling",
                   "Normalization", "Random", "Reshape")


class NoConvLayer(UserError):
    """The model has no 2-D convolution, so there is no filter / feature-map figure to draw."""


def output_rank(layer: keras.layers.Layer) -> int | None:
    """Rank of the layer's (single) output tensor, or None when it has none or several."""
    try:
        out = layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None
    shape = getattr(out, "shape", None)
    return None if shape is None else len(shape)


def first_conv(model: keras.Model) -> keras.layers.Layer:
    """The first Conv2D the input meets (Keras 3's depthwise / separable / transposed convolutions are
    not Conv2D subclasses, so the kernel is always (kh, kw, in, out)); NoConvLayer if there is none."""
    for layer in leaf_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    raise NoConvLayer(f"model {model.name!r} has no Conv2D layer: filters and feature maps need one")


def feature_map_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers whose output is a (batch, h, w, c) feature map: the valid guided-backprop targets."""
    return [layer for layer in leaf_layers(model) if output_rank(layer) == 4]


def default_target_layer(model: keras.Model) -> keras.layers.Layer:
    """The last conv stage's output: the last feature-map layer that is not pooling, dropout,
    padding, reshaping or preprocessing (scratch: ``block{N}_act``; CIFAR ResNet: the last residual stage's
    ``stage3_block{n}_out``; ResNet50: ``conv5_block3_out``; VGG16: ``block5_conv3``; InceptionV3: ``mixed10``)."""
    candidates = [layer for layer in feature_map_layers(model)
                  if not any(part in type(layer).__name__ for part in _SKIP_AS_TARGET)]
    if not candidates:
        raise NoConvLayer(f"model {model.name!r} has no convolutional feature map to explain")
    return candidates[-1]


def find_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """The feature-map layer called ``name`` (searching nested models); UserError listing the valid ones."""
    valid = feature_map_layers(model)
    for layer in valid:
        if layer.name == name:
            return layer
    names = [layer.name for layer in valid]
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    shown = ", ".join(names[:60]) + (f", ... and {len(names) - 60} more" if len(names) > 60 else "")
    other = " (it exists but its output is not a (h, w, channels) feature map)" if any(
        layer.name == name for layer in leaf_layers(model)) else ""
    raise UserError(f"--layer {name!r}: no such feature-map layer in model {model.name!r}{other}.{hint} "
                    f"Valid layers: {shown}")


@contextlib.contextmanager
def patched(obj: Any, attr: str, value: Any) -> Iterator[None]:
    """Set an instance attribute for the duration of the block, then restore (or remove) it."""
    had_own = attr in vars(obj)
    old = vars(obj)[attr] if had_own else None
    object.__setattr__(obj, attr, value)
    try:
        yield
    finally:
        if had_own:
            object.__setattr__(obj, attr, old)
        else:
            object.__delattr__(obj, attr)


@contextlib.contextmanager
def capture_outputs(layers: list[keras.layers.Layer]) -> Iterator[dict[str, list[Any]]]:
    """Record each listed layer's output every time it runs, keyed by layer name."""
    seen: dict[str, list[Any]] = {layer.name: [] for layer in layers}

    def recorder(layer: keras.layers.Layer, call: Callable[..., Any]) -> Callable[..., Any]:
        def call_and_record(*args: Any, **kwargs: Any) -> Any:
            out = call(*args, **kwargs)
            seen[layer.name].append(out)
            return out
        return call_and_record

    with contextlib.ExitStack() as stack:
        for layer in layers:
            stack.enter_context(patched(layer, "call", recorder(layer, layer.call)))
        yield seen


def layer_outputs(model: keras.Model, layers: list[keras.layers.Layer], x: Any) -> list[Any]:
    """One eager inference pass of ``model`` on ``x``: the listed layers' outputs (backend tensors)."""
    with capture_outputs(layers) as seen:
        model(x, training=False)
    return [seen[layer.name][-1] for layer in layers]
