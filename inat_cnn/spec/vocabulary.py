"""Project vocabulary checks: parameter names per family, and value domains.

Every value a sweep can produce must be a valid trial config value. The trial
config models (pydantic) are the single source of truth: we validate each
candidate value by building a trial config with it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import Problem
from ..trial_config import (
    FAMILIES,
    FAMILY_REGISTRY,
    METRICS,
    CommonTrial,
    did_you_mean,
    error_key,
    step_schedule_problem,
)
from .sweep_spec import UNBOUNDED, ParameterSpec, SweepSpec

#: Keys valid only together (the step schedule): every combination the sweep can draw is checked.
COUPLED = ("lr_schedule", "lr_boundaries", "lr_values")
_COMBINATIONS_CHECKED = 4096


def sweep_families(spec: SweepSpec) -> tuple[list[str], list[Problem]]:
    """The model families a sweep runs, from its ``model`` parameter."""
    model = spec.parameters.get("model")
    if model is None:
        return [], [Problem("missing the `model` parameter: add `model: {value: scratch}` (or "
                            f"{', '.join(list(FAMILIES)[1:])})", key_path="parameters")]
    if not model.is_finite:
        return [], [Problem(f"`model` must be fixed with value (or listed with values): {', '.join(FAMILIES)}",
                            key_path="parameters.model")]
    families, problems = [], []
    for i, choice in enumerate(model.choices()):
        where = "parameters.model.value" if model.values is None else f"parameters.model.values[{i}]"
        if choice in FAMILIES:
            families.append(choice)
        else:
            problems.append(Problem(f"unknown model family {choice!r}; allowed: {', '.join(FAMILIES)}"
                                    + did_you_mean(str(choice), list(FAMILIES)), key_path=where))
    return families, problems


def check_names(spec: SweepSpec, families: list[str]) -> list[Problem]:
    """Every parameter must belong to the trial config of every family the sweep runs."""
    problems = []
    for name in spec.parameters:
        missing = [f for f in families if name not in FAMILIES[f].model_fields]
        if not missing:
            continue
        owners = [f for f in FAMILIES if name in FAMILIES[f].model_fields]
        if owners:
            msg = f"`{name}` is a {'/'.join(owners)} parameter, but this sweep runs model {', '.join(missing)}"
        else:
            vocab = sorted({n for f in families for n in FAMILIES[f].model_fields})
            msg = f"unknown parameter `{name}` for model {'/'.join(families)}" + did_you_mean(name, vocab)
        problems.append(Problem(msg, key_path=f"parameters.{name}"))
    return problems


def _fixed_base(spec: SweepSpec, family: str) -> dict[str, Any]:
    base = dict(FAMILY_REGISTRY[family].required)
    for name, p in spec.parameters.items():
        if p.values is None and p.is_finite and name in FAMILIES[family].model_fields:
            base[name] = p.value
    base["model"] = family
    return base


def _check_value(family: str, base: dict[str, Any], name: str, value: Any) -> str | None:
    """None if ``value`` is valid for ``name`` in ``family`` with the fixed params; else the reason."""
    try:
        FAMILIES[family].model_validate({**base, name: value})
    except ValidationError as err:
        for e in err.errors():
            key = error_key(e)
            if key is None or key == name:
                return e["msg"].removeprefix("Value error, ")
        return None
    return None


def _candidates(name: str, p: ParameterSpec) -> list[tuple[str, Any]]:
    """(key path, value) pairs of what the sweep can produce for one parameter, at its edges."""
    path = f"parameters.{name}"
    if p.values is not None:
        return [(f"{path}.values[{i}]", v) for i, v in enumerate(p.values)]
    if p.is_finite:
        return [(f"{path}.value", p.value)]
    dist = p.inferred_distribution
    if dist in ("beta", "q_beta") or dist in UNBOUNDED:
        return []
    out = [(f"{path}.min", p.min), (f"{path}.max", p.max)]
    if dist in ("uniform", "log_uniform_values", "inv_log_uniform_values"):  # all three produce min..max
        out.append((path, p.min + 0.37 * (p.max - p.min)))  # an interior, non-integral point
    if dist == "int_uniform":
        out.append((path, p.min + 1))  # every integer is drawn: a domain with gaps (depth 6n+2) fails here
    return out


def _coupled_choices(spec: SweepSpec, base: dict[str, Any]) -> list[list[tuple[str | None, str, Any]]]:
    """Per coupled key: (key path, or None when the sweep leaves it at its default; key; value) for each
    value the sweep can give it."""
    out = []
    for key in COUPLED:
        p = spec.parameters.get(key)
        if p is None or not p.is_finite:
            out.append([(None, key, base.get(key, CommonTrial.model_fields[key].default))])
        else:
            out.append([(path, key, value) for path, value in _candidates(key, p)])
    return out


def _numbers(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def check_step_schedule(spec: SweepSpec, base: dict[str, Any]) -> list[Problem]:
    """Every combination of step-schedule keys the sweep can draw must agree (lengths, order, schedule).

    W&B and Optuna sample swept keys independently, so lr_boundaries from one entry of ``values`` can
    meet lr_values from another: each pairing is checked and the first bad one is located at the key
    at fault (values of the wrong type are left to the per-value check).
    """
    import itertools

    for combination in itertools.islice(itertools.product(*_coupled_choices(spec, base)), _COMBINATIONS_CHECKED):
        values = {key: value for _, key, value in combination}
        if not (_numbers(values["lr_boundaries"]) and _numbers(values["lr_values"])):
            continue
        problem = step_schedule_problem(values["lr_schedule"], values["lr_boundaries"], values["lr_values"])
        if problem is None:
            continue
        key, why = problem
        paths = {k: path for path, k, _ in combination if path}
        where = paths.get(key) or f"parameters.{key}"
        others = [path for k, path in paths.items() if k != key and spec.parameters[k].values is not None]
        drawn = f" (drawn with {', '.join(others)}: swept keys are sampled independently)" if others else ""
        return [Problem(why + drawn, key_path=where)]
    return []


def check_domains(spec: SweepSpec, families: list[str]) -> list[Problem]:
    """Every value a sweep can produce must lie in its parameter's domain."""
    problems = []
    for family in families:
        base = _fixed_base(spec, family)
        schedule = check_step_schedule(spec, base)
        problems += schedule
        if schedule:  # the other keys are checked against the default (valid) schedule
            base.update((k, FAMILIES[family].model_fields[k].default) for k in COUPLED)
        else:  # every combination is valid: any one serves as the others' base
            base.update(_first_schedule(spec, base))
        for name, p in spec.parameters.items():
            if name == "model" or name not in FAMILIES[family].model_fields:
                continue
            if name in COUPLED and schedule:
                continue
            if p.parameters is not None:
                problems.append(Problem(f"`{name}` takes plain values, not nested parameters",
                                        key_path=f"parameters.{name}.parameters"))
                continue
            dist = p.inferred_distribution
            if dist in UNBOUNDED or dist in ("beta", "q_beta"):
                reason = _check_value(family, base, name, 1e12) or _check_value(family, base, name, -1e12)
                if reason:
                    problems.append(Problem(f"distribution {dist} is not supported for `{name}`, whose values "
                                            f"are bounded ({reason}); use min/max", key_path=f"parameters.{name}"))
                continue
            for key_path, value in _candidates(name, p):
                reason = _check_value(family, base, name, value)
                if reason:
                    kind = f" (distribution {dist})" if dist else ""
                    if dist == "uniform" and "integer" in reason:
                        reason += "; give integer min and max for int_uniform"
                    problems.append(Problem(f"value {value!r}{kind} is not allowed for `{name}`: {reason}",
                                            key_path=key_path))
                    break
    return _dedupe(problems)


def _first_schedule(spec: SweepSpec, base: dict[str, Any]) -> dict[str, Any]:
    """The first value of each coupled key the sweep sets (a base for checking the other keys)."""
    return {key: value for choices in _coupled_choices(spec, base) for path, key, value in choices[:1] if path}


def check_metric(spec: SweepSpec) -> list[Problem]:
    if spec.metric is None or spec.metric.name in METRICS:
        return []
    return [Problem(f"metric {spec.metric.name!r} is not logged by trials; allowed: {', '.join(METRICS)}"
                    + did_you_mean(spec.metric.name, list(METRICS)), key_path="metric.name")]


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.key_path, p.message) not in seen:
            seen.add((p.key_path, p.message))
            out.append(p)
    return out
