"""Render a Schema for people and tools: text (tables, keys, the FK graph as a tree), json, Graphviz dot,
and a Mermaid erDiagram. Pure functions of the Schema; no database access.

Names are quoted for each target: DOT ids as "..." with escapes, record-label fields with their syntax
characters escaped; Mermaid entity ids reduced to [A-Za-z0-9_] with the real name as an alias
(`id["real name"]`, Mermaid 10.5+), attribute names and types made Mermaid words, the original in a comment."""

from __future__ import annotations

import re

from clavadb.schema import FKGraph, ForeignKey, Schema, Table

FORMATS = ("text", "json", "dot", "mermaid")


def render(schema: Schema, fmt: str = "text") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if fmt == "json":
        return schema.to_json()
    return {"text": _text, "dot": _dot, "mermaid": _mermaid}[fmt](schema)


def _fk_text(fk: ForeignKey) -> str:
    return f"({', '.join(fk.columns)}) -> {fk.ref_table}({', '.join(fk.ref_columns)})"


# -- text ------------------------------------------------------------------------------------------
def _table_text(t: Table) -> list[str]:
    fk_cols = t.fk_columns()
    lines = [f"{t.key}  ({t.row_count:,} rows)"]
    width = max((len(c.name) for c in t.columns), default=0)
    twidth = max((len(c.type) for c in t.columns), default=0)
    for c in t.columns:
        marks = [m for m, on in (("PK", c.name in t.primary_key), ("FK", c.name in fk_cols)) if on]
        flags = "NOT NULL" if not c.nullable else ""
        extra = f" DEFAULT {c.default}" if c.default else ""
        lines.append(f"  {c.name:<{width}}  {c.type:<{twidth}}  {flags:<8}  {' '.join(marks)}{extra}".rstrip())
    if len(t.primary_key) > 1:
        lines.append(f"  PRIMARY KEY ({', '.join(t.primary_key)})")
    for u in t.uniques:
        where = f" WHERE {u.predicate}" if u.predicate else ""
        lines.append(f"  UNIQUE ({', '.join(u.columns)}){where}")
    for ch in t.checks:
        lines.append(f"  CHECK {ch.expression}")
    for fk in t.foreign_keys:
        lines.append(f"  FOREIGN KEY {_fk_text(fk)}")
    return lines


def _tree(g: FKGraph) -> list[str]:
    """The FK graph from its roots down (parent above child); a table reached twice is expanded once."""
    lines: list[str] = []
    seen: set[str] = set()

    def walk(node: str, prefix: str, via: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        again = node in seen
        lines.append(f"{prefix}{branch}{node}{via}{' (above)' if again and g.children(node) else ''}")
        if again:
            return
        seen.add(node)
        kids = g.children(node)
        inner = prefix + ("" if top else ("    " if last else "│   "))
        for i, (child, fk) in enumerate(kids):
            walk(child, inner, f"  [{', '.join(fk.columns)}]", i == len(kids) - 1, False)

    for root in g.roots():
        walk(root, "", "", True, True)
    return lines


def _text(schema: Schema) -> str:
    g = schema.graph()
    n_fk = len(schema.foreign_keys())
    out = [f"{schema.engine} database, schemas {', '.join(schema.schemas)}: {len(schema.tables)} tables, "
           f"{sum(t.row_count for t in schema.tables.values()):,} rows, {n_fk} foreign keys", ""]
    for e in schema.enums.values():
        out.append(f"enum {e.name}: {', '.join(e.values)}")
    for d in schema.domains.values():
        checks = "; ".join(c.expression for c in d.checks)
        out.append(f"domain {d.name}: {d.base_type}{' NOT NULL' if d.not_null else ''}{' CHECK ' + checks if checks else ''}")
    if schema.enums or schema.domains:
        out.append("")
    for t in schema.tables.values():
        out += _table_text(t) + [""]
    out.append("foreign-key graph (parents above children, [FK columns]):")
    out += ["  " + line for line in _tree(g)]
    for table, fk in g.self_references():
        out.append(f"self-reference: {table}.{', '.join(fk.columns)} -> {table}({', '.join(fk.ref_columns)})")
    for cycle in g.cycles():
        out.append(f"cycle: {' <-> '.join(cycle)}")
    for parent, child, name in g.deferred:
        if parent != child:
            out.append(f"  broken at FK {child}.{name} -> {parent}: its values are set once {parent} exists")
    return "\n".join(out).rstrip() + "\n"


# -- Graphviz ----------------------------------------------------------------------------------------
def _dot_id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _record(text: str) -> str:
    """Escape a record-label field: braces, bars, angle brackets, quotes and backslashes are syntax there."""
    return re.sub(r'([{}|<>"\\])', r"\\\1", text)


def _dot(schema: Schema) -> str:
    out = ["digraph schema {", "  rankdir=LR;", '  node [shape=record, fontname="Helvetica", fontsize=10];',
           '  edge [fontname="Helvetica", fontsize=9];']
    for t in schema.tables.values():
        fk_cols = t.fk_columns()
        rows = []
        for c in t.columns:
            marks = " ".join(m for m, on in (("PK", c.name in t.primary_key), ("FK", c.name in fk_cols)) if on)
            rows.append(_record(f"{c.name} : {c.type}{' NOT NULL' if not c.nullable else ''}{' ' + marks if marks else ''}")
                        + "\\l")
        title = _record(f"{t.key} ({t.row_count:,} rows)")
        out.append(f"  {_dot_id(t.key)} [label=\"{{{title}|{''.join(rows)}}}\"];")
    for child, fk in schema.foreign_keys():
        label = _record(f"{', '.join(fk.columns)} -> {', '.join(fk.ref_columns)}")
        out.append(f"  {_dot_id(child)} -> {_dot_id(fk.ref_table)} [label=\"{label}\"];")
    out.append("}")
    return "\n".join(out) + "\n"


# -- Mermaid -----------------------------------------------------------------------------------------
_WORD = re.compile(r"[^A-Za-z0-9_]")


def _mermaid_ids(schema: Schema) -> dict[str, str]:
    """Entity ids Mermaid accepts (letters, digits, _), unique; the real name is shown as the alias."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for key in schema.tables:
        base = _WORD.sub("_", key)
        base = base if base and not base[0].isdigit() else f"t_{base}"
        cand, i = base, 2
        while cand in used:
            cand, i = f"{base}_{i}", i + 1
        used.add(cand)
        ids[key] = cand
    return ids


def _mermaid_word(text: str) -> str:
    """An attribute type or name as a Mermaid word: [A-Za-z_][A-Za-z0-9_()[]-]*."""
    w = re.sub(r"[^A-Za-z0-9_()\[\]-]", "_", text.replace(",", "-"))
    return w if w and (w[0].isalpha() or w[0] == "_") else f"_{w}"


def _mermaid_str(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def _mermaid(schema: Schema) -> str:
    ids = _mermaid_ids(schema)
    out = ["erDiagram"]
    for key, t in schema.tables.items():
        fk_cols = t.fk_columns()
        alias = f"[{_mermaid_str(key)}]" if ids[key] != key else ""
        out.append(f"  {ids[key]}{alias} {{")
        for c in t.columns:
            keys = ", ".join(m for m, on in (("PK", c.name in t.primary_key), ("FK", c.name in fk_cols)) if on)
            name = _mermaid_word(c.name)
            comment = f" {_mermaid_str(c.name)}" if name != c.name else ""
            out.append(f"    {_mermaid_word(c.type)} {name}{' ' + keys if keys else ''}{comment}")
        out.append("  }")
    for child, fk in schema.foreign_keys():
        if fk.ref_table not in ids:
            continue
        optional = any(c.nullable for c in schema.tables[child].columns if c.name in fk.columns)
        left = "|o" if optional else "||"
        out.append(f"  {ids[fk.ref_table]} {left}--o{{ {ids[child]} : {_mermaid_str(', '.join(fk.columns))}")
    return "\n".join(out) + "\n"
