"""A DuckDB regular-expression CHECK arrives in PostgreSQL as the ~ operator and still holds there."""

import duckdb
import psycopg
import pytest

from clavadb.adapters import open_adapter


def test_duckdb_regex_check_is_declared_in_postgres(tmp_path, new_pg):
    src = str(tmp_path / "src.duckdb")
    con = duckdb.connect(src)
    con.execute("CREATE TABLE code (id INTEGER PRIMARY KEY, c VARCHAR CHECK (regexp_full_match(c, '[A-Z]{3}')))")
    con.execute("INSERT INTO code VALUES (1, 'ABC'), (2, 'XYZ')")
    con.close()
    dst = new_pg()
    with open_adapter(src) as a:
        schema = a.introspect()
        data = {k: a.read_table(t) for k, t in schema.tables.items()}
    with open_adapter(dst, read_only=False) as b:
        report = b.write(schema, data)
    assert report.tables == {"code": 2}
    assert not [s for s in report.type_substitutions if "CHECK" in s]
    with psycopg.connect(dst) as pg, pytest.raises(psycopg.errors.CheckViolation):
        pg.execute("INSERT INTO code VALUES (3, 'abcd')")
