"""Trial configurations: the project vocabulary a sweep may vary.

A trial config is what one training run needs. ``model`` picks the family
(``scratch`` or ``finetune``); every other key has a default, so a sweep lists
only what it varies. This module is pure: no Keras, no files.
"""

from __future__ import annotations

from pathlib import Path
import types
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from .errors import Problem, UserError

Optimizer = Literal["adam", "nadam", "rmsprop", "sgd", "adamw"]
Activation = Literal["relu", "gelu", "silu", "mish", "elu", "selu", "leaky_relu"]
BACKBONES = (
    "inception_v3",
    "inception_resnet_v2",
    "resnet50",
    "xception",
    "densenet121",
    "efficientnet_b2",
    "mobilenet_v2",
    "nasnet_mobile",
    "vgg16",
)
Backbone = Literal[BACKBONES]  # type: ignore[valid-type]
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "test_accuracy")
#: Which way is better for each metric a trial logs.
METRIC_GOALS = {"loss": "minimize", "val_loss": "minimize", "accuracy": "maximize",
                "val_accuracy": "maximize", "test_accuracy": "maximize"}
DEFAULT_SCRATCH_IMAGE_SIZE = 224


class CommonTrial(BaseModel):
    """Keys shared by both model families."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    image_size: Annotated[int, Field(ge=8, le=1024)] | None = Field(
        None, description="Input side in pixels (scratch: 224; finetune: the backbone's native size)")
    resize: Literal["squash", "center_crop"] = Field("squash", description="How images are fitted to image_size")
    batch_size: Annotated[int, Field(ge=1)] = Field(32, description="Images per training step")
    epochs: Annotated[int, Field(ge=1)] = Field(10, description="Training epochs (both phases for finetune)")
    optimizer: Optimizer = Field("adam", description="Optimizer; sgd uses Nesterov momentum 0.9")
    learning_rate: Annotated[float, Field(gt=0)] = Field(1e-3, description="Peak learning rate")
    weight_decay: Annotated[float, Field(ge=0)] = Field(0.0, description="Decoupled weight decay")
    lr_schedule: Literal["constant", "cosine", "piecewise"] = Field("constant", description="Learning-rate schedule")
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = Field(0.0, description="Label smoothing of the loss")
    augment: bool = Field(False, description="Random flip/rotation/zoom/translation/contrast in training")
    dropout: Annotated[float, Field(ge=0, lt=1)] = Field(0.2, description="Dropout before the classifier")
    early_stopping_patience: Annotated[int, Field(ge=0)] = Field(0, description="Epochs without improvement (0 = off)")
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(0.1, description="Share of train/ held out for validation")
    seed: int = Field(0, description="Seed for weights, shuffling and augmentation")
    viz: bool = Field(True, description="Log filters, guided backprop and prediction figures at the end")


class ScratchTrial(CommonTrial):
    """The scratch CNN: conv_blocks × (Conv2D → BN → activation → MaxPool) → Dense → Dropout → softmax."""

    model: Literal["scratch"] = "scratch"
    conv_blocks: Annotated[int, Field(ge=1, le=8)] = Field(5, description="Number of conv blocks")
    filters: Annotated[int, Field(ge=1, le=4096)] | list[Annotated[int, Field(ge=1, le=4096)]] = Field(
        64, description="Filters of the first block, or one count per block")
    filter_org: Literal["same", "double", "half"] = Field("same", description="How filters change block to block")
    kernel_size: Annotated[int, Field(ge=1, le=15)] | list[Annotated[int, Field(ge=1, le=15)]] = Field(
        3, description="Kernel side, or one per block")
    activation: Activation = Field("relu", description="Activation after each conv and the dense layer")
    batch_norm: bool = Field(True, description="BatchNormalization after each conv")
    padding: Literal["same", "valid"] = Field("same", description="Conv padding")
    dense_units: Annotated[int, Field(ge=1)] = Field(512, description="Units of the hidden dense layer")

    @model_validator(mode="after")
    def _check_per_block_lists(self) -> "ScratchTrial":
        for key in ("filters", "kernel_size"):
            value = getattr(self, key)
            if isinstance(value, list) and len(value) != self.conv_blocks:
                raise ValueError(f"{key} lists {len(value)} entries but conv_blocks is {self.conv_blocks}")
        if self.image_size is None:
            self.image_size = DEFAULT_SCRATCH_IMAGE_SIZE
        return self

    @property
    def filter_plan(self) -> list[int]:
        """Filters per block: the explicit list, or the first count organised same/double/half."""
        if isinstance(self.filters, list):
            return list(self.filters)
        factor = {"same": 1.0, "double": 2.0, "half": 0.5}[self.filter_org]
        return [max(1, int(round(self.filters * factor**i))) for i in range(self.conv_blocks)]

    @property
    def kernel_plan(self) -> list[int]:
        """Kernel side per block."""
        if isinstance(self.kernel_size, list):
            return list(self.kernel_size)
        return [self.kernel_size] * self.conv_blocks


class FinetuneTrial(CommonTrial):
    """A keras.applications backbone, frozen but for its last ``trainable_layers`` layers, and a new head."""

    model: Literal["finetune"] = "finetune"
    backbone: Backbone = Field(..., description="keras.applications backbone")
    weights: str = Field("imagenet", description="imagenet, none, or a path to a weights file")
    trainable_layers: Annotated[int, Field(ge=0)] = Field(0, description="Frozen-k: the last k backbone layers train")
    extra_dense: Annotated[int, Field(ge=0)] = Field(0, description="Units of an extra dense layer (0 = none)")
    head_epochs: Annotated[int, Field(ge=0)] = Field(0, description="Phase A epochs with the backbone frozen")
    fine_tune_learning_rate: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Phase B learning rate (default learning_rate / 10)")

    @model_validator(mode="after")
    def _resolve(self) -> "FinetuneTrial":
        if self.weights.lower() not in ("imagenet", "none") and not self.weights.strip():
            raise ValueError("weights must be imagenet, none, or a file path")
        if self.weights.lower() in ("imagenet", "none"):
            self.weights = self.weights.lower()
        if self.fine_tune_learning_rate is None:
            self.fine_tune_learning_rate = self.learning_rate / 10
        if self.head_epochs > self.epochs:
            raise ValueError(f"head_epochs ({self.head_epochs}) exceeds epochs ({self.epochs})")
        if self.image_size is None:
            from .backbone_sizes import NATIVE_SIZES

            self.image_size = NATIVE_SIZES[self.backbone]
        return self

    @property
    def weights_path(self) -> Path | None:
        return None if self.weights in ("imagenet", "none") else Path(self.weights)


TrialConfig = Annotated[Union[ScratchTrial, FinetuneTrial], Field(discriminator="model")]
_TRIAL_ADAPTER: TypeAdapter[Any] = TypeAdapter(TrialConfig)
FAMILIES: dict[str, type[CommonTrial]] = {"scratch": ScratchTrial, "finetune": FinetuneTrial}


def family_parameters(family: str) -> list[str]:
    """Parameter names a sweep of this family may use (``model`` included)."""
    return list(FAMILIES[family].model_fields)


def all_parameters() -> list[str]:
    names: list[str] = []
    for cls in FAMILIES.values():
        names += [n for n in cls.model_fields if n not in names]
    return names


def _domain(annotation: Any) -> str:
    """A short human description of a field's allowed values, from its type annotation."""
    import typing

    import annotated_types as at

    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return ", ".join(map(str, args))
    if origin is Annotated:
        base, *meta = args
        bounds = []
        for m in meta:
            for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
                if isinstance(m, getattr(at, attr.capitalize())):
                    bounds.append(f"{sym} {getattr(m, attr)}")
            for inner in getattr(m, "metadata", []):
                bounds.append(_domain(Annotated[base, inner]).split(" ", 1)[-1])
        return f"{base.__name__} {' and '.join(b for b in bounds if b)}".strip()
    if origin in (Union, types.UnionType):
        return " or ".join(_domain(a) for a in args if a is not type(None))
    if origin is list:
        return f"list of ({_domain(args[0])})"
    return getattr(annotation, "__name__", str(annotation))


def describe_vocabulary() -> list[dict[str, str]]:
    """Rows (name, families, type, default, description) for docs, generated from the models."""
    rows: dict[str, dict[str, str]] = {}
    for family, cls in FAMILIES.items():
        for name, field in cls.model_fields.items():
            row = rows.setdefault(name, {"name": name, "families": "", "default": "", "description": ""})
            row["families"] = (row["families"] + " " + family).strip()
            if name == "model":
                row["default"] = "(required)"
                row["description"] = "Model family: scratch or finetune"
                row["domain"] = "scratch, finetune"
                continue
            row["default"] = "(required)" if field.is_required() else repr(field.default)
            row["domain"] = _domain(Annotated[(field.annotation, *field.metadata)] if field.metadata
                                    else field.annotation)
            row["description"] = field.description or ""
    for row in rows.values():
        if row["families"] == "scratch finetune":
            row["families"] = "both"
    return list(rows.values())


def suggest(name: str, candidates: list[str]) -> str:
    """A ' (did you mean `X`?)' hint, or ''."""
    import difflib

    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _unknown_key_message(key: str, family: str | None) -> str:
    owners = [f for f, cls in FAMILIES.items() if key in cls.model_fields]
    if owners and family and family not in owners:
        return f"`{key}` is a {'/'.join(owners)} parameter, but model is {family} (set model={owners[0]})"
    vocab = list(FAMILIES[family].model_fields) if family in FAMILIES else all_parameters()
    return f"unknown key `{key}`{suggest(key, vocab)}"


def format_validation_error(err: ValidationError, prefix: str = "") -> list[Problem]:
    """Turn pydantic errors into Problems with dotted key paths."""
    problems = []
    for e in err.errors():
        family = next((str(p) for p in e["loc"] if p in FAMILIES), None)
        loc = [str(p) for p in e["loc"] if p not in ("scratch", "finetune")]
        path = ".".join(([prefix] if prefix else []) + loc)
        value = e.get("input")
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = _unknown_key_message(loc[-1] if loc else "", family)
        elif not isinstance(value, dict):
            msg = f"{msg} (got {value!r})"
        problems.append(Problem(msg, key_path=path or None))
    return problems


def parse_trial_config(data: dict[str, Any], source: str | None = None) -> ScratchTrial | FinetuneTrial:
    """Validate a plain dict into a trial config, or raise UserError naming every bad key."""
    if not isinstance(data, dict):
        raise UserError(f"{source or 'trial config'}: expected a mapping of key: value, got {type(data).__name__}")
    data = dict(data)
    data.setdefault("model", "scratch")
    if data["model"] not in FAMILIES:
        raise UserError(f"{source + ': ' if source else ''}`model` must be one of scratch, finetune "
                        f"(got {data['model']!r})")
    try:
        return _TRIAL_ADAPTER.validate_python(data)
    except ValidationError as err:
        problems = [Problem(p.message, file=source, key_path=p.key_path) for p in format_validation_error(err)]
        raise UserError(problems=problems) from None


def resolved_dict(config: CommonTrial) -> dict[str, Any]:
    """The config with every default filled in, as plain data (for config.yaml and wandb)."""
    return config.model_dump(mode="json")
