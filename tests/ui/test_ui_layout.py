"""The ui wing's place in the import graph: only the CLI imports it; it only reads."""

from __future__ import annotations

from tests.test_layout import Rule, _under, broken_rules, import_graph

READS_ONLY = Rule(
    "the ui wing imports only the read side (engine.history, engine.readback), errors and pids",
    "shardrun.ui",
    only=(
        "shardrun.ui",
        "shardrun.engine.history",
        "shardrun.engine.readback",
        "shardrun.errors",
        "shardrun.pids",
    ),
)


def test_only_the_cli_imports_the_ui_wing() -> None:
    graph = import_graph()
    assert "shardrun.ui.tables" in graph["shardrun.cli"]
    assert [
        f"{module} imports {imported}"
        for module, imports in sorted(graph.items())
        for imported in sorted(imports)
        if _under(imported, "shardrun.ui")
        and module != "shardrun.cli"
        and not _under(module, "shardrun.ui")
    ] == []


def test_the_ui_wing_only_reads() -> None:
    graph = import_graph()
    assert broken_rules(graph, [READS_ONLY]) == []
    bad = {**graph, "shardrun.ui.app": frozenset({"shardrun.engine.runs"})}
    assert broken_rules(bad, [READS_ONLY]) == [
        "shardrun.ui.app imports shardrun.engine.runs: " + READS_ONLY.text
    ]
