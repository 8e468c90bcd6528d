"""The spine's modules import in layers: no import circle, counting imports inside functions too (issue 27 item 5).

A lazy import hides a circle from Python, not from the reader: the schema (claims) must not import the decision
rules, the registry must not import the executor or runner, the fetcher must not import the corpora and models that
use it. Study packages and metrics are not part of the spine and are skipped; ``if TYPE_CHECKING:`` imports are
annotations only. ``from package import module`` depends on the module, not on the package's ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def spine_modules(src: Path = SRC) -> dict[str, Path]:
    out = {}
    for path in (src / "geomclaims").rglob("*.py"):
        if {"studies", "metrics"} & set(path.relative_to(src).parts):
            continue
        parts = list(path.relative_to(src).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


class _Imports(ast.NodeVisitor):
    def __init__(self, modules: dict[str, Path]) -> None:
        self.modules, self.deps = modules, set[str]()

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.deps.update(a.name for a in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for a in node.names:
            sub = f"{node.module}.{a.name}"
            self.deps.add(sub if sub in self.modules else str(node.module))


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        visitor = _Imports(modules)
        visitor.visit(ast.parse(path.read_text()))
        graph[name] = {d for d in visitor.deps if d in modules and d != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_in_the_spine():
    assert circles(import_graph(spine_modules())) == []


def test_the_checker_finds_a_lazy_circle(tmp_path: Path):
    pkg = tmp_path / "geomclaims"
    pkg.mkdir()
    (pkg / "a.py").write_text("import geomclaims.b\n")
    (pkg / "b.py").write_text("def f():\n    from geomclaims.a import x\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from geomclaims.a import x\n"
    )
    assert circles(import_graph(spine_modules(tmp_path))) == [["geomclaims.a", "geomclaims.b"]]
