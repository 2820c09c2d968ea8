"""Where a fine-tuning phase's frozen prefix ends, found in the Keras functional graph.

The model's graph is flattened (a nested functional backbone becomes its own nodes, its inputs and
outputs aliased to the outer tensors) into a list of steps in topological order. A tensor is *fixed*
when it is a model input or the output of a layer that has no trainable weights, draws no random
numbers (``seed_generator``: dropout, noise, random augmentation) and reads only fixed tensors. The
cut is the set of fixed tensors that a non-fixed step (or the model output) reads: one tensor for a
plain chain or the head phase (the pooled vector), several when skip connections cross it.

``replay`` re-runs steps on new tensors with the SAME layer objects: the prefix model (image → cut)
and the suffix model (cut → softmax) share every weight with the full model, so training the suffix
trains the full model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras


@dataclass
class Step:
    """One layer call (``node`` of ``layer``) or one alias (``node`` None: ``outputs[0]`` is ``inputs[0]``)."""

    layer: object
    node: object
    inputs: list
    outputs: list
    scope: str | None  # the nested model's name, None at the top level


@dataclass
class Cut:
    steps: list[Step]
    inputs: list  # the full model's input tensors
    outputs: list  # the full model's output tensors
    fixed: set[int] = field(default_factory=set)  # ids of fixed tensors
    tensors: list = field(default_factory=list)  # the cut, in first-use order
    problem: str | None = None  # why no cache can serve this phase (None: it can)

    def describe(self) -> list[str]:
        """Stable names of the cut tensors: producing layer, node, tensor index and shape."""
        names = []
        for t in self.tensors:
            op, node_index, tensor_index = t._keras_history
            names.append(f"{op.name}:{node_index}:{tensor_index}:{tuple(t.shape[1:])}")
        return names

    def prefix_layers(self) -> list:
        """The layers the prefix runs (their weights are what the cached features depend on)."""
        return [s.layer for s in self.steps if s.node is not None and all(id(t) in self.fixed for t in s.outputs)]


def _is_functional(layer) -> bool:
    return isinstance(layer, keras.Model) and hasattr(layer, "_nodes_by_depth") and bool(getattr(layer, "inputs", None))


def _ordered_nodes(model) -> list:
    nodes = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        nodes.extend(n for n in model._nodes_by_depth[depth] if n.operation is not None and not n.is_input)
    return nodes


def flatten(model, scope: str | None = None) -> list[Step]:
    """The steps of a functional ``model``, nested functional models inlined."""
    steps: list[Step] = []
    for node in _ordered_nodes(model):
        layer = node.operation
        if _is_functional(layer):
            ins, outs = list(node.input_tensors), keras.tree.flatten(node.outputs)
            steps += [Step(None, None, [src], [dst], scope) for src, dst in zip(ins, layer.inputs)]
            steps += flatten(layer, layer.name)
            steps += [Step(None, None, [src], [dst], scope) for src, dst in zip(layer.outputs, outs)]
        else:
            steps.append(Step(layer, node, list(node.input_tensors), keras.tree.flatten(node.outputs), scope))
    return steps


def _is_fixed_layer(layer) -> bool:
    return not layer.trainable_weights and getattr(layer, "seed_generator", None) is None


def find_cut(model) -> Cut:
    """The cut of ``model`` as its layers' ``trainable`` flags stand now (set the phase first)."""
    cut = Cut(flatten(model), list(model.inputs), keras.tree.flatten(model.outputs))
    cut.fixed = {id(t) for t in cut.inputs}
    for step in cut.steps:
        if all(id(t) in cut.fixed for t in step.inputs) and (step.node is None or _is_fixed_layer(step.layer)):
            cut.fixed.update(id(t) for t in step.outputs)
    chosen: dict[int, object] = {}
    for step in cut.steps:
        if step.node is not None and not all(id(t) in cut.fixed for t in step.outputs):
            chosen.update((id(t), t) for t in step.inputs if id(t) in cut.fixed)
    chosen.update((id(t), t) for t in cut.outputs if id(t) in cut.fixed)
    cut.tensors = _resolve_aliases(cut, list(chosen.values()))
    cut.problem = _problem(cut)
    return cut


def _resolve_aliases(cut: Cut, tensors: list) -> list:
    """An alias output (a nested model's input or output) replaced by the tensor it stands for."""
    source = {id(s.outputs[0]): s.inputs[0] for s in cut.steps if s.node is None}
    out, seen = [], set()
    for t in tensors:
        while id(t) in source:
            t = source[id(t)]
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _problem(cut: Cut) -> str | None:
    if any(id(t) in cut.fixed for t in cut.outputs):
        return "the whole model is frozen: nothing trains"
    random_layers = [s.layer.name for s in cut.steps if s.node is not None and not s.layer.trainable_weights
                     and getattr(s.layer, "seed_generator", None) is not None
                     and all(id(t) in cut.fixed for t in s.inputs) and s.scope is not None]
    if not any(s.scope is not None for s in cut.steps if s.node is not None and id(s.outputs[0]) in cut.fixed):
        if random_layers:
            return f"layer {random_layers[0]} draws random numbers: the cut cannot cross it"
        return "no frozen backbone layer before the first trainable one: nothing to cache"
    return None


def replay(cut: Cut, start: dict[int, object], stop_at: set[int] | None = None) -> dict[int, object]:
    """Run the steps whose inputs are known (``start``: id of a graph tensor → a new tensor).

    Steps that produce only tensors in ``stop_at`` are skipped (the prefix stops at the cut).
    """
    known = dict(start)
    for step in cut.steps:
        if any(id(t) in known for t in step.outputs) or not all(id(t) in known for t in step.inputs):
            continue
        if stop_at is not None and not any(id(t) in stop_at for t in step.outputs):
            continue
        if step.node is None:
            known[id(step.outputs[0])] = known[id(step.inputs[0])]
            continue
        args, kwargs = step.node.arguments.fill_in(known)
        known.update(zip((id(t) for t in step.outputs), keras.tree.flatten(step.layer(*args, **kwargs))))
    return known


def _input_like(tensor, index: int):
    return keras.Input(tuple(tensor.shape[1:]), dtype=tensor.dtype, name=f"cut_{index}")


def prefix_model(cut: Cut, tensors: list | None = None, fixed: set[int] | None = None) -> keras.Model:
    """Image → the cut tensors, on the full model's own (frozen) layers.

    ``tensors``/``fixed``: other cuts' tensors too and the union of their fixed sets (cuts of the same model
    under other ``trainable`` flags): one model, one pass over the images, for all of them.
    """
    new_inputs = [keras.Input(tuple(t.shape[1:]), dtype=t.dtype, name=f"prefix_in_{i}")
                  for i, t in enumerate(cut.inputs)]
    known = replay(cut, {id(t): n for t, n in zip(cut.inputs, new_inputs)},
                   stop_at=cut.fixed if fixed is None else fixed)
    return keras.Model(new_inputs, [known[id(t)] for t in (cut.tensors if tensors is None else tensors)],
                       name="feature_prefix")


def suffix_model(cut: Cut) -> keras.Model:
    """The cut tensors → the full model's outputs, on the full model's own layers (shared weights)."""
    new_inputs = [_input_like(t, i) for i, t in enumerate(cut.tensors)]
    start = {id(t): n for t, n in zip(cut.tensors, new_inputs)}
    known = replay(cut, start, stop_at=None)
    missing = [t for t in cut.outputs if id(t) not in known]
    if missing:
        raise ValueError("the cut does not separate the model: an output needs a tensor outside the cut")
    outputs = [known[id(t)] for t in cut.outputs]
    return keras.Model(new_inputs, outputs[0] if len(outputs) == 1 else outputs, name="feature_suffix")
