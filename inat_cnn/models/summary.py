"""Model summaries: per-layer output shape, parameters and analytic FLOPs.

Each family's planner (``Family.plan``, registered in trial_config) gives the rows:
the scratch CNN and the ResNet from their config alone, a fine-tuning model built
with random weights (never run) and walked layer by layer with the formulas of ``flops``.
"""

from __future__ import annotations

from ..trial_config import CommonTrial, family_of
from . import flops as F
from .flops import LayerRow, ModelSummary, count_weights

_MERGE = ("Add", "Multiply", "Subtract", "Average", "Maximum", "Minimum")
_ACTIVATIONS = ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU")
_SCALE_SHIFT = ("Rescaling", "Normalization", "Preprocess", "CustomScaleLayer")


def summarize(config: CommonTrial, num_classes: int) -> ModelSummary:
    """Analytic summary of the model a trial config builds (no training, no forward pass)."""
    return ModelSummary.from_rows(family_of(config).plan(config, num_classes))


def summarize_model(model) -> ModelSummary:
    """Walk a built keras.Model (nested models flattened) and count each layer analytically."""
    import keras

    from .layers import iter_leaf_layers

    rows = [layer_row(layer, trainable, parent) for layer, trainable, parent in iter_leaf_layers(model)]
    # Nested models without weights (the augmentation block) are one row each.
    for layer in model.layers:
        if isinstance(layer, keras.Model) and not layer.weights:
            rows = [r for r in rows if r.parent != layer.name]
            rows.append(LayerRow(layer.name, type(layer).__name__, _shape(layer.output), 0, 0))
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    rows.sort(key=lambda r: order.get(r.parent or r.name, -1))
    return ModelSummary.from_rows(rows)


def _shape(tensor) -> F.Shape:
    return tuple(int(d) for d in tensor.shape[1:])


def layer_row(layer, trainable: bool, parent: str | None) -> LayerRow:
    """One analytic row for a leaf Keras layer."""
    inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    in_shape, out_shape = _shape(inputs[0]), _shape(layer.output)
    params, flops = _params_flops(layer, in_shape, out_shape, len(inputs))
    frozen = count_weights(layer.non_trainable_weights) if trainable else params
    return LayerRow(layer.name, type(layer).__name__, out_shape, params, flops,
                    trainable_params=params - frozen, parent=parent)


def _params_flops(layer, in_shape: F.Shape, out_shape: F.Shape, n_inputs: int) -> tuple[int, int]:
    kind = type(layer).__name__
    if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        common = dict(strides=tuple(layer.strides), padding=layer.padding, use_bias=layer.use_bias,
                      dilation=tuple(layer.dilation_rate))
        if kind == "Conv2D":
            _, params, flops = F.conv2d(in_shape, layer.filters, tuple(layer.kernel_size), groups=layer.groups,
                                        **common)
        elif kind == "DepthwiseConv2D":
            _, params, flops = F.depthwise_conv2d(in_shape, tuple(layer.kernel_size),
                                                  depth_multiplier=layer.depth_multiplier, **common)
        else:
            _, params, flops = F.separable_conv2d(in_shape, layer.filters, tuple(layer.kernel_size),
                                                  depth_multiplier=layer.depth_multiplier, **common)
        return params, flops + _fused_activation(layer, out_shape)
    if kind == "Dense":
        _, params, flops = F.dense(in_shape, layer.units, layer.use_bias)
        return params, flops + _fused_activation(layer, out_shape)
    if kind == "BatchNormalization":
        return F.batch_norm(in_shape, layer.center, layer.scale)[1:]
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        return 0, F.pool2d(in_shape, tuple(layer.pool_size), tuple(layer.strides), layer.padding)[2]
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return 0, F.global_pool(in_shape)[2]
    weights = count_weights(layer.weights)  # layers below hold no weights, or only statistics
    if kind in _MERGE:
        return weights, (n_inputs - 1) * F.elements(out_shape)
    if kind in _ACTIVATIONS:
        return weights, F.elements(out_shape)
    if kind in _SCALE_SHIFT:
        return weights, 2 * F.elements(out_shape)
    return weights, 0


def _fused_activation(layer, out_shape: F.Shape) -> int:
    name = layer.get_config().get("activation")
    return 0 if name in (None, "linear") else F.elements(out_shape)


def collapse_nested(rows: list[LayerRow]) -> list[LayerRow]:
    """Replace the rows of each nested model (the backbone) by one total row."""
    out: list[LayerRow] = []
    for row in rows:
        if row.parent is None:
            out.append(row)
        elif out and out[-1].name == row.parent:
            last = out[-1]
            out[-1] = LayerRow(last.name, last.kind, row.output_shape, last.params + row.params,
                               last.flops + row.flops, last.trained + row.trained)
        else:
            out.append(LayerRow(row.parent, "Functional", row.output_shape, row.params, row.flops, row.trained))
    return out


def format_summary(summary: ModelSummary, expand: bool = False) -> str:
    """A plain-text table: layer (type), output shape, params, FLOPs, then totals and the convention."""
    rows = summary.rows if expand else collapse_nested(summary.rows)
    table = [("Layer (type)", "Output shape", "Params", "FLOPs")]
    for r in rows:
        name = f"{r.parent}/{r.name}" if expand and r.parent else r.name
        table.append((f"{name} ({r.kind})", "(" + ", ".join(map(str, r.output_shape)) + ")",
                      f"{r.params:,}", f"{r.flops:,}"))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in table]
    lines.insert(1, "-" * len(lines[0]))
    lines += ["-" * len(lines[0]),
              f"Total params: {summary.total_params:,} (trainable {summary.trainable_params:,}, "
              f"non-trainable {summary.total_params - summary.trainable_params:,})",
              f"Total FLOPs: {summary.total_flops:,} ({summary.total_flops / 1e9:.3f} GFLOPs)",
              f"Convention: {summary.convention}"]
    return "\n".join(lines)
