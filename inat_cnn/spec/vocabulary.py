"""Project vocabulary checks: parameter names per family, and value domains.

Every value a sweep can produce must be a valid trial config value. The trial
config models (pydantic) are the single source of truth: we validate each
candidate value by building a trial config with it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import Problem
from ..trial_config import BACKBONES, FAMILIES, METRICS, suggest
from .sweep_spec import UNBOUNDED, ParameterSpec, SweepSpec

_FILLER = {"finetune": {"backbone": BACKBONES[0]}}


def sweep_families(spec: SweepSpec) -> tuple[list[str], list[Problem]]:
    """The model families a sweep runs, from its ``model`` parameter."""
    model = spec.parameters.get("model")
    if model is None:
        return [], [Problem("missing the `model` parameter: add `model: {value: scratch}` (or finetune)",
                            key_path="parameters")]
    if not model.is_finite:
        return [], [Problem("`model` must be fixed with value (or listed with values): scratch or finetune",
                            key_path="parameters.model")]
    families, problems = [], []
    for i, choice in enumerate(model.choices()):
        where = "parameters.model.value" if model.values is None else f"parameters.model.values[{i}]"
        if choice in FAMILIES:
            families.append(choice)
        else:
            problems.append(Problem(f"unknown model family {choice!r}; allowed: scratch, finetune"
                                    + suggest(str(choice), list(FAMILIES)), key_path=where))
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
            msg = f"unknown parameter `{name}` for model {'/'.join(families)}" + suggest(name, vocab)
        problems.append(Problem(msg, key_path=f"parameters.{name}"))
    return problems


def _fixed_base(spec: SweepSpec, family: str) -> dict[str, Any]:
    base = dict(_FILLER.get(family, {}))
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
            loc = e["loc"]
            if not loc or loc[0] == name:
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
    return out


def check_domains(spec: SweepSpec, families: list[str]) -> list[Problem]:
    """Every value a sweep can produce must lie in its parameter's domain."""
    problems = []
    for family in families:
        base = _fixed_base(spec, family)
        for name, p in spec.parameters.items():
            if name == "model" or name not in FAMILIES[family].model_fields:
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


def check_metric(spec: SweepSpec) -> list[Problem]:
    if spec.metric is None or spec.metric.name in METRICS:
        return []
    return [Problem(f"metric {spec.metric.name!r} is not logged by trials; allowed: {', '.join(METRICS)}"
                    + suggest(spec.metric.name, list(METRICS)), key_path="metric.name")]


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.key_path, p.message) not in seen:
            seen.add((p.key_path, p.message))
            out.append(p)
    return out
