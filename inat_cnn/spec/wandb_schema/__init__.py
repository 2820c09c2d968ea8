"""W&B's sweep-config JSON schema, vendored from the ``sweeps`` package (see README.md here).

The validator reads the parameter shapes from it (which keys each distribution takes,
which it needs, their lower bounds), so our rules and W&B's come from one file. The
tests check our validator against the full schema with the ``jsonschema`` package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

#: The ``sweeps`` release the schema file comes from.
SWEEPS_VERSION = "0.3.0"
SCHEMA_PATH = Path(__file__).with_name("schema.json")

#: W&B's deprecated v1 distributions (min/max are base-e exponents) and their replacements. W&B
#: refuses them (``sweeps.params.PARAM_DEPRECATION_MAP``, used by
#: ``schema_violations_from_proposed_config``); the schema file alone still lists them.
DEPRECATED = {"log_uniform": "log_uniform_values", "inv_log_uniform": "inv_log_uniform_values",
              "q_log_uniform": "q_log_uniform_values"}
#: The parameter shape that holds nested parameters instead of a distribution.
NESTED = "parameters"
#: W&B's ``propertyNames`` pattern for parameter names (the schema writes it with a doubled ``^``).
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


@dataclass(frozen=True)
class Shape:
    """One parameter form of W&B's schema: a distribution and the keys that go with it."""

    name: str
    keys: tuple[str, ...]                       # keys besides `distribution`, in the schema's order
    required: tuple[str, ...]                   # keys it cannot do without (besides `distribution`)
    lower: dict[str, tuple[float, bool]] = field(default_factory=dict)  # key → (bound, exclusive)
    integer: tuple[str, ...] = ()               # keys typed integer


@cache
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _shape(name: str, variants: list[dict[str, Any]]) -> Shape:
    props: dict[str, Any] = {}
    for variant in variants:
        props.update(variant["properties"])
    required = set.intersection(*(set(v.get("required", ())) for v in variants)) - {"distribution"}
    keys = tuple(k for k in props if k != "distribution")
    lower = {k: (p["exclusiveMinimum"], True) if "exclusiveMinimum" in p else (p["minimum"], False)
             for k, p in props.items() if "minimum" in p or "exclusiveMinimum" in p}
    integer = tuple(k for k in keys if props[k].get("type") == "integer")
    return Shape(name, keys, tuple(k for k in keys if k in required), lower, integer)


@cache
def parameter_shapes() -> dict[str, Shape]:
    """Distribution name (and ``parameters`` for a nested dict) → its shape, from the schema."""
    defs = load_schema()["definitions"]
    shapes = {}
    for ref in defs["parameter"]["anyOf"]:
        definition = defs[ref["$ref"].rsplit("/", 1)[-1]]
        variants = definition.get("anyOf", [definition])
        dist = variants[0]["properties"].get("distribution")
        name = dist["enum"][0] if dist else NESTED
        shapes[name] = _shape(name, variants)
    return shapes


def owners_of(key: str) -> list[str]:
    """The (non-deprecated) distributions that take ``key``."""
    return [s.name for s in parameter_shapes().values() if key in s.keys and s.name not in DEPRECATED
            and s.name != NESTED]


def top_level_keys() -> list[str]:
    return list(load_schema()["properties"])
