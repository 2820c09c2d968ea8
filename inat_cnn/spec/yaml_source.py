"""Read a YAML file safely and within bounds, keeping the line number of every key path.

Bounded as it is read: the file's size, then, event by event as the parser yields them,
the nesting depth and the number of nodes once aliases are expanded. A
1 KB file of nested aliases ("billion laughs") stands for billions of nodes; walking
them (line index, validation) would take minutes and gigabytes. A recursive alias
(``&a [*a]``) is refused too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, UserError

#: Bounds of a sweep file: the shipped ones are ~1 KB, ~100 nodes, 4 levels deep.
MAX_BYTES = 128 * 1024
MAX_DEPTH = 32
MAX_NODES = 50_000


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts each parser event as the composer takes it, and stops early.

    Counted: nodes with every alias expanded (an alias counts as the collection it names), and
    the nesting depth including what aliases bring in. The composer itself shares aliased
    nodes, so nothing big is ever built before the count stops it.
    """

    def __init__(self, text: str, source: str):
        super().__init__(text)
        self.source = source
        self.nodes = 0
        self.frames: list[list] = []  # per open collection: [anchor, nodes at start, tallest child]
        self.sizes: dict[str, int] = {}
        self.heights: dict[str, int] = {}

    def _refuse(self, what: str, event: yaml.Event) -> UserError:
        return UserError(problems=[Problem(what, file=self.source, line=event.start_mark.line + 1)])

    def get_event(self) -> yaml.Event:
        event = super().get_event()
        height = None
        if isinstance(event, yaml.AliasEvent):
            if any(frame[0] == event.anchor for frame in self.frames):
                raise self._refuse(f"the alias *{event.anchor} stands for a collection that contains it "
                                   "(a recursive alias): a sweep file cannot hold one", event)
            self.nodes += self.sizes.get(event.anchor, 1)  # an undefined alias is the composer's error
            height = self.heights.get(event.anchor, 0)
        elif isinstance(event, yaml.ScalarEvent):
            self.nodes, height = self.nodes + 1, 0
            if event.anchor:
                self.sizes[event.anchor], self.heights[event.anchor] = 1, 0
        elif isinstance(event, yaml.CollectionStartEvent):
            self.nodes += 1
            self.frames.append([event.anchor, self.nodes - 1, 0])
            if len(self.frames) > MAX_DEPTH:
                raise self._refuse(f"nested deeper than {MAX_DEPTH} levels (a sweep needs about 5): refused "
                                   "before parsing further", event)
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, start, tallest = self.frames.pop()
            height = tallest + 1
            if anchor:
                self.sizes[anchor], self.heights[anchor] = self.nodes - start, height
        if height is not None and self.frames:
            self.frames[-1][2] = max(self.frames[-1][2], height)
            if len(self.frames) + height > MAX_DEPTH + 1:
                raise self._refuse(f"aliases nest the document deeper than {MAX_DEPTH} levels (a sweep needs "
                                   "about 5): write the values out", event)
        if self.nodes > MAX_NODES:
            raise self._refuse(f"the document stands for more than {MAX_NODES:,} values once its aliases are "
                               "expanded (nested aliases multiply, as in a 'billion laughs' file): write the "
                               "values out, without aliases of aliases", event)
        return event


def _flow_list_hint(text: str, line: int | None) -> str:
    lines = text.splitlines()
    if line and line <= len(lines) and "${" in lines[line - 1] and "[" in lines[line - 1]:
        return ("; `${...}` cannot stand in a flow list [...]: write the list as a block, one `- item` per line "
                "(or quote each `${...}`)")
    return ""


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
        loader = _BoundedLoader(text, source)
        try:
            node = loader.get_single_node()
            data = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        what = (err.problem or str(err)) + _flow_list_hint(text, line)
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
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise UserError(problems=[Problem(f"cannot read file: {err.strerror}", file=source)]) from None
    if len(raw) > MAX_BYTES:
        raise UserError(problems=[Problem(
            f"the file is {p.stat().st_size:,} bytes; a sweep file is at most {MAX_BYTES:,} (the shipped ones are "
            "about 1 KB): is this the right file?", file=source)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(problems=[Problem(
            f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); save the file as UTF-8",
            file=source)]) from None
    data, lines = parse_yaml_text(text, source)
    if data is None:
        raise UserError(problems=[Problem("the file is empty: expected a mapping of sweep keys "
                                          "(method, metric, parameters, ...)", file=source)])
    if not isinstance(data, dict):
        raise UserError(problems=[Problem(
            f"the document is a {type(data).__name__}, expected a mapping of sweep keys "
            "(method, metric, parameters, ...)", file=source, line=1)])
    return data, lines
