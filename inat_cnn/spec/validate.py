"""Validate a sweep file or dict: W&B rules, then the project vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Problem, UserError
from .parameter_spec import PARAM_KEYS
from .sweep_spec import EarlyTerminateSpec, MetricSpec, SweepSpec
from .vocabulary import check_domains, check_metric, check_names, did_you_mean, sweep_families
from .wandb_types import KeyProblem
from .yaml_source import line_of, read_yaml_mapping

_ALLOWED = {"": list(SweepSpec.model_fields), "metric": list(MetricSpec.model_fields),
            "early_terminate": list(EarlyTerminateSpec.model_fields), "parameters": list(PARAM_KEYS)}


@dataclass
class ValidatedSweep:
    """A sweep that passed every check, with where it came from."""

    spec: SweepSpec
    families: list[str]
    source: str = "<dict>"
    raw: dict[str, Any] = field(default_factory=dict)


def _key_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in ("int", "float", "bool", "str", "list[str]") or "[" in str(item) and "]" in str(item) and \
                str(item).split("[")[0] in ("function-after", "function-before", "literal", "constrained-int"):
            continue  # pydantic's union-member tags: not part of the user's key path
        else:
            parts.append(str(item))
    return ".".join(parts)


def _spec_problems(err: ValidationError) -> list[Problem]:
    problems, seen = [], set()
    for e in err.errors():
        path = _key_path(e["loc"])
        error = (e.get("ctx") or {}).get("error")
        if isinstance(error, KeyProblem):
            path = f"{path}{'' if error.key.startswith('[') or not path else '.'}{error.key}"
        if path in seen:
            continue  # one message per key (a union reports each member's failure)
        seen.add(path)
        msg = e["msg"].removeprefix("Value error, ")
        if e["loc"] and e["loc"][-1] == "int" and e["type"].startswith("int_"):
            msg = "Input should be a valid number"  # the int | float union: say what is allowed once
        key = path.rsplit(".", 1)[-1]
        if e["type"] == "extra_forbidden":
            section = path.split(".", 1)[0] if "." in path else ""
            allowed = _ALLOWED.get(section, _ALLOWED[""])
            msg = f"unknown key `{key}`{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}"
        elif e["type"] == "missing":
            msg = f"missing required key `{key}`"
        elif not isinstance(e.get("input"), dict) and not isinstance(error, KeyProblem) and "(got " not in msg:
            msg = f"{msg} (got {e.get('input')!r})"
        problems.append(Problem(msg, key_path=path or None))
    return problems


def validate_sweep_dict(data: dict[str, Any], source: str = "<dict>",
                        lines: dict[str, int] | None = None) -> ValidatedSweep:
    """Validate plain sweep data; raise UserError listing every problem (file, key path, line)."""
    lines = lines or {}
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        raise _located(_spec_problems(err), source, lines) from None
    problems = spec.rule_problems()
    families, family_problems = sweep_families(spec)
    problems += family_problems
    if families:
        problems += check_names(spec, families)
        if not problems:
            problems += check_domains(spec, families)
    problems += check_metric(spec)
    if problems:
        raise _located(problems, source, lines)
    return ValidatedSweep(spec=spec, families=families, source=source, raw=data)


def _located(problems: list[Problem], source: str, lines: dict[str, int]) -> UserError:
    located = [Problem(p.message, file=source, key_path=p.key_path, line=line_of(lines, p.key_path))
               for p in problems]
    return UserError(problems=located)


def load_sweep(path: str | Path) -> ValidatedSweep:
    """Read and validate one sweep YAML file."""
    data, lines = read_yaml_mapping(path)
    return validate_sweep_dict(data, source=str(path), lines=lines)
