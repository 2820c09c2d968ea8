"""CIFAR-style residual networks (He et al. 2016, section 4.2): ResNet-6n+2.

A 3×3 stem conv, then three stages of n basic blocks (two 3×3 convs with BN, an identity
shortcut, an Add, the activation) at width, 2·width and 4·width filters; the first block of
stages 2 and 3 halves the map with stride 2. Where the shape changes the shortcut is
option ``a`` (subsample with a 1×1 stride-2 pool, zero-pad the new channels: no parameters)
or ``b`` (1×1 projection conv + BN). Then the head. Kernels start He normal and carry an L2
loss term (``l2``; see docs/resnet.md for why not the optimizer's decoupled decay).

The network is described once, as plain data (``resnet_graph``): ``resnet_plan`` counts it
analytically, ``build_resnet`` turns it into Keras layers (built-in ones only: the zero-padding is
Reshape → ZeroPadding3D → Reshape, so a saved model loads in plain Keras, safe mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..trial_config import ResNetTrial
from . import flops as F
from .flops import LayerRow
from .scratch import BN_MOMENTUM


@dataclass(frozen=True)
class Node:
    """One layer of the graph: its name, Keras class, arguments and the names of its inputs."""

    name: str
    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()


def resnet_graph(config: ResNetTrial, num_classes: int) -> list[Node]:
    """The layers of the network in order, each reading the nodes it names (pure)."""
    nodes: list[Node] = []

    def add(name: str, kind: str, inputs: tuple[str, ...] | None = None, **args: Any) -> str:
        nodes.append(Node(name, kind, args, inputs if inputs is not None else (nodes[-1].name,)))
        return name

    def conv_bn(prefix: str, x: str, filters: int, kernel: int, stride: int, suffix: str = "") -> str:
        add(f"{prefix}_conv{suffix}", "Conv2D", (x,), filters=filters, kernel=kernel, stride=stride)
        return add(f"{prefix}_bn{suffix}", "BatchNormalization")

    x = add("image", "Input", ())
    if config.augment:
        x = add("augment", "Augment")
    x = add("rescale", "Rescaling")
    x = add("stem_act", "Activation", (conv_bn("stem", x, config.width, 3, 1),))
    channels = config.width
    for stage in range(1, 4):
        filters = config.width * 2 ** (stage - 1)
        for block in range(1, config.blocks_per_stage + 1):
            prefix, stride = f"stage{stage}_block{block}", 2 if stage > 1 and block == 1 else 1
            y = add(f"{prefix}_act1", "Activation", (conv_bn(prefix, x, filters, 3, stride, "1"),))
            y = conv_bn(prefix, y, filters, 3, 1, "2")
            shortcut = _shortcut(add, config.shortcut, prefix, x, channels, filters, stride)
            add(f"{prefix}_add", "Add", (y, shortcut))
            x = add(f"{prefix}_out", "Activation")
            channels = filters
    _head(add, config, num_classes)
    return nodes


def _shortcut(add, option: str, prefix: str, x: str, channels: int, filters: int, stride: int) -> str:
    """The identity, or option a (subsample, zero-pad channels) / b (1×1 projection) where shapes change."""
    if stride == 1 and channels == filters:
        return x
    if option == "b":
        add(f"{prefix}_proj", "Conv2D", (x,), filters=filters, kernel=1, stride=stride)
        return add(f"{prefix}_proj_bn", "BatchNormalization")
    if stride != 1:
        x = add(f"{prefix}_subsample", "MaxPooling2D", (x,), stride=stride)
    if channels != filters:
        extra = filters - channels
        add(f"{prefix}_pad_in", "Reshape", (x,), add_axis=True)
        add(f"{prefix}_pad", "ZeroPadding3D", pad=(extra // 2, extra - extra // 2))
        x = add(f"{prefix}_pad_out", "Reshape", drop_axis=True)
    return x


def _head(add, config: ResNetTrial, num_classes: int) -> None:
    if config.head == "gap":
        add("avg_pool", "GlobalAveragePooling2D")
    else:
        add("flatten", "Flatten")
    if config.head == "dense_dropout":
        add("dense", "Dense", units=config.dense_units, use_bias=False)
        add("dense_bn", "BatchNormalization")
        add("dense_act", "Activation")
    add("dropout", "Dropout")
    add("predictions", "Dense", units=num_classes, use_bias=True, softmax=True)


def resnet_plan(config: ResNetTrial, num_classes: int) -> list[LayerRow]:
    """Summary rows of the network from its config alone (shapes, params, FLOPs; no Keras)."""
    size = int(config.image_size)
    shapes: dict[str, F.Shape] = {}
    rows: list[LayerRow] = []
    for node in resnet_graph(config, num_classes):
        if node.kind == "Input":
            shapes[node.name] = (size, size, 3)
            continue
        shape, params, flops, trainable = _count(node, [shapes[i] for i in node.inputs])
        shapes[node.name] = shape
        rows.append(LayerRow(node.name, "Sequential" if node.kind == "Augment" else node.kind, shape, params,
                             flops, trainable_params=trainable))
    return rows


def _count(node: Node, ins: list[F.Shape]) -> tuple[F.Shape, int, int, int | None]:
    """(output shape, params, FLOPs, trainable params or None for all) of one node."""
    a, shape = node.args, ins[0]
    if node.kind == "Conv2D":
        return (*F.conv2d(shape, a["filters"], (a["kernel"],) * 2, (a["stride"],) * 2, use_bias=False), None)
    if node.kind == "BatchNormalization":
        return (*F.batch_norm(shape), 2 * shape[-1])
    if node.kind == "Dense":
        out, params, flops = F.dense(shape, a["units"], a["use_bias"])
        return out, params, flops + (F.elements(out) if a.get("softmax") else 0), None
    if node.kind == "MaxPooling2D":
        return (*F.pool2d(shape, (1, 1), (a["stride"],) * 2), None)
    if node.kind == "Reshape":
        return (shape[:-1] if a.get("drop_axis") else (*shape, 1)), 0, 0, None
    if node.kind == "ZeroPadding3D":
        return (*shape[:2], shape[2] + sum(a["pad"]), shape[3]), 0, 0, None
    if node.kind == "Add":
        return shape, 0, (len(ins) - 1) * F.elements(shape), None
    if node.kind == "GlobalAveragePooling2D":
        return (*F.global_pool(shape), None)
    if node.kind == "Flatten":
        return (*F.flatten(shape), None)
    if node.kind == "Rescaling":
        return (*F.elementwise(shape, 2), None)
    if node.kind == "Activation":
        return (*F.elementwise(shape), None)
    return shape, 0, 0, None  # Augment, Dropout: data movement only


def build_resnet(config: ResNetTrial, num_classes: int):
    """The network as a keras.Model taking raw 0..255 pixels and ending in a float32 softmax."""
    import keras

    tensors: dict[str, Any] = {}
    for node in resnet_graph(config, num_classes):
        if node.kind == "Input":
            tensors[node.name] = keras.Input((int(config.image_size),) * 2 + (3,), name=node.name)
            continue
        ins = [tensors[i] for i in node.inputs]
        tensors[node.name] = _layer(keras, node, config, ins)(ins if node.kind == "Add" else ins[0])
    return keras.Model(tensors["image"], tensors["predictions"], name=f"resnet{config.depth}")


def _layer(keras, node: Node, config: ResNetTrial, ins: list):
    """The Keras layer of one node (``ins``: its input tensors, for the shapes Reshape needs)."""
    from .augment import augmentation_block

    layers, a, name = keras.layers, node.args, node.name
    kernel = {"kernel_initializer": "he_normal",
              "kernel_regularizer": keras.regularizers.L2(config.l2 / 2) if config.l2 else None}
    if node.kind == "Conv2D":
        return layers.Conv2D(a["filters"], a["kernel"], strides=a["stride"], padding="same", use_bias=False,
                             name=name, **kernel)
    if node.kind == "Dense":
        extra = {"activation": "softmax", "dtype": "float32"} if a.get("softmax") else {}
        return layers.Dense(a["units"], use_bias=a["use_bias"], name=name, **kernel, **extra)
    if node.kind == "BatchNormalization":
        return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)
    if node.kind == "Activation":
        return layers.Activation(config.activation, name=name)
    if node.kind == "MaxPooling2D":
        return layers.MaxPooling2D(pool_size=1, strides=a["stride"], name=name)
    if node.kind == "Reshape":
        h, w, *rest = (int(d) for d in ins[0].shape[1:])
        return layers.Reshape((h, w, rest[0]) if a.get("drop_axis") else (h, w, rest[0], 1), name=name)
    if node.kind == "ZeroPadding3D":
        return layers.ZeroPadding3D(((0, 0), (0, 0), a["pad"]), name=name)
    if node.kind == "Dropout":
        return layers.Dropout(config.dropout, seed=config.seed, name=name)
    if node.kind == "Augment":
        return augmentation_block(config.seed, config.augment, int(config.image_size))
    if node.kind == "Rescaling":
        return layers.Rescaling(1.0 / 255, name=name)
    simple = {"Add": layers.Add, "GlobalAveragePooling2D": layers.GlobalAveragePooling2D, "Flatten": layers.Flatten}
    return simple[node.kind](name=name)
