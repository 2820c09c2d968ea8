"""The package's layers: which part of inat_cnn may import which (docs/design.md, "Layers").

Every import of every module counts, the lazy ones inside functions too (they are how a lower layer
would sneak in a dependency on a higher one). A part is a top-level module (``inat_cnn/errors.py``) or a
sub-package (``inat_cnn/models/``); it may import itself, anything in a lower layer, and, in the
foundation only, its peers. No two modules may import each other, directly or around a loop.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "inat_cnn"

#: Lowest first. A new module or sub-package must be placed here before its first import is accepted.
LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(layer) for layer in (
    # the foundation: single modules of plain Python (errors, atomic writes, the trial config, ...)
    {"", "errors", "redact", "atomic", "outcome", "cpus", "locks", "workspace", "folders", "backbone_sizes",
     "compile_cache", "trial_config"},
    {"spec"},  # sweep YAML -> validated SweepSpec
    {"data", "fetch"},  # images on disk: scan, split, decode cache; downloads
    {"models"},  # trial config -> keras.Model, analytic plans, save/load
    {"viz", "features", "ensembles"},  # a trained model's figures, cached backbone features, ensemble graphs
    {"training"},  # one trial: fit, test, figures, its record
    {"engine"},  # the sweep: Optuna storage, agents, policy
    {"report"},  # a sweep's results: records, HTML report
    {"export"},  # what leaves the workspace: export best, evaluate
    {"cli"},  # the typer commands
    {"__main__"},  # python -m inat_cnn
))


def part_of(module: str) -> str:
    """``inat_cnn.models.io`` -> ``models``; ``inat_cnn.errors`` -> ``errors``; ``inat_cnn`` -> ``""``."""
    return module.split(".")[1] if "." in module else ""


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """{module: the project's modules it imports}, read with ast (nothing is imported)."""
    names = module_names(package)
    graph: dict[str, set[str]] = {}
    for module, path in names.items():
        here = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                found = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base for alias in node.names]
            else:
                continue
            for name in found:
                while name and name not in names:  # `import inat_cnn.x.y` / `from x import attribute`
                    name = name.rpartition(".")[0]
                if name and name != module:
                    targets.add(name)
        graph[module] = targets
    return graph


def layer_violations(graph: Mapping[str, Iterable[str]], layers: tuple[frozenset[str], ...] = LAYERS) -> list[str]:
    """Every import that goes up (or sideways outside the foundation), and every part no layer lists."""
    rank = {part: i for i, layer in enumerate(layers) for part in layer}
    problems = sorted({f"{part_of(m)!r} is in no layer of tests/test_layering.py (module {m})"
                       for m in graph if part_of(m) not in rank})
    for module, targets in sorted(graph.items()):
        src = part_of(module)
        for target in sorted(targets):
            dst = part_of(target)
            if src == dst or src not in rank or dst not in rank:
                continue
            if rank[dst] > rank[src] or (rank[dst] == rank[src] and rank[src] != 0):
                problems.append(f"{module} imports {target}: layer {rank[src]} ({src}) may not import "
                                f"layer {rank[dst]} ({dst})")
    return problems


def import_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The groups of modules that import each other (strongly connected components of two or more)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []
    for root in sorted(graph):
        if root in order:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        order[root] = low[root] = len(order)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in order:
                    order[child] = low[child] = len(order)
                    stack.append(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in stack:
                    low[node] = min(low[node], order[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == order[node]:
                group = []
                while True:
                    member = stack.pop()
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_every_import_goes_down_the_layers():
    graph = import_graph()
    assert len(graph) > 100 and graph["inat_cnn.cli.main"], "the graph must cover the whole package"
    assert layer_violations(graph) == []


def test_no_two_modules_import_each_other():
    assert import_cycles(import_graph()) == []


def test_a_synthetic_graph_with_an_upward_import_and_a_cycle_is_refused():
    graph = {
        "inat_cnn.models.io": {"inat_cnn.training.optim", "inat_cnn.atomic"},  # models importing training: up
        "inat_cnn.training.optim": {"inat_cnn.models.io"},
        "inat_cnn.data.bad_files": {"inat_cnn.data.synth"},
        "inat_cnn.data.synth": {"inat_cnn.data.bad_files", "inat_cnn.errors"},
        "inat_cnn.viz.figures": {"inat_cnn.features.cache"},  # peers outside the foundation: sideways
        "inat_cnn.folders": {"inat_cnn.atomic"},  # peers inside the foundation: allowed
        "inat_cnn.atomic": {"inat_cnn.errors"},
        "inat_cnn.features.cache": set(),
        "inat_cnn.errors": set(),
        "inat_cnn.plugins.extra": {"inat_cnn.errors"},  # a package no layer lists
    }
    assert layer_violations(graph) == [
        "'plugins' is in no layer of tests/test_layering.py (module inat_cnn.plugins.extra)",
        "inat_cnn.models.io imports inat_cnn.training.optim: layer 3 (models) may not import layer 5 (training)",
        "inat_cnn.viz.figures imports inat_cnn.features.cache: layer 4 (viz) may not import layer 4 (features)",
    ]
    assert import_cycles(graph) == [["inat_cnn.data.bad_files", "inat_cnn.data.synth"],
                                    ["inat_cnn.models.io", "inat_cnn.training.optim"]]


@pytest.mark.parametrize(("source", "expected"), [
    ("from ..training.optim import make_optimizer\n", "inat_cnn.training.optim"),  # a module
    ("def f():\n    from .. import atomic\n", "inat_cnn.atomic"),  # lazy, a module imported by name
    ("from ..errors import UserError\n", "inat_cnn.errors"),  # an attribute: its module
    ("import inat_cnn.models.io\n", "inat_cnn.models.io"),
])
def test_the_graph_reads_every_form_of_import(tmp_path, source, expected):
    package = tmp_path / "inat_cnn"
    for name in ("__init__", "errors", "atomic", "models/__init__", "models/io", "training/__init__",
                 "training/optim", "data/__init__"):
        (package / f"{name}.py").parent.mkdir(parents=True, exist_ok=True)
        (package / f"{name}.py").touch()
    (package / "data" / "load.py").write_text(source)
    assert import_graph(package)["inat_cnn.data.load"] == {expected}
