"""Read a YAML file safely, keeping the line number of every key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, UserError


def _index_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            lines[child] = key_node.start_mark.line + 1
            _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, f"{path}[{i}]", lines)


def line_of(lines: dict[str, int], key_path: str | None) -> int | None:
    """The line of a key path, or of its nearest existing parent."""
    path = key_path or ""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return lines.get("")


def parse_yaml_text(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """Parse YAML text with ``yaml.safe_load`` semantics; return (data, key path → line)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        what = err.problem or str(err)
        if "could not determine a constructor" in str(err):
            what = f"{what}: only plain YAML is allowed (tags such as !!python/object are refused)"
        raise UserError(problems=[Problem(f"YAML syntax error: {what}", file=source, line=line)]) from None
    except yaml.YAMLError as err:
        raise UserError(problems=[Problem(f"YAML error: {err}", file=source)]) from None
    lines: dict[str, int] = {}
    if node is not None:
        _index_lines(node, "", lines)
    return data, lines


def read_yaml_mapping(path: str | Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Load a YAML file that must hold a mapping; every failure is a UserError naming the file."""
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise UserError(problems=[Problem("file not found" if not p.exists() else "not a regular file", file=source)])
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(problems=[Problem(
            f"not UTF-8 text (byte 0x{p.read_bytes()[err.start]:02x} at offset {err.start}); save the file as UTF-8",
            file=source)]) from None
    except OSError as err:
        raise UserError(problems=[Problem(f"cannot read file: {err.strerror}", file=source)]) from None
    data, lines = parse_yaml_text(text, source)
    if data is None:
        raise UserError(problems=[Problem("the file is empty: expected a mapping of sweep keys "
                                          "(method, metric, parameters, ...)", file=source)])
    if not isinstance(data, dict):
        raise UserError(problems=[Problem(
            f"the document is a {type(data).__name__}, expected a mapping of sweep keys "
            "(method, metric, parameters, ...)", file=source, line=1)])
    return data, lines
