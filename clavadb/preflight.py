"""Checks that run before any long work: a failure the user can fix is found in seconds, not after the fit.

The source: its DSN, that it is reachable, has the tables, and that each can be read. The destination: its
DSN, that it is reachable and writable, holds none of the tables (or `--replace`, with nothing else
depending on them unless `--replace-cascade`), and is not the source. Output files: their directory exists
and is writable. Nothing is written by any check (a PostgreSQL probe table is rolled back; a new DuckDB
file is only created by the write itself).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from clavadb import dsn as dsns
from clavadb.errors import DestinationUnwritable, SameDatabase, SourceUnreadable
from clavadb.schema import Schema

_NO_PRIVILEGE = "42501"  # SQLSTATE insufficient_privilege


@dataclass
class SourceCheck:
    schema: Schema  # the tables a run will read (after --tables / --exclude / the config)
    identity: tuple | None  # what the source database is (Adapter.identity)


def source(src: str, opts) -> SourceCheck:
    """Open the source read-only, read its catalog, apply the selection and the config, check each table
    can be read. Raises BadDSN, ConnectionFailed, SourceUnreadable, ConfigError."""
    from clavadb.adapters import open_adapter
    from clavadb.config import add_config_foreign_keys, check_against_schema
    from clavadb.pipeline import select_tables

    dsns.parse(src)
    with open_adapter(src, read_only=True) as a:
        try:
            full = a.introspect(opts.schemas)
        except Exception as e:
            if getattr(e, "sqlstate", None) == _NO_PRIVILEGE:  # PostgreSQL counts the rows of each table
                raise SourceUnreadable(f"cannot read the source {dsns.redact(src)}: {str(e).splitlines()[0]}",
                                       "GRANT SELECT on its tables to this user, or leave them out "
                                       "with --exclude") from None
            raise
        if not full.tables:
            raise SourceUnreadable(f"the source {dsns.redact(src)} has no tables in schema(s) "
                                   f"{', '.join(opts.schemas or ['default'])}",
                                   "pass --schema NAME to choose the schema that holds them")
        add_config_foreign_keys(opts.config, full)
        check_against_schema(opts.config, full)
        schema, _ = select_tables(full, opts.tables, opts.exclude, opts.config)
        a.check_readable(schema)
        return SourceCheck(schema, a.identity())


def destination(dst: str, schema: Schema, *, replace: bool, cascade: bool, src: str | None = None,
                src_identity: tuple | None = None, src_fingerprints: list[str] | None = None) -> None:
    """Everything that would stop the write, checked now. Raises BadDSN, ConnectionFailed, SameDatabase,
    DestinationUnwritable, DestinationNotEmpty, DependentObjects."""
    from clavadb.adapters import open_adapter

    d = dsns.parse(dst)
    if src is not None and dsns.same_database(dsns.parse(src), d):
        raise_same(src, dst)
    with open_adapter(dst, read_only=False) as out:
        refuse_source(out, src, dst, src_identity, src_fingerprints)
        out.check_write(schema, replace=replace, cascade=cascade)


def raise_same(src: str | None, dst: str) -> None:
    where = f"{dsns.redact(src)} and {dsns.redact(dst)} are" if src else f"{dsns.redact(dst)} is"
    raise SameDatabase(f"{where} the same database: writing would overwrite the real data",
                       "write the copy into another database or file")


def fingerprint(identity: tuple | None) -> str | None:
    """A one-way digest of a database identity, kept in a model file so that `sample` can refuse to write
    into the database the model was trained on without the file naming that database."""
    if identity is None:
        return None
    return hashlib.sha256(repr(tuple(str(x) for x in identity)).encode()).hexdigest()


def fingerprints(dsn: str, identity: tuple | None) -> list[str]:
    """Digests of a database's live identity and of its DSN's static key (which survives a server restart)."""
    return [f for f in (fingerprint(identity), fingerprint(dsns.static_key(dsns.parse(dsn)))) if f]


def refuse_source(out, src: str | None, dst: str, src_identity: tuple | None,
                  src_fingerprints: list[str] | None = None) -> None:
    """Raise SameDatabase when the opened destination `out` is the source: by its live identity, or by a
    digest a model file keeps of the database it was trained on."""
    ident = out.identity()
    if ident is not None and src_identity is not None and ident == src_identity:
        raise_same(src, dst)
    if src_fingerprints and set(fingerprints(dst, ident)) & set(src_fingerprints):
        raise_same(src, dst)


def output_file(path: str, what: str) -> None:
    """A file the run will write (model, HTML, JSON): its directory exists and is writable, and the path
    is not a directory or a read-only file."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise DestinationUnwritable(f"the {what} path {path} is a directory", "give a file name")
    parent = p.resolve().parent
    if not parent.is_dir():
        raise DestinationUnwritable(f"the directory {parent} for the {what} does not exist", "create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DestinationUnwritable(f"no permission to write the {what} in {parent}",
                                    "choose a directory you can write to")
    if p.exists() and not os.access(p, os.W_OK):
        raise DestinationUnwritable(f"the {what} {path} exists and is not writable", "check its permissions")
