"""A password in a DSN is never printed: not by clone, train, sample, report, inspect or example, in text or
--json, in an error message (also when the password holds an unencoded `@`), a report file or a model file."""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from click.testing import CliRunner
from conftest import with_database

from clavadb.cli import main
from clavadb.dsn import parse, redact, scrub, secrets_of

PASSWORD = "p@ss:w/rd!Q7"  # an unencoded @ (and : and /), the case that half-leaked before
FRAGMENTS = [PASSWORD, quote(PASSWORD, safe=""), "ss:w/rd", "w/rd!Q7", "p@ss"]


def cli(*args) -> tuple[int, str]:
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.output


def assert_clean(text: str | bytes, what: str) -> None:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    for f in FRAGMENTS:
        assert f not in text, f"{what} shows {f!r}:\n{text[-2000:]}"


@pytest.fixture
def writer(pg_server, pg_dataset, new_pg):
    """A role with a password, reading the chinook database and owning an empty destination."""
    src = pg_dataset("chinook")
    dst = new_pg("sec")
    role = f"w_{os.urandom(4).hex()}"
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PASSWORD}'")
        con.execute(f'ALTER DATABASE "{urlsplit(dst).path.lstrip("/")}" OWNER TO "{role}"')
    with psycopg.connect(src, autocommit=True) as con:
        con.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    with psycopg.connect(dst, autocommit=True) as con:
        con.execute(f'ALTER SCHEMA public OWNER TO "{role}"')

    def as_writer(dsn: str) -> str:
        return dsn.replace("postgresql://postgres:@", f"postgresql://{role}:{PASSWORD}@", 1)

    yield as_writer(src), as_writer(dst), as_writer(with_database(pg_server, "postgres"))
    for db in (src, dst):  # its grants and objects, database by database, then the role
        with psycopg.connect(db, autocommit=True) as con:
            con.execute(f'DROP OWNED BY "{role}"')
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute(f'ALTER DATABASE "{urlsplit(dst).path.lstrip("/")}" OWNER TO postgres')
        con.execute(f'DROP ROLE "{role}"')


def test_no_output_or_file_shows_the_password(writer, tmp_path):
    src, dst, _ = writer
    small = ["--tables", "album", "--preset", "test"]
    outputs = {}
    code, outputs["clone"] = cli("clone", src, dst, *small, "--seed", 1)
    assert code == 0, outputs["clone"]
    assert "wrote 2 tables" in outputs["clone"] and ":***@" in outputs["clone"]
    code, outputs["clone again"] = cli("clone", src, dst, *small)
    assert code == 3
    code, outputs["clone --json"] = cli("clone", src, dst, *small, "--replace", "--json")
    assert code == 0, outputs["clone --json"]
    model = tmp_path / "m.clava"
    code, outputs["train"] = cli("train", src, "-o", model, *small, "--json")
    assert code == 0, outputs["train"]
    code, outputs["sample"] = cli("sample", model, dst, "--replace", "--json")
    assert code == 0, outputs["sample"]
    code, outputs["same database"] = cli("sample", model, src, "--replace")
    assert code == 9, outputs["same database"]
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    code, outputs["report"] = cli("report", src, dst, "--html", html, "--json", js)
    assert code == 0, outputs["report"]
    code, outputs["inspect"] = cli("inspect", src)
    assert code == 0, outputs["inspect"]
    unreachable = src.split("@/")[0] + "@127.0.0.1:1/db"
    code, outputs["unreachable"] = cli("clone", unreachable, tmp_path / "x.duckdb")
    assert code == 6 and "cannot reach" in outputs["unreachable"]
    code, outputs["bad scheme"] = cli("clone", src, unreachable.replace("postgresql", "oracle", 1))
    assert code == 12, outputs["bad scheme"]
    for what, text in outputs.items():
        assert_clean(text, what)
    for f in (model, html, js):
        assert_clean(f.read_bytes(), f.name)


@pytest.mark.parametrize("dsn", [
    "postgresql://writer:p@ss:w/rd!Q7@db.example:5433/app",
    "PostgreSQL://writer:p%40ss%3Aw%2Frd%21Q7@db.example/app",
    "postgresql://writer@db.example/app?password=p@ss:w/rd!Q7",
    "host=db.example user=writer password=p@ss:w/rd!Q7 dbname=app",
])
def test_redact_and_scrub_mask_every_spelling(dsn):
    shown = redact(dsn)
    assert_clean(shown, "redact")
    assert "db.example" in shown
    assert_clean(scrub(f"error: could not connect with {dsn}", secrets_of(dsn)), "scrub")


def test_unencoded_at_in_password_parses_to_the_right_host():
    d = parse("postgresql://writer:p@ss:w/rd!Q7@db.example:5433/app")
    assert (d.url.username, d.url.password, d.url.host, d.url.port, d.url.database) == \
        ("writer", PASSWORD, "db.example", 5433, "app")
    assert_clean(d.redacted(), "redacted")
    assert parse(d.conninfo()).url.password == PASSWORD
