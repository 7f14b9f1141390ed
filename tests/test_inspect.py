"""clavadb.inspect renders real introspected schemas (DuckDB) as text, json, dot and mermaid."""

from __future__ import annotations

import re

import duckdb
import pytest

from clavadb.adapters import open_adapter
from clavadb.inspect import render
from clavadb.schema import Column, ForeignKey, Schema, Table

ODD_DDL = """
CREATE TABLE "user" (id INTEGER PRIMARY KEY, "e-mail" VARCHAR UNIQUE, boss INTEGER REFERENCES "user" (id));
CREATE TABLE "order {items}|x" (
    "a""b" INTEGER PRIMARY KEY,
    "user id" INTEGER NOT NULL REFERENCES "user" (id),
    "<price>" DECIMAL(10,2) CHECK ("<price>" >= 0)
);
INSERT INTO "user" VALUES (1, 'a@x.org', NULL);
INSERT INTO "user" VALUES (2, 'b@x.org', 1);
INSERT INTO "order {items}|x" VALUES (1, 2, 9.5);
"""


@pytest.fixture
def odd(tmp_path) -> Schema:
    path = str(tmp_path / "odd.duckdb")
    con = duckdb.connect(path)
    con.execute(ODD_DDL)
    con.close()
    with open_adapter(path) as a:
        return a.introspect()


@pytest.fixture(scope="module")
def movielens(duckdb_movielens) -> Schema:
    with open_adapter(duckdb_movielens) as a:
        return a.introspect()


def _cycle_schema() -> Schema:
    dept = Table("dept", columns=[Column("dept_id", "integer", "int", nullable=False), Column("head", "integer", "int")],
                 primary_key=["dept_id"], foreign_keys=[ForeignKey("dept_head_fk", ["head"], "emp", ["emp_id"])])
    emp = Table("emp", columns=[Column("emp_id", "integer", "int", nullable=False),
                                Column("dept_id", "integer", "int", nullable=False)],
                primary_key=["emp_id"], foreign_keys=[ForeignKey("emp_dept_fk", ["dept_id"], "dept", ["dept_id"])])
    return Schema(engine="postgresql", tables={"dept": dept, "emp": emp})


def test_text_movielens(movielens):
    text = render(movielens, "text")
    for key, t in movielens.tables.items():
        assert f"{key}  ({t.row_count:,} rows)" in text
    tree = text.split("foreign-key graph")[1]
    # each child appears in the tree under its parents, with the FK column
    for child, fk in movielens.foreign_keys():
        assert f"{child}  [{fk.columns[0]}]" in tree
    assert "self-reference" not in text and "cycle" not in text


def test_text_self_reference_and_cycle(odd):
    text = render(odd, "text")
    assert "self-reference: user.boss -> user(id)" in text
    assert 'UNIQUE (e-mail)' in text and 'CHECK ("<price>" >= 0)' in text
    assert "order {items}|x  (1 rows)" in text
    cyc = render(_cycle_schema(), "text")
    assert "cycle: dept <-> emp" in cyc and "broken at" in cyc


def test_json_round_trip(odd):
    assert Schema.from_json(render(odd, "json")) == odd


def _unquote(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def test_dot_structure(odd, movielens):
    for schema in (odd, movielens):
        dot = render(schema, "dot")
        assert dot.startswith("digraph schema {") and dot.rstrip().endswith("}")
        quoted = r'"((?:[^"\\]|\\.)*)"'
        nodes = re.findall(rf"^  {quoted} \[label={quoted}\];$", dot, re.M)
        assert [_unquote(n) for n, _ in nodes] == list(schema.tables)
        for _, label in nodes:
            # record labels: one {title|fields} group, braces and bars inside names escaped
            unescaped = re.sub(r"\\.", "", label)
            assert unescaped.count("{") == unescaped.count("}") == 1 and unescaped.count("|") == 1
        edges = re.findall(rf"^  {quoted} -> {quoted} \[label={quoted}\];$", dot, re.M)
        expected = [(c, fk.ref_table, f"{', '.join(fk.columns)} -> {', '.join(fk.ref_columns)}")
                    for c, fk in schema.foreign_keys()]
        assert [tuple(_unquote(x) for x in e) for e in edges] == expected
        assert len(dot.splitlines()) == 5 + len(schema.tables) + len(expected)


def test_mermaid_every_fk(odd, movielens):
    for schema in (odd, movielens):
        mer = render(schema, "mermaid")
        assert mer.startswith("erDiagram\n")
        ents = re.findall(r'^  (\w+)(?:\["([^"]*)"\])? \{$', mer, re.M)
        names = {(alias or ident): ident for ident, alias in ents}
        assert set(names) == set(schema.tables)
        rels = re.findall(r'^  (\w+) (\|\||\|o)--o\{ (\w+) : "([^"]*)"$', mer, re.M)
        expected = sorted((names[fk.ref_table], names[c], ", ".join(fk.columns)) for c, fk in schema.foreign_keys())
        assert sorted((p, c, label) for p, _, c, label in rels) == expected
        # attribute lines are Mermaid words: type name [PK|FK] ["original name"]
        for line in mer.splitlines():
            if line.startswith("    "):
                assert re.fullmatch(r'    [A-Za-z_][\w()\[\]-]* [A-Za-z_][\w()\[\]-]*( PK, FK| PK| FK)?( "[^"]*")?', line)
    assert '"order {items}|x"' in render(odd, "mermaid")


def test_unknown_format(odd):
    with pytest.raises(ValueError, match="unknown format"):
        render(odd, "svg")
