"""The import graph of our source tree, read with ``ast`` (imports inside functions included), and
the checks the architecture rests on: layers import one way, and no two files import each other."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

#: Our top-level packages.
OWN = ("compmech", "transformer")
#: Layers, lowest first: a file may import files of its own layer or below. The stage packages of
#: ``compmech`` each form a layer: theory (``compmech/*.py``) <- models (``transformer``) <- probing
#: <- mechanisms <- figures <- experiments <- cli.
LAYERS = ("theory", "models", "probing", "mechanisms", "figures", "experiments", "cli")
#: The ``compmech`` subpackages that are layers of their own.
STAGES = ("probing", "mechanisms", "figures", "experiments", "cli")


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` at ``line``; ``inner`` when the import is inside a function."""

    source: str
    target: str
    line: int
    inner: bool


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(module: str) -> str:
    """The layer of one of our modules."""
    parts = module.split(".")
    if parts[0] == "transformer":
        return "models"
    if module == "compmech.__main__":
        return "cli"
    if len(parts) > 1 and parts[1] in STAGES:
        return parts[1]
    return "theory"


def _resolve(source: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = source.split(".") if is_package else source.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _inner_nodes(tree: ast.AST) -> set[int]:
    """``id`` of every import node inside a function."""
    inner = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner.update(id(n) for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom))
    return inner


def import_graph(root: Path) -> tuple[set[str], list[Edge]]:
    """Every module under ``root`` (a ``src`` folder) and every import between our modules."""
    paths = sorted(p for p in root.rglob("*.py"))
    modules = {module_name(p, root): p for p in paths}
    edges = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        inner = _inner_nodes(tree)
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] not in OWN:
                    continue
                while target not in modules and "." in target:  # import a.b.c -> the file a/b/c.py
                    target = target.rsplit(".", 1)[0]
                if target != name:
                    edges.append(Edge(name, target, node.lineno, id(node) in inner))
    return set(modules), edges


def upward_imports(edges: list[Edge]) -> list[Edge]:
    """Imports of a higher layer than the importing file's."""
    return [e for e in edges if LAYERS.index(layer(e.target)) > LAYERS.index(layer(e.source))]


def cycles(modules: set[str], edges: list[Edge]) -> list[list[str]]:
    """Groups of files that import each other, directly or through others (Tarjan's SCCs > 1)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for e in edges:
        graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def heavy_imports(root: Path, modules: set[str], heavy: tuple[str, ...]) -> list[tuple[str, str, int]]:
    """``(module, heavy package, line)`` for every import of a ``heavy`` third-party package by a
    theory-layer file (at any depth: theory must not need them at all)."""
    out = []
    for name in sorted(modules):
        if layer(name) != "theory":
            continue
        path = root.joinpath(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            out += [(name, n.split(".")[0], node.lineno) for n in names if n.split(".")[0] in heavy]
    return out
