"""W&B's own verdict on a sweep config, from the vendored schema and the ``jsonschema`` package.

This is ``sweeps.schema_violations_from_proposed_config`` (sweeps 0.3.0, ``sweeps/config/cfg.py``
and ``schema.py``) without its numpy/scipy imports: the JSON schema with W&B's ``float`` and
``integer`` format checks, then the checks W&B adds in Python (min < max, probabilities, the
deprecated v1 log distributions, metric/metrics/scheduler rules).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jsonschema

from inat_cnn.spec.wandb_schema import load_schema

FORMATS = jsonschema.FormatChecker()
FORMATS.checks("float")(lambda value: isinstance(value, float))
FORMATS.checks("integer")(lambda value: isinstance(value, int))
SCHEMA = load_schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA, format_checker=FORMATS)
_DEPRECATED_DEFS = ("param_loguniform", "param_inv_loguniform", "param_qloguniform")
_ENGINES = {"wandb": ["grid", "bayes", "random"], "optuna": ["custom"], "ax": ["custom"]}


def _parameter_definition(config: dict[str, Any]) -> str | None:
    """The first of W&B's parameter definitions the config matches (what ``fill_parameter`` picks)."""
    for ref in SCHEMA["definitions"]["parameter"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        sub = {**SCHEMA["definitions"][name], "definitions": SCHEMA["definitions"]}
        if jsonschema.Draft7Validator(sub, format_checker=FORMATS).is_valid(config):
            return name
    return None


def _parameter_violations(name: str, config: Any) -> list[str]:
    if not isinstance(config, dict):
        return [f"Invalid configuration for hyperparameter '{name}'"]  # W&B raises ValueError here
    out = []
    low, high = config.get("min"), config.get("max")
    if isinstance(low, numbers.Real) and isinstance(high, numbers.Real) and low >= high:
        out.append(f"{name}: min {low} is not less than max {high}")
    if "values" in config and "probabilities" in config:
        values, probs = config["values"], config["probabilities"]
        if len(values) != len(probs):
            out.append(f"{name}: values and probabilities are not the same length")
        elif all(isinstance(p, numbers.Real) for p in probs) and not math.isclose(sum(probs), 1.0, rel_tol=1e-5,
                                                                                  abs_tol=1e-8):  # np.isclose's
            out.append(f"{name}: probabilities do not sum to 1")
    if _parameter_definition(config) in _DEPRECATED_DEFS:
        out.append(f"{name} uses a deprecated distribution")
    return out


def wandb_violations(config: dict[str, Any]) -> list[str]:
    """What W&B says is wrong with a sweep config (empty: W&B accepts it)."""
    out = [error.message for error in VALIDATOR.iter_errors(config)]
    method, scheduler = config.get("method"), config.get("scheduler")
    if "parameters" not in config and not (isinstance(scheduler, dict) and scheduler.get("search_space")):
        out.append("`parameters` is required unless `scheduler.search_space` is set.")
    if "metric" in config and "metrics" in config:
        out.append("`metric` and `metrics` cannot both be set")
    elif "metrics" in config and method is not None and method != "custom":
        out.append("`metrics` requires `method: custom`")
    if scheduler is not None:
        if isinstance(config.get("controller"), dict) and config["controller"].get("type") == "local":
            out.append("`controller: type:local` cannot be used together with `scheduler`")
        if "early_terminate" in config:
            out.append("`early_terminate` cannot be used together with `scheduler`")
        if isinstance(scheduler, dict):
            engine = scheduler.get("engine")
            if engine not in _ENGINES or method not in _ENGINES[engine]:
                out.append(f"scheduler.engine {engine!r} does not support method {method!r}")
    if isinstance(config.get("parameters"), dict):
        for name, parameter in config["parameters"].items():
            out += _parameter_violations(name, parameter)
    return out
