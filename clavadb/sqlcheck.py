"""SQL fragments a schema carries (CHECK, DEFAULT, generated column, partial-index predicate, domain, type
names, index definitions) are data: each is parsed with a real SQL parser and accepted only in the one
shape it may have, so a model file cannot smuggle a statement into the destination.

- an expression: exactly one expression (no statement separator, no subquery, no function that reads
  files, runs SQL text, changes settings or sequences, or signals other sessions);
- a type name: exactly one type;
- an index definition: exactly one `CREATE [UNIQUE] INDEX` on the table it belongs to, whose
  expressions and predicate are expressions as above.

PostgreSQL fragments are parsed by PostgreSQL's own parser (pglast, libpg_query); DuckDB fragments by
sqlglot's DuckDB dialect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from clavadb.schema import DEFAULT_SCHEMAS, Schema, Table

# Functions no CHECK, DEFAULT or index expression needs, and that do more than compute a value: read
# server files or data of other tables, execute SQL text, change settings or sequences, signal backends.
_DENIED = {
    "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
    "table_to_xml", "table_to_xmlschema", "table_to_xml_and_xmlschema", "schema_to_xml", "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema", "database_to_xml", "database_to_xmlschema", "database_to_xml_and_xmlschema",
    "set_config", "setval", "currval", "lastval", "dblink", "dblink_exec", "dblink_connect", "dblink_send_query",
    "current_setting", "txid_current", "query", "query_table", "getenv", "read_text", "read_blob", "glob",
    "read_csv", "read_csv_auto", "read_parquet", "read_json", "read_json_auto", "read_ndjson", "sniff_csv",
    "parquet_scan", "parquet_metadata", "parquet_schema", "system", "copy",
}
# families of such functions: PostgreSQL's server administration and large objects, DuckDB's catalog
_DENIED_PREFIXES = ("pg_", "lo_", "dblink", "duckdb_", "read_")
_FK_ACTIONS = {"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def _denied(name: str) -> bool:
    n = name.lower()
    return n in _DENIED or n.startswith(_DENIED_PREFIXES)


# -- PostgreSQL (pglast) ---------------------------------------------------------------------------

def _pg_nodes(node) -> Iterator:
    from pglast import ast

    if isinstance(node, ast.Node):
        yield node
        for name in type(node).__slots__:
            yield from _pg_nodes(getattr(node, name, None))
    elif isinstance(node, list | tuple):
        for x in node:
            yield from _pg_nodes(x)


def _pg_expr_problem(node) -> str | None:
    from pglast import ast

    for n in _pg_nodes(node):
        if isinstance(n, ast.SubLink | ast.SelectStmt | ast.RangeSubselect):
            return "a subquery"
        if isinstance(n, ast.FuncCall):
            name = n.funcname[-1].sval
            if _denied(name):
                return f"the function {name}()"
    return None


def _pg_parse(sql: str):
    import pglast

    try:
        return pglast.parse_sql(sql)
    except pglast.parser.ParseError as e:
        raise ValueError(f"not valid SQL ({e})") from None


def pg_expression(expr: str) -> str | None:
    """None when `expr` is exactly one safe PostgreSQL expression, else what is wrong."""
    from pglast import ast

    try:
        stmts = _pg_parse(f"SELECT ({expr})")
    except ValueError as e:
        return str(e)
    if len(stmts) != 1 or not isinstance(stmts[0].stmt, ast.SelectStmt):
        return "more than one statement"
    sel = stmts[0].stmt
    if (sel.fromClause or sel.whereClause or sel.withClause or sel.op != 0 or not sel.targetList
            or len(sel.targetList) != 1 or sel.valuesLists):
        return "not a single expression"
    found = _pg_expr_problem(sel.targetList[0].val)
    return f"it calls {found}" if found and found.startswith("the") else (f"it holds {found}" if found else None)


def pg_type(name: str) -> str | None:
    """None when `name` is exactly one PostgreSQL type name."""
    from pglast import ast

    try:
        stmts = _pg_parse(f"CREATE TABLE clavadb_probe (c {name})")
    except ValueError as e:
        return str(e)
    if len(stmts) != 1 or not isinstance(stmts[0].stmt, ast.CreateStmt):
        return "more than one statement"
    elts = stmts[0].stmt.tableElts or ()
    if len(elts) != 1 or not isinstance(elts[0], ast.ColumnDef) or elts[0].constraints or elts[0].raw_default:
        return "not a single type name"
    return None


def pg_index(definition: str, table: Table, target_schema: str) -> str | None:
    """None when `definition` is one CREATE INDEX on `table` (in `target_schema`) with safe expressions."""
    from pglast import ast

    try:
        stmts = _pg_parse(definition)
    except ValueError as e:
        return str(e)
    if len(stmts) != 1 or not isinstance(stmts[0].stmt, ast.IndexStmt):
        return "not a single CREATE INDEX statement"
    ix = stmts[0].stmt
    rel = ix.relation
    if rel.relname != table.name or (rel.schemaname or "public") not in (target_schema, table.schema):
        return f"it indexes {rel.schemaname or 'public'}.{rel.relname}, not {table.key}"
    if ix.concurrent or ix.tableSpace or ix.options:
        return "it sets CONCURRENTLY, a tablespace or storage options"
    for part in (ix.indexParams, ix.indexIncludingParams, ix.whereClause):
        found = _pg_expr_problem(part)
        if found:
            return f"it holds {found}"
    return None


# -- DuckDB (sqlglot) ------------------------------------------------------------------------------

def duck_expression(expr: str) -> str | None:
    """None when `expr` is exactly one safe DuckDB expression, else what is wrong."""
    import sqlglot
    from sqlglot import exp

    try:
        stmts = [s for s in sqlglot.parse(f"SELECT ({expr})", read="duckdb") if s is not None]
    except sqlglot.errors.SqlglotError as e:
        return f"not valid SQL ({str(e).splitlines()[0]})"
    if len(stmts) != 1 or not isinstance(stmts[0], exp.Select):
        return "more than one statement"
    sel = stmts[0]
    if len(sel.expressions) != 1 or any(sel.args.get(k) for k in ("from", "where", "with", "joins")):
        return "not a single expression"
    return _duck_walk_problem(sel.expressions[0])


def _duck_walk_problem(node) -> str | None:
    from sqlglot import exp

    for n in node.walk():
        if isinstance(n, exp.Select | exp.Subquery | exp.Command):
            return "it holds a subquery"
        if isinstance(n, exp.Func):
            name = n.name if isinstance(n, exp.Anonymous) else n.sql_name()
            if _denied(name or ""):
                return f"it calls the function {name}()"
    return None


def duck_index(definition: str, table: Table) -> str | None:
    """None when `definition` is one DuckDB CREATE INDEX on `table` with safe expressions."""
    import sqlglot
    from sqlglot import exp

    try:
        stmts = [s for s in sqlglot.parse(definition, read="duckdb") if s is not None]
    except sqlglot.errors.SqlglotError as e:
        return f"not valid SQL ({str(e).splitlines()[0]})"
    if len(stmts) != 1 or not isinstance(stmts[0], exp.Create) or stmts[0].args.get("kind") != "INDEX":
        return "not a single CREATE INDEX statement"
    ix = stmts[0].this
    target = ix.args.get("table") if isinstance(ix, exp.Index) else None
    if target is None or target.name != table.name or (target.db or table.schema) != table.schema:
        return f"it indexes another table than {table.key}"
    return _duck_walk_problem(ix)


def duck_type(name: str) -> str | None:
    import sqlglot
    from sqlglot import exp

    try:
        exp.DataType.build(name, dialect="duckdb", udt=True)
    except (sqlglot.errors.SqlglotError, ValueError) as e:
        return f"not a single type name ({str(e).splitlines()[0]})"
    return None


# -- a whole schema --------------------------------------------------------------------------------

def schema_problems(schema: Schema) -> list[str]:
    """Every SQL fragment of `schema` that is not of its one accepted shape, as 'where: what' lines."""
    pg = schema.engine == "postgresql"
    expression = pg_expression if pg else duck_expression
    typename = pg_type if pg else duck_type
    out: list[str] = []

    def check(where: str, text: str | None, fn) -> None:
        if text is None:
            return
        if not isinstance(text, str) or not text.strip():
            out.append(f"{where}: empty or not text")
            return
        problem = fn(text)
        if problem:
            out.append(f"{where}: {problem}: {text[:80]!r}")

    for key, t in schema.tables.items():
        for c in t.columns:
            where = f"column {key}.{c.name}"
            check(f"{where} type", c.type, typename)
            check(f"{where} element type", c.element_type, typename)
            check(f"{where} DEFAULT", c.default, expression)
            check(f"{where} generated expression", c.generated, expression)
        for chk in t.checks:
            check(f"CHECK {chk.name} of {key}", chk.expression, expression)
        for u in t.uniques:
            check(f"unique index {u.name} of {key} predicate", u.predicate, expression)
        for fk in t.foreign_keys:
            for action in (fk.on_delete, fk.on_update):
                if not isinstance(action, str) or action.upper() not in _FK_ACTIONS:
                    out.append(f"foreign key {fk.name} of {key}: action {str(action)[:40]!r} is not one of "
                               f"{', '.join(sorted(_FK_ACTIONS))}")
        for ix in t.indexes:
            if ix.method is not None and not (isinstance(ix.method, str) and _IDENT.match(ix.method)):
                out.append(f"index {ix.name} of {key}: method {str(ix.method)[:40]!r} is not a name")
            if ix.definition is not None:
                # PostgreSQL writes a table of DuckDB's default schema into its own (pg_write.target_schema)
                check(f"index {ix.name} of {key}", ix.definition,
                      (lambda d, t=t: pg_index(d, t, "public" if t.schema in DEFAULT_SCHEMAS else t.schema)) if pg
                      else (lambda d, t=t: duck_index(d, t)))
    for key, d in schema.domains.items():
        check(f"domain {key} base type", d.base_type, typename)
        check(f"domain {key} DEFAULT", d.default, expression)
        for chk in d.checks:
            # a domain CHECK names its value VALUE, a column in the probe
            check(f"domain {key} CHECK {chk.name}", chk.expression, expression)
    return out
