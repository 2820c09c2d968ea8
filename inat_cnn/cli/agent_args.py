"""Trial parameters from what a W&B agent puts on the command line, with their sampled types.

The stock agent renders each sampled value with Python's ``str()`` into one of its macros:
``${args}`` ``--k=v``, ``${args_no_hyphens}`` ``k=v``, ``${args_no_equals}`` ``--k v``,
``${args_no_boolean_flags}`` ``--k`` for true and nothing at all for false, ``${args_json}``
one JSON object, ``${args_json_file}`` the path of a JSON file holding it. ``None`` means
"use the default". A value is read back as a Python literal first (the inverse of ``str()``:
``True``, ``None``, ``1e-05``, ``[3, 5]``), then as YAML (what people type: ``true``, ``[3,5]``).

The trial cannot know which macro built its argv, so a false boolean missing under
``${args_no_boolean_flags}`` is recovered from the run's parameter file that every wandb
agent writes and names in ``WANDB_SWEEP_PARAM_PATH`` (the file ``wandb.init`` reads the
run config from): its typed values are the base, and argv only overrides a value it states
differently from the agent's own rendering of it.
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError

PARAM_PATH_ENV = "WANDB_SWEEP_PARAM_PATH"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_LITERALS = (bool, int, float, str, list, dict, type(None))


@dataclass(frozen=True)
class AgentArg:
    """One parameter from argv: ``text`` as written (None for JSON and bare flags), ``value`` parsed."""

    key: str
    value: Any
    text: str | None = None


def parse_value(key: str, text: str, source: str = "a parameter argument") -> Any:
    """A value as the agent rendered it (a Python literal) or as a person typed it (YAML)."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    else:
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, _LITERALS):
            return value
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UserError(f"{source} {key}: cannot parse value {text!r}: {err}") from None


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"cannot parse the JSON parameters {where}: {err}") from None
    if not isinstance(data, dict):
        raise UserError(f"the JSON parameters {where} must be an object, got {type(data).__name__}")
    return data


def _is_json_file(arg: str) -> bool:
    return arg.endswith(".json") and not arg.startswith("-") and "=" not in arg and Path(arg).is_file()


def _unexpected(arg: str) -> UserError:
    return UserError(f"unexpected argument {arg!r}: parameters are --key=value, key=value, --key value, --flag, "
                     "one JSON object or a .json file")


def _key(raw: str, arg: str) -> str:
    if not _KEY.match(raw):
        raise _unexpected(arg)
    return raw


def parse_agent_argv(args: list[str]) -> list[AgentArg]:
    """Every parameter of argv, in order, whichever macro (or mix of them) wrote it."""
    found: list[AgentArg] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.lstrip().startswith("{"):
            found += [AgentArg(k, v) for k, v in _json_object(arg, f"argument {arg[:60]!r}").items()]
        elif _is_json_file(arg):
            try:
                text = Path(arg).read_text()
            except OSError as err:
                raise UserError(f"cannot read the JSON parameter file {arg}: {err}") from None
            found += [AgentArg(k, v) for k, v in _json_object(text, f"in {arg}").items()]
        elif "=" in arg:
            raw, _, text = arg.partition("=")
            key = _key(raw.removeprefix("--"), arg)
            found.append(AgentArg(key, parse_value(key, text), text))
        elif arg.startswith("--"):
            key = _key(arg[2:], arg)
            if i < len(args) and not args[i].startswith("--"):  # ${args_no_equals}: --key value
                found.append(AgentArg(key, parse_value(key, args[i]), args[i]))
                i += 1
            else:  # ${args_no_boolean_flags}: a true flag
                found.append(AgentArg(key, True))
        elif arg.endswith(".json"):
            raise UserError(f"the JSON parameter file {arg} does not exist")
        else:
            raise _unexpected(arg)
    return found


def read_param_file(path: str | os.PathLike) -> dict[str, Any]:
    """The run's sampled parameters from the agent's file (``wandb_version: 1`` + ``key: {value: v}``)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"cannot read the W&B run parameters {path} ({PARAM_PATH_ENV}): {err}") from None
    if not isinstance(data, dict):
        raise UserError(f"the W&B run parameters {path} ({PARAM_PATH_ENV}) are not a mapping")
    params = {}
    for key, entry in data.items():
        if key == "wandb_version" or str(key).startswith("_"):
            continue
        params[key] = entry["value"] if isinstance(entry, dict) and "value" in entry else entry
    return params


def sweep_run_params() -> dict[str, Any]:
    """The parameters a wandb agent sampled for this run, when it started us ({} otherwise)."""
    path = os.environ.get(PARAM_PATH_ENV)
    return read_param_file(path) if path and Path(path).is_file() else {}


def agent_parameters(args: list[str], sampled: dict[str, Any] | None = None) -> dict[str, Any]:
    """The trial parameters argv and the agent's sampled values give; None values are left to the defaults.

    ``sampled`` (the agent's typed values) is the base; an argv value replaces it unless its text is
    exactly how the agent renders the sampled value (then the typed value is the truer one).
    """
    values = dict(sampled or {})
    for arg in parse_agent_argv(args):
        if arg.key in values and arg.text is not None and arg.text == str(values[arg.key]):
            continue
        values[arg.key] = arg.value
    return {k: v for k, v in values.items() if v is not None}
