"""Analytic parameter and FLOP counts (pure: plain numbers in, plain numbers out).

Convention, printed with every summary: FLOPs are per image at inference; one
multiply-add is 2 FLOPs. Conv/dense: 2 · (kernel inputs) per output element (the
bias add is the last add of the chain). BatchNormalization, Rescaling,
Normalization and input preprocessing: 2 per element (scale and shift).
Activations: 1 per element. Add/Multiply: 1 per element per extra input.
Pooling: k·k per output element (a 1×1 window is a copy: 0); global pooling: 1 per input element. Layers
that only move data (padding, flatten, concatenate, dropout, augmentation) are 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

FLOP_CONVENTION = ("FLOPs per image at inference; one multiply-add = 2 FLOPs "
                   "(conv/dense 2·k·k·Cin per output, BN 2 per element, activations 1 per element)")

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerRow:
    """One row of a model summary."""

    name: str
    kind: str
    output_shape: Shape
    params: int
    flops: int
    trainable_params: int | None = None  # None: all of ``params`` train
    parent: str | None = None  # the nested model (e.g. the backbone) this layer belongs to

    @property
    def trained(self) -> int:
        return self.params if self.trainable_params is None else self.trainable_params


@dataclass
class ModelSummary:
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_flops: int = 0
    convention: str = FLOP_CONVENTION

    @classmethod
    def from_rows(cls, rows: list[LayerRow]) -> ModelSummary:
        return cls(rows=rows, total_params=sum(r.params for r in rows),
                   trainable_params=sum(r.trained for r in rows), total_flops=sum(r.flops for r in rows))


def elements(shape: Shape) -> int:
    return math.prod(shape)


def conv_out_side(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Output side of a convolution or pooling window along one axis."""
    if padding == "same":
        return -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    return (size - effective) // stride + 1 if size >= effective else 0


def conv2d(in_shape: Shape, filters: int, kernel: tuple[int, int], strides: tuple[int, int] = (1, 1),
           padding: str = "same", use_bias: bool = True, groups: int = 1,
           dilation: tuple[int, int] = (1, 1)) -> tuple[Shape, int, int]:
    """(output shape, params, FLOPs) of a Conv2D on an (H, W, C) input."""
    h, w, c = in_shape
    out = (conv_out_side(h, kernel[0], strides[0], padding, dilation[0]),
           conv_out_side(w, kernel[1], strides[1], padding, dilation[1]), filters)
    fan_in = kernel[0] * kernel[1] * (c // groups)
    params = fan_in * filters + (filters if use_bias else 0)
    return out, params, 2 * fan_in * elements(out)


def depthwise_conv2d(in_shape: Shape, kernel: tuple[int, int], strides: tuple[int, int] = (1, 1),
                     padding: str = "same", depth_multiplier: int = 1, use_bias: bool = True,
                     dilation: tuple[int, int] = (1, 1)) -> tuple[Shape, int, int]:
    h, w, c = in_shape
    out = (conv_out_side(h, kernel[0], strides[0], padding, dilation[0]),
           conv_out_side(w, kernel[1], strides[1], padding, dilation[1]), c * depth_multiplier)
    k = kernel[0] * kernel[1]
    params = k * c * depth_multiplier + (out[2] if use_bias else 0)
    return out, params, 2 * k * elements(out)


def separable_conv2d(in_shape: Shape, filters: int, kernel: tuple[int, int], strides: tuple[int, int] = (1, 1),
                     padding: str = "same", depth_multiplier: int = 1, use_bias: bool = True,
                     dilation: tuple[int, int] = (1, 1)) -> tuple[Shape, int, int]:
    mid, dw_params, dw_flops = depthwise_conv2d(in_shape, kernel, strides, padding, depth_multiplier,
                                                use_bias=False, dilation=dilation)
    out, pw_params, pw_flops = conv2d(mid, filters, (1, 1), use_bias=use_bias)
    return out, dw_params + pw_params, dw_flops + pw_flops


def dense(in_shape: Shape, units: int, use_bias: bool = True) -> tuple[Shape, int, int]:
    fan_in = in_shape[-1]
    out = (*in_shape[:-1], units)
    return out, fan_in * units + (units if use_bias else 0), 2 * fan_in * elements(out)


def batch_norm(in_shape: Shape, center: bool = True, scale: bool = True) -> tuple[Shape, int, int]:
    """gamma/beta (when used) plus the moving mean and variance, per channel."""
    return in_shape, (2 + int(center) + int(scale)) * in_shape[-1], 2 * elements(in_shape)


def pool2d(in_shape: Shape, pool: tuple[int, int], strides: tuple[int, int] | None = None,
           padding: str = "valid") -> tuple[Shape, int, int]:
    h, w, c = in_shape
    strides = strides or pool
    out = (conv_out_side(h, pool[0], strides[0], padding), conv_out_side(w, pool[1], strides[1], padding), c)
    window = pool[0] * pool[1]
    return out, 0, (window if window > 1 else 0) * elements(out)  # a 1×1 window only subsamples: a copy


def global_pool(in_shape: Shape) -> tuple[Shape, int, int]:
    return (in_shape[-1],), 0, elements(in_shape)


def elementwise(shape: Shape, per_element: int = 1) -> tuple[Shape, int, int]:
    return shape, 0, per_element * elements(shape)


def count_weights(weights) -> int:
    """Number of scalars in a list of variables (anything with a ``shape``)."""
    return sum(math.prod(int(d) for d in w.shape) for w in weights)


def flatten(in_shape: Shape) -> tuple[Shape, int, int]:
    return (elements(in_shape),), 0, 0
