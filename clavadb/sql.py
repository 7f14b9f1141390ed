"""SQL text helpers shared by the adapters and the core: identifier and literal quoting.

One definition, so every module renders a name the same way (PostgreSQL and DuckDB share the rules).
"""

from __future__ import annotations


def qident(name: str) -> str:
    """Quote an identifier for DuckDB / PostgreSQL ("a""b" style)."""
    return '"' + name.replace('"', '""') + '"'


def qliteral(value: str) -> str:
    """Quote a string literal ('it''s' style)."""
    return "'" + value.replace("'", "''") + "'"
