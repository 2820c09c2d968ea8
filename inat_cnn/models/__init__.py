"""Models: the scratch CNN, fine-tuned backbones, CIFAR ResNets, analytic summaries, loading.

``build_model(config, num_classes)`` returns a keras.Model taking raw 0..255
float32 pixels (rescaling/preprocessing and augmentation are layers inside it)
and ending in a float32 softmax. Which module builds it is the family registry's
entry (``trial_config.FAMILY_REGISTRY``). Every layer is one of Keras' own, so nothing
here registers with Keras and a saved model loads with plain ``keras.saving.load_model``.
Attributes load lazily only so that the pure planners (scratch, resnet) never import Keras.
"""

from __future__ import annotations

import importlib

from ..trial_config import CommonTrial, family_of

_LAZY = {
    "FLOP_CONVENTION": "flops", "LayerRow": "flops", "ModelSummary": "flops",
    "PHASES": "finetune", "apply_phase": "finetune", "build_finetune": "finetune", "find_backbone": "finetune",
    "tuning_ratios": "finetune", "load_model": "io", "save_model": "io", "build_scratch": "scratch",
    "scratch_plan": "scratch", "build_resnet": "resnet", "resnet_plan": "resnet",
    "format_summary": "summary", "summarize": "summary", "summarize_model": "summary",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_model(config: CommonTrial, num_classes: int):
    """The keras.Model a trial config describes (finetune: set for its last phase, frozen-k)."""
    return family_of(config).build(config, num_classes)


__all__ = ["build_model", *_LAZY]
