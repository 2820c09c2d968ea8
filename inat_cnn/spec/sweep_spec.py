"""The W&B sweep configuration as pydantic models, with W&B's own rules.

What W&B's JSON schema (vendored in ``wandb_schema/``) refuses, these models refuse:
unknown keys, nulls, wrong types, each parameter's shape (``parameter_spec.py``).
What it accepts they accept, except keys this project cannot run, refused with the
reason (``PROJECT_REFUSED``, method custom), and values W&B's schema lets through but
its own engines then fail on (a fractional hyperband ``s``, bayes without a metric),
refused with that reason.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictBool, field_validator, model_validator

from ..errors import Problem
from .parameter_spec import (
    DISTRIBUTIONS,
    GRID_ENUMERABLE,
    POSITIVE_BOUNDS,
    UNBOUNDED,
    ParameterSpec,
    check_parameter_names,
)
from .wandb_types import Integer, KeyProblem, Number, Strict

__all__ = ["DISTRIBUTIONS", "POSITIVE_BOUNDS", "UNBOUNDED", "ParameterSpec", "SweepSpec"]

#: Keys of W&B's schema that this project refuses, and why (the reason is the error text).
PROJECT_REFUSED = {
    "scheduler": "custom schedulers (scheduler.engine optuna/ax) run through W&B Launch, which this project "
                 "does not drive; use method grid, random or bayes (the local engine is Optuna already)",
    "metrics": "multi-objective `metrics` needs method custom (a W&B Launch scheduler), which this project does "
               "not drive; give one `metric`",
    "job": "W&B Launch jobs are not used: every trial runs `inat-cnn train` (set `command` instead)",
    "image_uri": "W&B Launch images are not used: every trial runs `inat-cnn train` (set `command` instead)",
}
_CUSTOM_METHOD = ("method custom needs a custom scheduler (W&B Launch with scheduler.engine optuna or ax), which "
                  "this project does not drive: use grid, random or bayes")


class MetricSpec(Strict):
    name: str
    goal: Literal["minimize", "maximize"] = "minimize"
    target: Number | None = None
    impute: Literal["latest", "best", "worst"] | None = None
    impute_while_running: Literal["latest", "best", "worst", "false"] | None = None

    @field_validator("impute_while_running", mode="before")
    @classmethod
    def _quoted_false(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"W&B wants text here: write '{str(value).lower()}' in quotes "
                             "(YAML reads a bare false as a boolean); allowed: latest, best, worst, 'false'")
        return value


class EarlyTerminateSpec(Strict):
    type: Literal["hyperband"]
    min_iter: Integer | None = Field(None, ge=1)
    max_iter: Integer | None = None
    s: Number | None = None
    eta: Number = 3
    strict: StrictBool = False

    @field_validator("s")
    @classmethod
    def _whole_s(cls, value: Any) -> Any:
        if value is not None and (not float(value).is_integer() or value < 1):
            raise ValueError(f"s is the number of hyperband brackets: a whole number ≥ 1 (got {value}); W&B's "
                             "schema lets s be any number, but its hyperband counts brackets with range(s)")
        return None if value is None else int(value)

    @field_validator("max_iter")
    @classmethod
    def _positive_max_iter(cls, value: Any) -> Any:
        if value is not None and value < 1:
            raise ValueError(f"max_iter is the last epoch hyperband trims at, at least 1 (got {value}); W&B's "
                             "schema allows less, but its hyperband then has no bracket and stops")
        return value

    @model_validator(mode="after")
    def _bracket(self) -> EarlyTerminateSpec:
        reasons = []
        if self.min_iter is None and (self.max_iter is None or self.s is None):
            reasons.append("hyperband needs min_iter, or max_iter together with s")
        elif self.max_iter is not None and self.s is None:
            reasons.append("max_iter needs s: W&B's hyperband reads s whenever max_iter is given")
        if self.eta <= 1:
            reasons.append(f"eta must be greater than 1 (got {self.eta})")
        elif self.max_iter is not None and self.s is not None and self.max_iter / self.eta < 1:
            reasons.append(f"max_iter / eta = {self.max_iter / self.eta:g} < 1 leaves W&B's hyperband no "
                           "bracket: raise max_iter or lower eta")
        if reasons:
            raise ValueError("; ".join(reasons))
        return self


class ControllerSpec(Strict):
    """W&B's sweep controller: ``cloud`` (the server) or ``local`` (``wandb controller`` run by the user)."""

    model_config = ConfigDict(extra="allow")  # W&B's schema allows more keys here
    type: Literal["local", "cloud"]


class SweepSpec(Strict):
    """A W&B sweep configuration."""

    apiVersion: str | None = None  # noqa: N815 - W&B's key
    kind: Literal["sweep"] | None = None
    controller: ControllerSpec | None = None
    name: str | None = None
    description: str | None = None
    program: str | None = None
    command: list[Any] | None = None
    method: Literal["grid", "random", "bayes"]
    metric: MetricSpec | None = None
    parameters: dict[str, ParameterSpec]
    early_terminate: EarlyTerminateSpec | None = None
    run_cap: Integer | None = Field(None, ge=1)
    project: str | None = None
    entity: str | None = None
    scheduler: Any = None
    metrics: Any = None
    job: Any = None
    image_uri: Any = None

    @field_validator(*PROJECT_REFUSED, mode="before")
    @classmethod
    def _refused(cls, value: Any, info: Any) -> Any:
        raise ValueError(PROJECT_REFUSED[info.field_name])

    @field_validator("method", mode="before")
    @classmethod
    def _no_custom(cls, value: Any) -> Any:
        if value == "custom":
            raise ValueError(_CUSTOM_METHOD)
        return value

    @field_validator("command")
    @classmethod
    def _command_items(cls, value: list[Any] | None) -> list[Any] | None:
        for i, item in enumerate(value or []):
            if item is None or isinstance(item, (list, dict)):
                raise KeyProblem(f"[{i}]", f"a command element is {item!r}: the agent passes str() of each "
                                           "element as one argument, so give text or a number (W&B's schema "
                                           "allows any element)")
        return value

    @field_validator("parameters")
    @classmethod
    def _not_empty(cls, value: dict[str, ParameterSpec]) -> dict[str, ParameterSpec]:
        if not value:
            raise ValueError("`parameters` is empty: list at least the model family")
        return check_parameter_names(value)

    def rule_problems(self) -> list[Problem]:
        """Cross-key rules W&B's engines apply (method vs parameters and metric), each located at its key."""
        problems = []
        if self.method == "grid":
            for name, p in self.parameters.items():
                dist = p.inferred_distribution
                if not (p.is_finite or dist in GRID_ENUMERABLE):
                    problems.append(Problem(f"grid search needs every parameter finite (value, values, int_uniform "
                                            f"or q_uniform: all W&B's grid enumerates); `{name}` is a "
                                            f"{dist or 'nested'} distribution", key_path=f"parameters.{name}"))
                elif p.probabilities is not None:
                    problems.append(Problem("grid search visits every value once: W&B's grid refuses "
                                            "`probabilities`", key_path=f"parameters.{name}.probabilities"))
        if self.method == "bayes" and self.metric is None:
            problems.append(Problem("bayes search needs a `metric` to optimise (W&B's bayes cannot run without "
                                    "one)", key_path="method"))
        if self.early_terminate is not None and self.metric is None:
            problems.append(Problem("early_terminate needs a `metric` (hyperband ranks runs by it)",
                                    key_path="early_terminate"))
        return problems

    def swept(self) -> list[str]:
        """The parameters this sweep varies (those that can take more than one value), in file order."""
        return [name for name, p in self.parameters.items() if not p.is_fixed]

    def grid_size(self) -> int | None:
        """Number of points of the full grid (as W&B enumerates it), or None when a parameter is continuous."""
        if not all(p.is_finite or p.inferred_distribution in GRID_ENUMERABLE for p in self.parameters.values()):
            return None
        return math.prod(len(p.grid_choices()) for p in self.parameters.values())

    def to_wandb(self) -> dict[str, Any]:
        """The dict W&B would receive: only the keys the user wrote."""
        return self.model_dump(mode="json", exclude_unset=True)
