"""The layering of the package, read from its source with `ast`: one compute engine, adapters behind a contract.

- duckdb is imported only by clavadb/workspace.py (the engine of the core) and the adapters;
- no module outside clavadb/adapters imports a concrete adapter module, only the package (open_adapter,
  engine_of), so an engine can be added without touching the core.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "clavadb"
ENGINE = {"workspace.py"}  # paths relative to PACKAGE that may import duckdb, besides the adapters
ADAPTERS = "adapters/"
# Folders still to be moved onto the workspace by their own change; each entry is removed when it is,
# and test_pending_list_is_current fails once an entry no longer imports duckdb.
PENDING: tuple[str, ...] = ()


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        out.append((rel, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))
    assert len(out) > 20, "the package source was not found"
    return out


def _imports(tree: ast.Module, rel: str) -> set[str]:
    """Absolute names of every module imported anywhere in the file (top level or inside functions)."""
    package = ["clavadb", *rel.split("/")[:-1]]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.add(mod)
            names.update(f"{mod}.{a.name}" for a in node.names)
    return names


def _imports_duckdb(names: set[str]) -> bool:
    return any(n == "duckdb" or n.startswith("duckdb.") for n in names)


def test_duckdb_only_in_the_workspace_and_adapters():
    offenders = [rel for rel, tree in _modules()
                 if rel not in ENGINE and not rel.startswith((ADAPTERS, *PENDING))
                 and _imports_duckdb(_imports(tree, rel))]
    assert not offenders, f"import duckdb only in clavadb/workspace.py or an adapter; found in {offenders}"


@pytest.mark.parametrize("folder", PENDING)
def test_pending_list_is_current(folder):
    assert any(_imports_duckdb(_imports(tree, rel)) for rel, tree in _modules() if rel.startswith(folder)), \
        f"clavadb/{folder} no longer imports duckdb: remove it from PENDING"


def test_core_imports_no_concrete_adapter():
    offenders = {rel: sorted(n for n in _imports(tree, rel) if n.startswith("clavadb.adapters.")
                             and n.split(".")[2] not in ("open_adapter", "engine_of", "Adapter", "WriteReport"))
                 for rel, tree in _modules() if not rel.startswith(ADAPTERS)}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"the core may use only the clavadb.adapters package, not its modules: {offenders}"


def test_the_checks_see_imports():
    """The walker finds absolute, relative and function-level imports (else the tests above prove nothing)."""
    tree = ast.parse("import duckdb\nfrom .duck_types import map_column\ndef f():\n    from duckdb import Error\n")
    names = _imports(tree, "adapters/duckdb.py")
    assert {"duckdb", "clavadb.adapters.duck_types", "clavadb.adapters.duck_types.map_column",
            "duckdb.Error"} <= names
