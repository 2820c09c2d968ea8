"""The W&B sweep configuration as pydantic models, with W&B's own rules.

Unknown keys are errors (as in W&B's JSON schema). A parameter is exactly one of
``value``, ``values`` (+ ``probabilities``) or a distribution; min/max without a
``distribution`` infer ``int_uniform`` (both ints) or ``uniform``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from ..errors import Problem

Number = int | float

#: W&B distributions and the keys each requires.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "categorical": ("values",),
    "int_uniform": ("min", "max"),
    "uniform": ("min", "max"),
    "q_uniform": ("min", "max"),
    "log_uniform": ("min", "max"),
    "log_uniform_values": ("min", "max"),
    "q_log_uniform": ("min", "max"),
    "q_log_uniform_values": ("min", "max"),
    "inv_log_uniform": ("min", "max"),
    "inv_log_uniform_values": ("min", "max"),
    "normal": (),
    "q_normal": (),
    "log_normal": (),
    "q_log_normal": (),
    "beta": (),
    "q_beta": (),
}
#: Distributions whose min/max are the values themselves and must be positive.
POSITIVE_BOUNDS = ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values")
#: Distributions with no upper/lower bound on what they produce.
UNBOUNDED = ("normal", "q_normal", "log_normal", "q_log_normal")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterSpec(_Strict):
    """One entry of ``parameters``."""

    value: Any = None
    values: list[Any] | None = None
    probabilities: list[float] | None = None
    distribution: Literal[tuple(DISTRIBUTIONS)] | None = None  # type: ignore[valid-type]
    min: Number | None = None
    max: Number | None = None
    mu: Number | None = None
    sigma: Number | None = None
    q: Number | None = None
    a: Number | None = None
    b: Number | None = None
    parameters: dict[str, "ParameterSpec"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _has_value_key(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("a parameter must be a mapping such as {values: [...]} or {value: ...}")
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> "ParameterSpec":
        given = self.model_fields_set
        kinds = [k for k in ("value", "values", "distribution", "parameters") if k in given]
        if "distribution" not in given and given & {"min", "max"}:
            kinds.append("min/max")
        if not kinds:
            raise ValueError("needs one of: value, values, min/max, distribution, parameters")
        dist_owned = {"value", "values"} & given if self.distribution in ("constant", "categorical") else set()
        if len(kinds) - len(dist_owned) > 1:
            raise ValueError(f"give exactly one of value / values / distribution, not {' + '.join(kinds)}")
        if self.values is not None and not self.values:
            raise ValueError("`values` is empty")
        self._check_probabilities()
        self._check_distribution()
        return self

    def _check_probabilities(self) -> None:
        if self.probabilities is None:
            return
        if self.values is None:
            raise ValueError("`probabilities` needs `values`")
        if len(self.probabilities) != len(self.values):
            raise ValueError(f"{len(self.probabilities)} probabilities for {len(self.values)} values")
        if any(p < 0 for p in self.probabilities) or not math.isclose(sum(self.probabilities), 1.0, abs_tol=1e-6):
            raise ValueError(f"probabilities must be ≥ 0 and sum to 1 (sum is {sum(self.probabilities):g})")

    def _check_distribution(self) -> None:
        dist = self.inferred_distribution
        if dist is None or dist in ("constant", "categorical"):
            return
        missing = [k for k in DISTRIBUTIONS[dist] if getattr(self, k) is None]
        if missing:
            raise ValueError(f"distribution {dist} needs {' and '.join(missing)}")
        if "min" in DISTRIBUTIONS[dist]:
            if self.min >= self.max:
                raise ValueError(f"min ({self.min}) must be less than max ({self.max})")
            if dist == "int_uniform" and not (isinstance(self.min, int) and isinstance(self.max, int)):
                raise ValueError("int_uniform needs integer min and max")
            if dist in POSITIVE_BOUNDS and self.min <= 0:
                raise ValueError(f"{dist} needs positive min and max (got min {self.min})")
        if self.sigma is not None and self.sigma <= 0:
            raise ValueError(f"sigma must be positive (got {self.sigma})")
        if self.q is not None and self.q <= 0:
            raise ValueError(f"q must be positive (got {self.q})")

    @property
    def inferred_distribution(self) -> str | None:
        """The distribution W&B would use: explicit, or int_uniform/uniform from min/max."""
        if self.distribution:
            return self.distribution
        if self.min is not None or self.max is not None:
            both_int = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.min, self.max))
            return "int_uniform" if both_int else "uniform"
        return None

    @property
    def is_finite(self) -> bool:
        return self.inferred_distribution in (None, "constant", "categorical") and self.parameters is None

    def choices(self) -> list[Any]:
        """The finite set of values this parameter takes (value or values)."""
        if self.values is not None:
            return list(self.values)
        return [self.value]


class MetricSpec(_Strict):
    name: str
    goal: Literal["minimize", "maximize"] = "minimize"
    target: Number | None = None


class EarlyTerminateSpec(_Strict):
    type: Literal["hyperband"]
    min_iter: int | None = Field(None, ge=1)
    max_iter: int | None = Field(None, ge=1)
    s: int | None = Field(None, ge=1)
    eta: Number = 3
    strict: StrictBool = False

    @model_validator(mode="after")
    def _bracket(self) -> "EarlyTerminateSpec":
        reasons = []
        if self.min_iter is None and (self.max_iter is None or self.s is None):
            reasons.append("hyperband needs min_iter, or max_iter together with s")
        if self.eta <= 1:
            reasons.append(f"eta must be greater than 1 (got {self.eta})")
        if reasons:
            raise ValueError("; ".join(reasons))
        return self


class SweepSpec(_Strict):
    """A W&B sweep configuration."""

    name: str | None = None
    description: str | None = None
    program: str | None = None
    command: list[str] | None = None
    method: Literal["grid", "random", "bayes"]
    metric: MetricSpec | None = None
    parameters: dict[str, ParameterSpec]
    early_terminate: EarlyTerminateSpec | None = None
    run_cap: int | None = Field(None, ge=1)
    project: str | None = None
    entity: str | None = None

    @field_validator("parameters")
    @classmethod
    def _not_empty(cls, value: dict[str, ParameterSpec]) -> dict[str, ParameterSpec]:
        if not value:
            raise ValueError("`parameters` is empty: list at least the model family")
        return value

    def rule_problems(self) -> list[Problem]:
        """Cross-key rules of W&B (method vs parameters and metric), each located at its key."""
        problems = []
        if self.method == "grid":
            for name, p in self.parameters.items():
                if not p.is_finite:
                    problems.append(Problem(f"grid search needs every parameter finite (value or values); "
                                            f"`{name}` is a {p.inferred_distribution} distribution",
                                            key_path=f"parameters.{name}"))
        if self.method == "bayes" and self.metric is None:
            problems.append(Problem("bayes search needs a `metric` to optimise", key_path="method"))
        if self.early_terminate is not None and self.metric is None:
            problems.append(Problem("early_terminate needs a `metric`", key_path="early_terminate"))
        return problems

    def grid_size(self) -> int | None:
        """Number of points of the full grid, or None when a parameter is continuous."""
        if not all(p.is_finite for p in self.parameters.values()):
            return None
        return math.prod(len(p.choices()) for p in self.parameters.values())

    def to_wandb(self) -> dict[str, Any]:
        """The dict W&B would receive: only the keys the user wrote."""
        return self.model_dump(mode="json", exclude_unset=True)
