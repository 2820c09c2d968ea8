"""Trial configurations: the project vocabulary a sweep may vary.

A trial config is what one training run needs. ``model`` picks the family
(``scratch``, ``finetune`` or ``resnet``: see ``FAMILY_REGISTRY`` at the end, the one
place a family is registered); every other key has a default, so a sweep lists only
what it varies. This module is pure: no Keras, no files.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .backbone_sizes import NATIVE_SIZES, TABLE
from .errors import Problem, UserError
from .outcome import POST_TRAINING

Optimizer = Literal["adam", "nadam", "rmsprop", "sgd", "adamw"]
Activation = Literal["relu", "gelu", "silu", "mish", "elu", "selu", "leaky_relu"]
BACKBONES = tuple(TABLE)
Backbone = Literal[BACKBONES]  # type: ignore[valid-type]
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "test_accuracy")
#: Which way is better for each metric a trial logs.
METRIC_GOALS = {"loss": "minimize", "val_loss": "minimize", "accuracy": "maximize",
                "val_accuracy": "maximize", "test_accuracy": "maximize"}
DEFAULT_SCRATCH_IMAGE_SIZE = 224
DEFAULT_RESNET_IMAGE_SIZE = 32
#: `augment` values: false, true (flip/rotation/zoom/translation/contrast) or cifar (pad 4 + crop, flip).
Augment = Literal[False, True, "cifar"]
Schedule = Literal["constant", "cosine", "piecewise", "step", "snapshot"]
Phase = tuple[str, int, int, float]  # (phase, first epoch, end epoch, learning rate)


def located_error(key: str, why: str) -> PydanticCustomError:
    """A model-level validation error that names the key at fault (``error_key`` reads it back)."""
    return PydanticCustomError("located", "{why}", {"why": why, "key": key})


def error_key(error: dict[str, Any]) -> str | None:
    """The key a pydantic error is about: the first of its location, or the one ``located_error`` named."""
    loc = [str(p) for p in error["loc"] if p not in FAMILIES]
    return loc[0] if loc else (error.get("ctx") or {}).get("key")


def step_schedule_problem(schedule: str, boundaries: list[int] | None, values: list[float] | None
                          ) -> tuple[str, str] | None:
    """(key at fault, why) when the step-schedule keys disagree, else None (pure; the sweep validator
    calls it too, to locate a problem that two swept keys make together)."""
    if schedule != "step":
        for key, given in (("lr_boundaries", boundaries), ("lr_values", values)):
            if given is not None:
                return key, f"{key} is used only by lr_schedule: step (lr_schedule is {schedule})"
        return None
    if not boundaries:
        return "lr_boundaries", "lr_schedule step needs lr_boundaries, e.g. [32000, 48000]"
    bad = next((i for i in range(1, len(boundaries)) if boundaries[i] <= boundaries[i - 1]), None)
    if bad is not None:
        return "lr_boundaries", (f"lr_boundaries must increase strictly: entry {bad} ({boundaries[bad]}) is not "
                                 f"above entry {bad - 1} ({boundaries[bad - 1]})")
    if values is not None and len(values) != len(boundaries) + 1:
        return "lr_values", (f"lr_values lists {len(values)} learning rates for {len(boundaries)} lr_boundaries; "
                             f"a step schedule needs one more value than boundaries ({len(boundaries) + 1})")
    return None


class CommonTrial(BaseModel):
    """Keys shared by every model family."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    image_size: Annotated[int, Field(ge=8, le=1024)] | None = Field(
        None, description="Input side in pixels (scratch: 224; finetune: the backbone's native size; resnet: 32)")
    resize: Literal["squash", "center_crop"] = Field("squash", description="How images are fitted to image_size")
    batch_size: Annotated[int, Field(ge=1)] = Field(32, description="Images per training step")
    epochs: Annotated[int, Field(ge=1)] = Field(10, description="Training epochs (both phases for finetune)")
    optimizer: Optimizer = Field("adam", description="Optimizer; sgd uses Nesterov momentum 0.9")
    learning_rate: Annotated[float, Field(gt=0)] = Field(1e-3, description="Peak learning rate")
    weight_decay: Annotated[float, Field(ge=0)] = Field(0.0, description="Decoupled weight decay")
    lr_schedule: Schedule = Field(
        "constant", description="Learning-rate schedule (piecewise: /10 at 50 % and 75 % of a phase; step: "
                                "lr_boundaries and lr_values)")
    lr_boundaries: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, description="Step schedule: where the learning rate changes, increasing, counted from the start "
                          "of training in lr_boundaries_unit")
    lr_values: list[Annotated[float, Field(gt=0)]] | None = Field(
        None, description="Step schedule: one learning rate more than lr_boundaries (default learning_rate, "
                          "then /10 at each boundary)")
    lr_boundaries_unit: Literal["steps", "epochs"] = Field("steps", description="Unit of lr_boundaries")
    snapshots: Annotated[int, Field(ge=1)] = Field(
        1, description="lr_schedule snapshot: cosine cycles with warm restarts over the last phase, a saved model "
                       "at the end of each (a snapshot ensemble)")
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = Field(0.0, description="Label smoothing of the loss")
    augment: Augment = Field(False, description="Training augmentation: true (random flip, rotation, zoom, "
                                                "translation, contrast), cifar (pad 4 px + random crop, "
                                                "horizontal flip) or false")
    dropout: Annotated[float, Field(ge=0, lt=1)] = Field(0.2, description="Dropout before the classifier")
    early_stopping_patience: Annotated[int, Field(ge=0)] = Field(0, description="Epochs without improvement (0 = off)")
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.1, description="Share of train/ held out for validation")
    seed: int = Field(0, description="Seed for weights, shuffling and augmentation")
    viz: bool = Field(True, description="Log filters, guided backprop and prediction figures at the end")
    post_training: Literal[POST_TRAINING] = Field(  # type: ignore[valid-type]
        "top_k", description="When a local-engine trial tests its best epoch and draws its figures: top_k (only a "
                             "trial entering the sweep's top 3), inline (every trial), export (none: report and "
                             "export best do it for the trials they show)")
    feature_cache: bool = Field(True, description="Train a phase without augmentation on cached outputs of its "
                                                  "frozen layers (off: false or INAT_CNN_FEATURE_CACHE=0)")

    @model_validator(mode="after")
    def _check_step_schedule(self) -> CommonTrial:
        problem = step_schedule_problem(self.lr_schedule, self.lr_boundaries, self.lr_values)
        if problem:
            raise located_error(*problem)
        _, first, end, _ = self.phases()[-1]
        if self.snapshots > 1 and self.lr_schedule != "snapshot" or (end - first) % self.snapshots:
            raise located_error("snapshots", f"snapshots {self.snapshots} needs lr_schedule: snapshot and a last "
                                             f"phase of a multiple of {self.snapshots} epochs (it has {end - first})")
        return self

    def phases(self) -> list[Phase]:
        """The training phases this config runs, in order (one unless a family overrides it)."""
        return [("train", 0, self.epochs, self.learning_rate)]

    def step_values(self) -> list[float]:
        """The step schedule's learning rates: lr_values, or learning_rate divided by 10 at each boundary."""
        if self.lr_values is not None:
            return list(self.lr_values)
        return [self.learning_rate / 10**i for i in range(len(self.lr_boundaries or []) + 1)]


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
    def _check_per_block_lists(self) -> ScratchTrial:
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
    feature_cache_cuts: list[Annotated[int, Field(ge=0)]] = Field(
        [], description="Other trainable_layers values whose cached features the first build also writes, in the "
                        "same pass (the local engine fills it from a swept trainable_layers)")

    @model_validator(mode="after")
    def _resolve(self) -> FinetuneTrial:
        if self.weights.lower() not in ("imagenet", "none") and not self.weights.strip():
            raise ValueError("weights must be imagenet, none, or a file path")
        if self.weights.lower() in ("imagenet", "none"):
            self.weights = self.weights.lower()
        if self.fine_tune_learning_rate is None:
            self.fine_tune_learning_rate = self.learning_rate / 10
        if self.head_epochs > self.epochs:
            raise ValueError(f"head_epochs ({self.head_epochs}) exceeds epochs ({self.epochs})")
        if self.image_size is None:
            self.image_size = NATIVE_SIZES[self.backbone]
        return self

    def phases(self) -> list[Phase]:
        """Phase A (``head``, backbone frozen) when head_epochs, then ``fine_tune`` (frozen-k)."""
        if not self.head_epochs:
            return [("fine_tune", 0, self.epochs, self.learning_rate)]
        return [("head", 0, self.head_epochs, self.learning_rate),
                ("fine_tune", self.head_epochs, self.epochs, self.fine_tune_learning_rate)]

    @property
    def weights_path(self) -> Path | None:
        return None if self.weights in ("imagenet", "none") else Path(self.weights)


def is_resnet_depth(depth: int) -> bool:
    return depth >= 8 and (depth - 2) % 6 == 0


class ResNetTrial(CommonTrial):
    """CIFAR-style residual network (He et al. 2016): 3 stages × n basic blocks, depth 6n+2."""

    model: Literal["resnet"] = "resnet"
    depth: Annotated[int, Field(ge=8, le=1202)] = Field(
        20, description="Layers, 6n+2 (20, 32, 44, 56, 110): n basic blocks per stage")
    width: Annotated[int, Field(ge=1, le=1024)] = Field(
        16, description="Filters of the first stage; the stages have width, 2·width, 4·width")
    shortcut: Literal["a", "b"] = Field(
        "a", description="Where the shape changes: a (identity, stride-2 subsampling, zero-padded channels, no "
                         "parameters) or b (1×1 projection + BN)")
    head: Literal["gap", "dense_dropout", "flatten_dropout"] = Field(
        "gap", description="gap (global average pooling → dropout → softmax), dense_dropout (Flatten → Dense → "
                           "BN → activation → dropout → softmax) or flatten_dropout (Flatten → dropout → softmax)")
    dense_units: Annotated[int, Field(ge=1)] = Field(512, description="Units of the hidden dense layer")
    dropout: Annotated[float, Field(ge=0, lt=1)] = Field(0.0, description="Dropout before the classifier")
    activation: Activation = Field("relu", description="Activation after each conv and the dense layer")
    l2: Annotated[float, Field(ge=0)] = Field(
        1e-4, description="L2 weight decay on conv/dense kernels, as a loss term (the paper's 1e-4)")

    @field_validator("depth")
    @classmethod
    def _six_n_plus_two(cls, depth: int) -> int:
        if not is_resnet_depth(depth):
            n = max(1, round((depth - 2) / 6))
            raise ValueError(f"depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...): {depth} is not; the "
                             f"nearest are {6 * n + 2} and {6 * (n + 1) + 2 if 6 * n + 2 < depth else 6 * n - 4}")
        return depth

    @model_validator(mode="after")
    def _default_size(self) -> ResNetTrial:
        if self.image_size is None:
            self.image_size = DEFAULT_RESNET_IMAGE_SIZE
        return self

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // 6


@dataclass(frozen=True)
class Family:
    """One model family: its trial config and the functions that build and count its model.

    ``builder`` and ``planner`` are ``module.function`` under inat_cnn.models (imported only when
    used, so this module stays free of Keras): ``builder(config, num_classes)`` returns the
    keras.Model, ``planner(config, num_classes)`` its summary rows (LayerRow list). Phases come
    from the config class (``phases()``); ``required`` fills the keys without a default when the
    sweep validator checks one value on its own.
    """

    name: str
    config: type[CommonTrial]
    builder: str
    planner: str
    required: tuple[tuple[str, Any], ...] = ()

    def _function(self, dotted: str):
        module, name = dotted.rsplit(".", 1)
        return getattr(importlib.import_module(f"inat_cnn.models.{module}"), name)

    def build(self, config: CommonTrial, num_classes: int):
        """The keras.Model this config describes (finetune: set for its last phase)."""
        return self._function(self.builder)(config, num_classes)

    def plan(self, config: CommonTrial, num_classes: int) -> list:
        """The model's summary rows (shapes, params, FLOPs)."""
        return self._function(self.planner)(config, num_classes)


#: The one place a model family is registered.
FAMILY_REGISTRY: dict[str, Family] = {f.name: f for f in (
    Family("scratch", ScratchTrial, "scratch.build_scratch", "scratch.scratch_plan"),
    Family("finetune", FinetuneTrial, "finetune.build_finetune", "finetune.finetune_plan",
           required=(("backbone", BACKBONES[0]),)),
    Family("resnet", ResNetTrial, "resnet.build_resnet", "resnet.resnet_plan"),
)}
FAMILIES: dict[str, type[CommonTrial]] = {name: f.config for name, f in FAMILY_REGISTRY.items()}
# built from the registry at import time: `X | Y` syntax cannot spell a union of a runtime tuple
AnyTrial = Union[tuple(FAMILIES.values())]  # type: ignore[valid-type]  # noqa: UP007
_TRIAL_ADAPTER: TypeAdapter[Any] = TypeAdapter(Annotated[AnyTrial, Field(discriminator="model")])


def family_of(config: CommonTrial) -> Family:
    """The registry entry of a trial config."""
    return FAMILY_REGISTRY[config.model]  # type: ignore[attr-defined]


def family_parameters(family: str) -> list[str]:
    """Parameter names a sweep of this family may use (``model`` included)."""
    return list(FAMILIES[family].model_fields)


def all_parameters() -> list[str]:
    names: list[str] = []
    for cls in FAMILIES.values():
        names += [n for n in cls.model_fields if n not in names]
    return names


def did_you_mean(name: str, candidates: list[str]) -> str:
    """A ' (did you mean `X`?)' hint, or ''."""
    import difflib

    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _unknown_key_message(key: str, family: str | None) -> str:
    owners = [f for f, cls in FAMILIES.items() if key in cls.model_fields]
    if owners and family and family not in owners:
        return f"`{key}` is a {'/'.join(owners)} parameter, but model is {family} (set model={owners[0]})"
    vocab = list(FAMILIES[family].model_fields) if family in FAMILIES else all_parameters()
    return f"unknown key `{key}`{did_you_mean(key, vocab)}"


def format_validation_error(err: ValidationError, prefix: str = "") -> list[Problem]:
    """Turn pydantic errors into Problems with dotted key paths."""
    problems = []
    for e in err.errors():
        family = next((str(p) for p in e["loc"] if p in FAMILIES), None)
        loc = [str(p) for p in e["loc"] if p not in FAMILIES]
        if not loc and error_key(e):
            loc = [error_key(e)]
        path = ".".join(([prefix] if prefix else []) + loc)
        value = e.get("input")
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = _unknown_key_message(loc[-1] if loc else "", family)
        elif not isinstance(value, dict):
            msg = f"{msg} (got {value!r})"
        problems.append(Problem(msg, key_path=path or None))
    return problems


def parse_trial_config(data: dict[str, Any], source: str | None = None) -> CommonTrial:
    """Validate a plain dict into a trial config, or raise UserError naming every bad key."""
    if not isinstance(data, dict):
        raise UserError(f"{source or 'trial config'}: expected a mapping of key: value, got {type(data).__name__}")
    data = dict(data)
    data.setdefault("model", "scratch")
    if data["model"] not in FAMILIES:
        raise UserError(f"{source + ': ' if source else ''}`model` must be one of {', '.join(FAMILIES)} "
                        f"(got {data['model']!r}){did_you_mean(str(data['model']), list(FAMILIES))}")
    try:
        return _TRIAL_ADAPTER.validate_python(data)
    except ValidationError as err:
        problems = [Problem(p.message, file=source, key_path=p.key_path) for p in format_validation_error(err)]
        raise UserError(problems=problems) from None


def resolved_dict(config: CommonTrial) -> dict[str, Any]:
    """The config with every default filled in, as plain data (for config.yaml and wandb)."""
    return config.model_dump(mode="json")
