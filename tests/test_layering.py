"""The package's layering: no import cycle between modules, no import from a lower layer upward.

The imports are read from the source with :mod:`ast` (nothing is imported), so the test sees
every import: module level, inside functions (a lazy import is still a dependency, and a lazy
import is how a cycle usually hides), relative ones resolved against the importing module.

- ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``. The
  package ``__init__`` that Python runs on the way is not an edge: every module of a package
  would otherwise sit in a cycle with an ``__init__`` that lists its modules.
- Imports under ``if TYPE_CHECKING:`` never run. They count for layering (a type named from a
  higher layer is still an upward dependency) but not for cycles (they are the standard way to
  name a type in both directions without a runtime loop).
- ``cli.py`` loads its subcommands by name (``importlib``); it is the top layer and nothing
  imports it, so those names cannot close a cycle or point upward and are not read.

:data:`LAYERS` is the rule, lowest first. A module may import its own package and any package
of a strictly lower layer; packages of one layer do not import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = "iklim"

#: Lowest first. ``check`` and ``vault`` read the model and the components and nothing else
#: (``vault`` also holds what Vault's health endpoint means, imported by ``status``). ``render``
#: sits above ``check`` so it can refuse what the checker rejects before writing; ``status`` stays
#: light (no pydantic, no client library on its hot path). ``lab`` runs everything for real: it
#: drives ``vault``'s bootstrap and speaks MongoDB through ``status``'s wire client. ``cli`` is
#: the top, with ``__main__`` (``python -m iklim``) above it.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"model"}),
    frozenset({"components"}),
    frozenset({"check", "vault", "pki"}),
    frozenset({"render", "status"}),
    frozenset({"lab", "swarmlab"}),
    frozenset({"drill", "plan"}),
    frozenset({"deploy"}),
    frozenset({"cli"}),
    frozenset({"__main__"}),
)


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` (dotted module names) at ``path:line``."""

    source: str
    target: str
    path: str
    line: int
    typing_only: bool

    def __str__(self) -> str:
        note = " (under TYPE_CHECKING)" if self.typing_only else ""
        return f"{self.source} -> {self.target} at {self.path}:{self.line}{note}"


def modules(src: Path, root: str) -> dict[str, Path]:
    """Every module below ``src/root`` by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted((src / root).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _typing_guard(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _typing_only_nodes(tree: ast.Module) -> set[int]:
    """The ``id`` of every node inside an ``if TYPE_CHECKING:`` body."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _typing_guard(node):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_package: bool, known: Mapping[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = name.split(".") if is_package else name.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]


def _owner(target: str, known: Mapping[str, Path]) -> str | None:
    """The module of ours that ``target`` names (``a.b.c`` where only ``a.b`` exists: ``a.b``)."""
    while target:
        if target in known:
            return target
        target = target.rpartition(".")[0]
    return None


def import_edges(src: Path, root: str) -> list[Edge]:
    """Every import of one module of ours by another, as :class:`Edge` (sorted, one per line)."""
    known = modules(src, root)
    edges: set[Edge] = set()
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        typing_only = _typing_only_nodes(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, name, path.name == "__init__.py", known):
                owner = _owner(target, known)
                if owner is not None and owner != name:
                    shown = str(path.relative_to(src.parent))
                    edges.add(Edge(name, owner, shown, node.lineno, id(node) in typing_only))
    return sorted(edges, key=lambda e: (e.source, e.target, e.line))


def cycles(edges: Iterable[Edge]) -> list[list[Edge]]:
    """One loop of runtime edges through each strongly connected set of modules (Tarjan)."""
    graph: dict[str, list[Edge]] = {}
    for edge in edges:
        if not edge.typing_only:
            graph.setdefault(edge.source, []).append(edge)
            graph.setdefault(edge.target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for edge in graph[node]:
            if edge.target not in index:
                visit(edge.target)
                low[node] = min(low[node], low[edge.target])
            elif edge.target in on_stack:
                low[node] = min(low[node], index[edge.target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_loop(graph, group) for group in groups]


def _loop(graph: Mapping[str, list[Edge]], group: set[str]) -> list[Edge]:
    """A shortest loop from the group's first module back to itself, inside the group."""
    start = min(group)
    paths: dict[str, list[Edge]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for edge in graph[node]:
                if edge.target == start:
                    return [*paths[node], edge]
                if edge.target in group and edge.target not in paths:
                    paths[edge.target] = [*paths[node], edge]
                    following.append(edge.target)
        frontier = following
    raise AssertionError(f"no loop in {group}")  # a strongly connected group always has one


def package_of(module: str, root: str) -> str:
    """``iklim.components.grafana`` -> ``components``; ``iklim.cli`` -> ``cli``; ``iklim`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if parts[0] == root and len(parts) > 1 else ""


def layer_of(package: str, layers: tuple[frozenset[str], ...]) -> int:
    """The package's layer index; the root package's ``__init__`` is below everything."""
    if not package:
        return -1
    for number, members in enumerate(layers):
        if package in members:
            return number
    raise KeyError(package)


def upward(edges: Iterable[Edge], root: str, layers: tuple[frozenset[str], ...]) -> list[str]:
    """Each edge into the same or a higher layer's other package, in words."""
    found = []
    for edge in edges:
        source, target = package_of(edge.source, root), package_of(edge.target, root)
        if source == target:
            continue
        if layer_of(target, layers) >= layer_of(source, layers):
            found.append(
                f"{edge}: {source} (layer {layer_of(source, layers)}) may not import {target} "
                f"(layer {layer_of(target, layers)})"
            )
    return found


def _loop_words(loop: list[Edge]) -> str:
    return " -> ".join([loop[0].source, *(e.target for e in loop)]) + "\n" + "\n".join(f"    {e}" for e in loop)


# --- the project ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    found = import_edges(SRC, ROOT)
    # A walker that read nothing would pass everything: it must see a known edge.
    assert any(e.source == "iklim.components.base" and e.target.startswith("iklim.model") for e in found)
    return found


def test_every_package_has_a_layer() -> None:
    packages = {package_of(name, ROOT) for name in modules(SRC, ROOT)} - {""}
    unplaced = sorted(p for p in packages if not any(p in layer for layer in LAYERS))
    assert not unplaced, f"packages without a layer in tests/test_layering.py LAYERS: {unplaced}"


def test_no_import_cycle(edges: list[Edge]) -> None:
    loops = cycles(edges)
    assert not loops, "import cycles:\n" + "\n".join(_loop_words(loop) for loop in loops)


def test_no_import_from_a_lower_layer_into_a_higher_one(edges: list[Edge]) -> None:
    wrong = upward(edges, ROOT, LAYERS)
    assert not wrong, (
        "imports against the layers (lowest first: "
        + " < ".join("{" + ", ".join(sorted(layer)) + "}" for layer in LAYERS)
        + "):\n"
        + "\n".join(wrong)
    )


# --- the walker itself, on small trees -----------------------------------------------------------


def _tree(tmp_path: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "src" / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "src"


TOY_LAYERS = (frozenset({"low"}), frozenset({"high"}))


def test_walker_finds_a_cycle_through_a_lazy_relative_import(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/a.py": "from pkg.low.b import X\n",
            "low/b.py": "X = 1\ndef f():\n    from .a import Y\n",
        },
    )
    loops = cycles(import_edges(src, "pkg"))
    assert [[(e.source, e.target) for e in loop] for loop in loops] == [
        [("pkg.low.a", "pkg.low.b"), ("pkg.low.b", "pkg.low.a")]
    ]
    assert "src/pkg/low/b.py:3" in _loop_words(loops[0])


def test_walker_finds_an_upward_import_and_ignores_a_typing_only_cycle(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high import c\n",
            "high/__init__.py": "",
            "high/c.py": "from pkg.low import a\nfrom ..low.a import thing\n",
        },
    )
    edges = import_edges(src, "pkg")
    assert cycles(edges) == []
    wrong = upward(edges, "pkg", TOY_LAYERS)
    assert len(wrong) == 1 and wrong[0].startswith("pkg.low.a -> pkg.high.c at ") and "TYPE_CHECKING" in wrong[0]


def test_walker_treats_one_layers_packages_as_independent(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {"__init__.py": "", "low/__init__.py": "", "side/__init__.py": "", "side/s.py": "import pkg.low\n"},
    )
    edges = import_edges(src, "pkg")
    assert upward(edges, "pkg", (frozenset({"low", "side"}),)) == [
        "pkg.side.s -> pkg.low at src/pkg/side/s.py:1: side (layer 0) may not import low (layer 0)"
    ]
