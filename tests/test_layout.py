"""The package's layout rules: which wing may import which, and no import circles.

Every import counts: module level, inside functions, and under ``TYPE_CHECKING`` (a
function-level import that only hides a circle is still a circle). The rules are the ones
``docs/architecture.md`` writes down; change both together.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import shardrun

PACKAGE = Path(shardrun.__file__).parent
#: The ``azureml.*`` names for entry scripts: plain re-exports, outside the layering.
SHIMS = "shardrun.worker.shims"

Graph = Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class Rule:
    """Modules under ``source`` may not import modules under any of ``forbidden``; with
    ``only`` set, they may import nothing of shardrun but modules under ``only``."""

    text: str
    source: str
    forbidden: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None

    def broken_by(self, module: str, imported: str) -> bool:
        if not _under(module, self.source):
            return False
        if any(_under(imported, f) for f in self.forbidden):
            return True
        return self.only is not None and not any(_under(imported, o) for o in self.only)


RULES = (
    Rule("engine never imports pipelines", "shardrun.engine", ("shardrun.pipelines",)),
    Rule("data never imports the engine", "shardrun.data", ("shardrun.engine",)),
    Rule("workspace never imports the engine", "shardrun.workspace", ("shardrun.engine",)),
    Rule(
        "data and workspace never import pipelines",
        "shardrun.data",
        ("shardrun.pipelines", "shardrun.ui"),
    ),
    Rule("workspace never imports data", "shardrun.workspace", ("shardrun.data",)),
    Rule(
        "backends import only messages, the worker and errors",
        "shardrun.engine.backends",
        only=(
            "shardrun.engine.backends",
            "shardrun.engine.messages",
            "shardrun.worker",
            "shardrun.errors",
        ),
    ),
    Rule(
        "the worker never imports the ledger, the scheduler or pipelines",
        "shardrun.worker",
        ("shardrun.engine.ledger", "shardrun.engine.scheduler", "shardrun.pipelines"),
    ),
    Rule(
        "config imports only config and errors",
        "shardrun.config",
        only=("shardrun.config", "shardrun.errors"),
    ),
    Rule("errors imports nothing of shardrun", "shardrun.errors", only=()),
    Rule("pids imports nothing of shardrun", "shardrun.pids", only=()),
)


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, known: set[str]) -> set[str]:
    """The shardrun modules a module imports (``from shardrun import x`` names a module
    where ``x`` is one)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("shardrun"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("shardrun"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return {m for m in found if m in known and m != "shardrun"}


def import_graph() -> dict[str, frozenset[str]]:
    """Every module of the package (shims left out) and the shardrun modules it imports."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    return {
        name: frozenset(_imports(ast.parse(path.read_text()), known) - {name})
        for name, path in files.items()
        if not _under(name, SHIMS) and name != "shardrun"
    }


def broken_rules(graph: Graph, rules: Iterable[Rule] = RULES) -> list[str]:
    """One line per import that breaks a rule."""
    return [
        f"{module} imports {imported}: {rule.text}"
        for module, imports in sorted(graph.items())
        for imported in sorted(imports)
        for rule in rules
        if rule.broken_by(module, imported)
    ]


def circles(graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_wings_import_one_way() -> None:
    assert broken_rules(import_graph()) == []


def test_no_import_circles() -> None:
    assert circles(import_graph()) == []


def test_the_graph_sees_function_level_and_type_checking_imports() -> None:
    graph = import_graph()
    # engine.backends.local imports its process supervisor; workspace.workspace
    # imports datastores; the public API's lazy table names modules as strings, not imports.
    assert "shardrun.engine.backends.processes" in graph["shardrun.engine.backends.local"]
    assert "shardrun.workspace.datastores" in graph["shardrun.workspace.workspace"]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from shardrun.engine.ledger import Ledger\n"
        "def f():\n    from shardrun.engine import scheduler\n"
    )
    known = {"shardrun.engine.ledger", "shardrun.engine.scheduler", "shardrun.engine"}
    assert _imports(tree, known) == {"shardrun.engine.ledger", "shardrun.engine.scheduler"}


@pytest.mark.parametrize(
    ("module", "imported", "rule"),
    [
        ("shardrun.engine.runs", "shardrun.pipelines.experiment", "engine never imports"),
        ("shardrun.data.tables", "shardrun.engine.messages", "data never imports"),
        ("shardrun.engine.backends.local", "shardrun.engine.ledger", "backends import only"),
        ("shardrun.worker.loop", "shardrun.engine.scheduler", "the worker never imports"),
        ("shardrun.config.jobspec", "shardrun.workspace.workspace", "config imports only"),
    ],
)
def test_each_rule_catches_a_bad_import(module: str, imported: str, rule: str) -> None:
    graph = {**import_graph(), module: frozenset({imported})}
    assert any(rule in line for line in broken_rules(graph))


def test_a_circle_is_found() -> None:
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}
    assert circles(graph) == [["a", "b", "c"]]
