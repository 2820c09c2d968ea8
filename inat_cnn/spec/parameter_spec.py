"""One entry of a sweep's ``parameters``, with W&B's rules read from W&B's own schema.

A parameter is one of W&B's shapes: ``value`` (constant), ``values`` (categorical, with
``probabilities``: categorical_w_probabilities), a distribution with exactly the keys that
distribution takes, or nested ``parameters``. Without ``distribution``, min/max mean
``int_uniform`` (both ints) or ``uniform``. Keys another distribution owns are errors
(``uniform`` has no ``q``), as are W&B's deprecated v1 log distributions.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Literal

from pydantic import field_validator, model_validator

from .wandb_schema import DEPRECATED, NAME_PATTERN, NESTED, Shape, owners_of, parameter_shapes
from .wandb_types import KeyProblem, Number, Strict

SHAPES = parameter_shapes()
#: Every distribution name W&B knows (deprecated ones too, so that they get their own message).
DISTRIBUTIONS = tuple(name for name in SHAPES if name != NESTED)
#: Distributions whose min/max are the values themselves and must be positive.
POSITIVE_BOUNDS = tuple(n for n, s in SHAPES.items() if s.lower.get("min") == (0, True))
#: Distributions with no upper/lower bound on what they produce.
UNBOUNDED = ("normal", "q_normal", "log_normal", "q_log_normal")
#: Distributions W&B's grid search enumerates (besides value/values).
GRID_ENUMERABLE = ("int_uniform", "q_uniform")
#: Keys W&B's schema lets be 0 that its sampler cannot use: scipy's norm/lognorm with scale 0 and
#: beta with a or b = 0 return NaN for every draw.
PROJECT_POSITIVE = {"sigma": "W&B's sampler draws NaN for sigma 0", "a": "W&B's beta sampler draws NaN for a = 0",
                    "b": "W&B's beta sampler draws NaN for b = 0"}
_IMPLICIT = {"constant": "value", "categorical": "values", "categorical_w_probabilities": "values + probabilities",
             "int_uniform": "integer min/max", NESTED: "parameters"}
#: Key order in messages.
PARAM_KEYS = ("value", "values", "probabilities", "distribution", "min", "max", "mu", "sigma", "q", "a", "b",
              "parameters")


def _listed(keys: tuple[str, ...] | list[str]) -> str:
    return ", ".join(sorted(keys, key=PARAM_KEYS.index))


def name_problem(name: str) -> str | None:
    """Why W&B refuses a parameter name, or None."""
    if re.fullmatch(NAME_PATTERN, name):
        return None
    return (f"parameter name {name!r} is refused by W&B: a name starts with a letter or _ and holds only "
            "letters, digits, _ . and -")


class ParameterSpec(Strict):
    """One entry of ``parameters``."""

    nullable: ClassVar[frozenset[str]] = frozenset({"value"})

    value: Any = None
    values: list[Any] | None = None
    probabilities: list[Number] | None = None
    distribution: Literal[DISTRIBUTIONS] | None = None  # type: ignore[valid-type]
    min: Number | None = None
    max: Number | None = None
    mu: Number | None = None
    sigma: Number | None = None
    q: Number | None = None
    a: Number | None = None
    b: Number | None = None
    parameters: dict[str, ParameterSpec] | None = None

    @model_validator(mode="before")
    @classmethod
    def _has_value_key(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("a parameter must be a mapping such as {values: [...]} or {value: ...}")
        return data

    @field_validator("parameters")
    @classmethod
    def _nested_names(cls, value: dict[str, ParameterSpec] | None) -> dict[str, ParameterSpec] | None:
        return check_parameter_names(value)

    @model_validator(mode="after")
    def _w_and_b_shape(self) -> ParameterSpec:
        shape = SHAPES[self.shape]
        given = self.model_fields_set - {"distribution"}
        implicit = "" if self.distribution else f" (what {_IMPLICIT.get(self.shape, 'min/max')} without a " \
                                                 "distribution means)"
        foreign = sorted(given - set(shape.keys), key=PARAM_KEYS.index)
        if foreign:
            key, owners = foreign[0], owners_of(foreign[0])
            where = f"; `{key}` goes with {', '.join(owners)}" if owners else ""
            raise KeyProblem(key, f"`{key}` is not a key of {self.shape}{implicit}, which takes "
                                  f"{_listed(shape.keys)}{where}")
        if self.shape in DEPRECATED:
            raise KeyProblem("distribution", f"distribution {self.shape} is deprecated and refused by W&B (its "
                                             f"min/max are base-e exponents): use {DEPRECATED[self.shape]} "
                                             "with the limit values themselves")
        missing = sorted((k for k in shape.required if k not in given), key=PARAM_KEYS.index)
        if missing:
            raise ValueError(f"distribution {self.shape} needs {' and '.join(missing)}")
        self._check_bounds(shape)
        if self.values is not None and not self.values:
            raise ValueError("`values` is empty")
        if self.parameters is not None and not self.parameters:
            raise ValueError("nested `parameters` is empty")
        self._check_probabilities()
        return self

    def _check_bounds(self, shape: Shape) -> None:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be less than max ({self.max})")
        if any(not isinstance(getattr(self, k), int) for k in shape.integer):
            raise ValueError(f"{self.shape} needs integer min and max")
        for key, (bound, exclusive) in shape.lower.items():
            value = getattr(self, key)
            if value is None:
                continue
            if key in PROJECT_POSITIVE and value == 0:
                raise ValueError(f"{key} must be positive (got 0): {PROJECT_POSITIVE[key]}")
            if value < bound or (exclusive and value == bound):
                if key == "min":
                    raise ValueError(f"{self.shape} needs positive min and max (got min {value})")
                raise ValueError(f"{key} must be {'positive' if exclusive or key in PROJECT_POSITIVE else '≥ 0'} "
                                 f"(got {value})")

    def _check_probabilities(self) -> None:
        if self.probabilities is None:
            return
        if len(self.probabilities) != len(self.values):
            raise ValueError(f"{len(self.probabilities)} probabilities for {len(self.values)} values")
        total = sum(self.probabilities)
        if any(p < 0 for p in self.probabilities) or abs(total - 1.0) > 1e-8 + 1e-5:  # W&B's numpy.isclose
            raise ValueError(f"probabilities must be ≥ 0 and sum to 1 (sum is {total:g})")

    @property
    def shape(self) -> str:
        """W&B's shape of this parameter: its distribution, explicit or what its keys mean."""
        if self.distribution:
            return self.distribution
        given = self.model_fields_set
        kinds = [k for k in ("value", "values", "parameters") if k in given]
        if given & {"min", "max"}:
            kinds.append("min/max")
        if not kinds:
            if "probabilities" in given:
                raise ValueError("`probabilities` needs `values`")
            raise ValueError("needs one of: value, values, min/max, distribution, parameters")
        if len(kinds) > 1:
            raise ValueError(f"give exactly one of value / values / distribution, not {' + '.join(kinds)}")
        if "probabilities" in given and "values" not in given:
            raise ValueError("`probabilities` needs `values`")
        if kinds[0] == "values":
            return "categorical_w_probabilities" if "probabilities" in given else "categorical"
        return {"value": "constant", "parameters": NESTED}.get(kinds[0]) or self.inferred_distribution

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
        return self.inferred_distribution in (None, "constant", "categorical", "categorical_w_probabilities") \
            and self.parameters is None

    @property
    def is_fixed(self) -> bool:
        """Whether it takes one value only (``value:``, or ``values:`` with one entry): the sweep does not vary it."""
        return self.is_finite and len(self.choices()) == 1

    def choices(self) -> list[Any]:
        """The finite set of values this parameter takes (value or values)."""
        if self.values is not None:
            return list(self.values)
        return [self.value]

    def grid_choices(self) -> list[Any]:
        """What W&B's grid search enumerates: values, or int_uniform's integers, or q_uniform's steps."""
        if self.inferred_distribution == "int_uniform":
            return list(range(self.min, self.max + 1))
        if self.inferred_distribution == "q_uniform":  # W&B: numpy.arange(min, max, q), max excluded
            q = self.q or 1
            return [self.min + i * q for i in range(math.ceil((self.max - self.min) / q))]
        return self.choices()


def check_parameter_names(value: dict[str, ParameterSpec] | None) -> dict[str, ParameterSpec] | None:
    for name in value or {}:
        reason = name_problem(name)
        if reason:
            raise KeyProblem(name, reason)
    return value
