"""The layout's one rule: imports between the project's packages run one way, down this list,
and never up (so there are no cycles). Lazy imports inside functions are left out: the CLI
loads `evaluation` only when `eval` is run."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
# Each package may import those of a lower rank, and itself; peers may not import each other.
RANK = {
    "core": 0,
    "ingest": 1,
    "assistant.ask": 1,
    "assistant": 2,
    "assistant.frontends": 3,
    "evaluation": 3,
    "training": 3,
}

PACKAGES = ("core", "ingest", "assistant", "evaluation", "training")


def package_of(module: str) -> str | None:
    """The project package a dotted module name belongs to (the deepest one listed)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANK:
            return ".".join(parts[:n])
    return None


def module_imports(path: Path) -> set[str]:
    """The modules `path` imports at module level (TYPE_CHECKING blocks included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        blocks = node.body if isinstance(node, ast.If) else [node]
        for stmt in blocks:
            if isinstance(stmt, ast.Import):
                found |= {alias.name for alias in stmt.names}
            elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
                found.add(stmt.module)
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in RANK}
    for path in (p for package in PACKAGES for p in (ROOT / package).glob("**/*.py")):
        relative = path.relative_to(ROOT)
        module = ".".join(relative.with_suffix("").parts)
        source = package_of(module)
        assert source is not None
        for imported in module_imports(path):
            target = package_of(imported)
            if target is not None and target != source:
                graph[source].add(target)
    return graph


def test_packages_import_only_packages_below_them() -> None:
    upward = [
        f"{source} imports {target}"
        for source, targets in package_graph().items()
        for target in targets
        if RANK[target] >= RANK[source]
    ]
    assert upward == []


def test_evaluation_uses_only_the_public_api() -> None:
    for path in (ROOT / "evaluation").glob("*.py"):
        project = {m for m in module_imports(path) if package_of(m) not in (None, "evaluation")}
        assert project <= {"assistant"}, f"{path.name} imports {sorted(project)}"


def test_chroma_where_clauses_live_only_in_the_chroma_store() -> None:
    for package in PACKAGES:
        for path in (ROOT / package).glob("**/*.py"):
            if path.name != "chroma.py":
                text = path.read_text(encoding="utf-8")
                assert '"$and"' not in text and '"$gte"' not in text, path
