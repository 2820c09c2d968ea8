"""Guided backpropagation (Springenberg et al. 2015) for neurons of the last conv block.

Every ReLU-family activation of the model (``Activation`` layers, ``ReLU`` /
``LeakyReLU`` / ``ELU`` layers, and activations fused into Conv/Dense layers,
nested backbones included) is swapped, for one eager pass, by its *guided*
version: the same forward values; backward, only positive upstream gradients
pass, times the activation's own derivative. For ReLU that is the classic rule
(gradient flows where the forward input > 0 AND the upstream gradient > 0).
For gelu / silu / elu / mish / ... the same positive-upstream gate is applied
to their own (smooth) derivative; the figure title names what was wrapped.

Neurons: the ``neurons`` channels of the target layer with the highest
activation anywhere in the map (ties: lower channel index), each at its
strongest spatial position. The gradient of that single neuron is taken with
respect to the raw input pixels (rescaling is inside the model).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..models.layers import leaf_layers
from . import gradients
from .figures import GUIDED_SIZE, grid_shape, new_figure, save_png, show_image
from .introspect import capture_outputs, default_target_layer, find_layer, layer_outputs, patched

#: Activations treated as ReLU-family and wrapped by the guided rule (by function name).
GUIDED_ACTIVATIONS = frozenset({"relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish",
                                "mish", "hard_silu", "hard_swish"})
#: Layer classes that are themselves a ReLU-family activation; their ``call`` is wrapped.
_ACTIVATION_LAYERS = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu"}


@dataclass
class GuidedResult:
    """What one guided-backprop run explains and the gradients it found."""

    image: np.ndarray  # uint8 (S, S, 3)
    layer: str
    channels: list[int]
    positions: list[tuple[int, int]]
    activations: list[float]
    gradients: np.ndarray  # float32 (k, S, S, 3), d neuron / d input pixels
    wrapped: dict[str, int] = field(default_factory=dict)  # activation name -> layers wrapped


def activation_name(fn: object) -> str:
    """The name Keras gives an activation function (``swish`` is ``silu``)."""
    name = getattr(fn, "__name__", type(fn).__name__)
    return "silu" if name == "swish" else name


@contextlib.contextmanager
def guided_activations(model: keras.Model) -> Iterator[dict[str, int]]:
    """Swap every ReLU-family activation for its guided version inside the block.

    Yields a count of wrapped layers per activation name. The model is restored afterwards.
    """
    wrapped: Counter[str] = Counter()
    with contextlib.ExitStack() as stack:
        for layer in leaf_layers(model):
            kind = _ACTIVATION_LAYERS.get(type(layer).__name__)
            if kind == "relu" and getattr(layer, "max_value", None) is not None:
                kind = f"relu{float(layer.max_value):g}"  # MobileNetV2's ReLU(6.) -> relu6
            if kind is not None:
                stack.enter_context(patched(layer, "call", _guided_call(layer.call)))
                wrapped[kind] += 1
                continue
            fn = getattr(layer, "activation", None)
            if callable(fn) and activation_name(fn) in GUIDED_ACTIVATIONS:
                stack.enter_context(patched(layer, "activation", gradients.guided(fn)))
                wrapped[activation_name(fn)] += 1
        yield dict(wrapped)


def _guided_call(call: Callable[..., Any]) -> Callable[..., Any]:
    """An activation layer's ``call`` with the guided rule on its input."""
    def guided_call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return gradients.guided(lambda t: call(t, *args, **kwargs))(inputs)
    return guided_call


def choose_neurons(fmap: np.ndarray, k: int) -> tuple[list[int], list[tuple[int, int]], list[float]]:
    """The ``k`` channels of an (h, w, c) map with the largest maximum, each at its argmax position."""
    h, w, c = fmap.shape
    peak = fmap.reshape(h * w, c).max(axis=0)
    channels = [int(ch) for ch in np.argsort(-peak, kind="stable")[: min(k, c)]]
    positions = [tuple(int(v) for v in np.unravel_index(int(np.argmax(fmap[:, :, ch])), (h, w)))
                 for ch in channels]
    return channels, positions, [float(fmap[p[0], p[1], ch]) for ch, p in zip(channels, positions)]


def guided_backprop(model: keras.Model, image: np.ndarray, layer: str | None = None,
                    neurons: int = 10) -> GuidedResult:
    """Guided gradients of ``neurons`` neurons of ``layer`` (default: the last conv stage) for one image."""
    if neurons < 1:
        raise ValueError("neurons must be at least 1")
    target = find_layer(model, layer) if layer else default_target_layer(model)
    x = np.asarray(image, np.float32)[None]
    fmap = np.asarray(keras.ops.convert_to_numpy(layer_outputs(model, [target], x)[0]))[0]
    channels, positions, values = choose_neurons(fmap, neurons)

    with guided_activations(model) as wrapped:
        grads = guided_gradients(model, x, target, channels, positions)
    return GuidedResult(np.asarray(image, np.uint8), target.name, channels, positions, values, grads, wrapped)


def guided_gradients(model: keras.Model, x: np.ndarray, target: keras.layers.Layer, channels: list[int],
                     positions: list[tuple[int, int]]) -> np.ndarray:
    """d target[0, h, w, c] / d x for each (c, (h, w)): (k, S, S, 3). Call inside ``guided_activations``
    for guided gradients, outside it for plain ones."""

    def selected(inputs: Any) -> Any:
        with capture_outputs([target]) as seen:
            model(inputs, training=False)
        out = seen[target.name][-1]
        return keras.ops.stack([out[0, h, w, ch] for ch, (h, w) in zip(channels, positions)])

    return gradients.jacobian_rows(selected, x)[:, 0]


def describe_rule(wrapped: dict[str, int]) -> str:
    """Honest one-line account of which activations the guided rule was applied to."""
    if not wrapped:
        return "no ReLU-family activation found: plain gradients"
    parts = [f"{name} x{count}" for name, count in sorted(wrapped.items())]
    smooth = sorted(name for name in wrapped if not name.startswith("relu"))
    note = f"; on {', '.join(smooth)}: positive-upstream gate x its own derivative" if smooth else ""
    return f"guided rule on {', '.join(parts)}{note}"


def gradient_to_rgb(grad: np.ndarray) -> np.ndarray:
    """Display a gradient image: centred, scaled to 0.1 std around 0.5, clipped to [0, 1] (zero -> grey)."""
    g = np.asarray(grad, np.float32)
    g = g - g.mean()
    std = float(g.std())
    if std > 0:
        g = g / std * 0.1
    return np.clip(g + 0.5, 0.0, 1.0)


def plot_guided_backprop(result: GuidedResult, out: Path, title: str | None = None) -> Path:
    """GUIDED_SIZE PNG: the input image on the left, one panel per explained neuron (2x5 for 10)."""
    width, height = GUIDED_SIZE
    fig = new_figure(width, height)
    rows, cols = grid_shape(len(result.channels))
    fig.suptitle(title or (f"Guided backprop: {result.layer}, {len(result.channels)} most active channels at "
                           f"their strongest position\n{describe_rule(result.wrapped)}"), fontsize=11)
    outer = fig.add_gridspec(1, 2, width_ratios=(1, 3.2), left=0.02, right=0.99, top=0.84, bottom=0.03,
                             wspace=0.08)
    show_image(fig.add_subplot(outer[0]), result.image, "input", fontsize=10)
    inner = outer[1].subgridspec(rows, cols, hspace=0.3, wspace=0.08)
    for k, (ch, (h, w), act) in enumerate(zip(result.channels, result.positions, result.activations)):
        show_image(fig.add_subplot(inner[divmod(k, cols)]), gradient_to_rgb(result.gradients[k]),
                   f"ch {ch} @ ({h},{w})  act {act:.2g}", fontsize=8)
    return save_png(fig, out)
