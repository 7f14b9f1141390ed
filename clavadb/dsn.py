"""DSNs: the one definition of how clavadb reads a database address, shows it, and compares two.

`parse()` turns a string into a `DSN` (engine, SQLAlchemy URL for a server, file path for a file engine);
`redact()` gives the text to print (the password masked, whatever the input); `scrub()` masks known
passwords in any text (a driver's error message); `same_database()` says whether two DSNs name one database.

Accepted forms: `postgresql://user:pass@host:port/db` (also `postgres://`, `postgresql+psycopg://`; the
scheme in any case), `duckdb:///abs/path.duckdb`, `duckdb://rel/path.duckdb`, `:memory:`, and a bare path
ending in .duckdb/.db/.ddb. A string with another `scheme://` is an unknown scheme, never a file name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from clavadb.errors import BadDSN

# drivername (lower case) -> engine. Other adapters add their schemes here.
SCHEMES: dict[str, str] = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
    "postgresql+psycopg2": "postgresql",
    "duckdb": "duckdb",
    # engines clavadb reaches through SQLAlchemy (clavadb.adapters.sqla); the driver may be named too
    **{name: "sqlalchemy" for name in ("sqlite", "sqlite+pysqlite", "mysql", "mysql+pymysql", "mysql+mysqldb",
                                       "mariadb", "mariadb+pymysql")},
}
# engines whose database is a local file (its path decides identity)
FILE_ENGINES: set[str] = {"duckdb"}
# bare paths with these endings are DuckDB files (a .db file that already is SQLite excepted)
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite_file(path: str) -> bool:
    """Whether `path` is an existing SQLite database file (by its 16-byte header)."""
    try:
        with open(path, "rb") as f:
            return f.read(16) == _SQLITE_MAGIC
    except OSError:
        return False

MEMORY = ":memory:"
MASK = "***"
# default port per server engine, for comparing two DSNs
DEFAULT_PORTS = {"postgresql": 5432}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
FORMS = ("postgresql://user:pass@host:5432/db, duckdb:///path/file.duckdb, or a path ending in .duckdb")


@dataclass(frozen=True)
class DSN:
    """A parsed database address."""

    raw: str
    engine: str
    url: URL | None = None  # server engines: the URL, password decoded
    path: str | None = None  # file engines: the file path, or ":memory:"

    @property
    def password(self) -> str | None:
        return self.url.password if self.url is not None else None

    def redacted(self) -> str:
        """The DSN as it may be printed: the password replaced by ***."""
        if self.url is None:
            return self.raw
        return self.url.render_as_string(hide_password=True)

    def conninfo(self) -> str:
        """A libpq URI with user and password percent-encoded (an `@` in a password is unambiguous)."""
        assert self.url is not None
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def __str__(self) -> str:
        return self.redacted()


def _encode_userinfo(rest: str) -> str:
    """Percent-encode user and password when the authority holds more than one `@` (an unencoded `@` in the
    password): the last `@` before the path is the one that ends the user info, as in libpq."""
    head = re.split(r"[?#]", rest, maxsplit=1)[0]
    if head.count("@") < 2:
        return rest
    at = head.rfind("@")
    user, sep, password = rest[:at].partition(":")
    enc = quote(unquote(user), safe="")
    if sep:
        enc += ":" + quote(password, safe="")
    return enc + rest[at:]


def parse(dsn: str) -> DSN:
    """Parse a DSN; raises BadDSN (one line, password masked) for anything clavadb cannot use."""
    if not isinstance(dsn, str) or not dsn.strip():
        raise BadDSN("empty DSN", f"use {FORMS}")
    text = dsn.strip()
    m = _SCHEME.match(text)
    if m is None:
        if text == MEMORY:
            return DSN(dsn, "duckdb", path=MEMORY)
        low = text.lower()
        if low.endswith(SQLITE_SUFFIXES) or (low.endswith(".db") and is_sqlite_file(text)):
            return DSN(dsn, "sqlalchemy", path=text)
        if low.endswith(DUCKDB_SUFFIXES):
            return DSN(dsn, "duckdb", path=text)
        raise BadDSN(f"{redact(text)!r} is not a DSN", f"use {FORMS}")
    scheme = m.group(1).lower()
    engine = SCHEMES.get(scheme)
    if engine is None:
        raise BadDSN(f"unknown DSN scheme {m.group(1)!r} in {redact(text)!r}",
                     f"known: {', '.join(sorted(SCHEMES))}; use {FORMS}")
    rest = text[m.end():]
    if engine == "duckdb":  # duckdb:///abs/path and duckdb://rel/path, as DuckDB's own clients take them
        path = rest
        if path in ("", "/" + MEMORY, MEMORY):
            path = MEMORY
        return DSN(dsn, engine, path=path)
    try:
        url = make_url(f"{scheme}://{_encode_userinfo(rest)}")
    except (ArgumentError, ValueError) as exc:
        raise BadDSN(f"cannot parse the DSN {redact(text)!r}: {type(exc).__name__}", f"use {FORMS}") from None
    if url.port is not None and not 0 < url.port < 65536:
        raise BadDSN(f"port {url.port} of {redact(text)!r} is out of range", "use a port from 1 to 65535")
    if engine in FILE_ENGINES:  # a file engine with SQLAlchemy's URL rules (sqlite:///rel.db, sqlite:////abs.db)
        return DSN(dsn, engine, url=url, path=url.database or MEMORY)
    return DSN(dsn, engine, url=url)


def engine_of(dsn: str) -> str:
    return parse(dsn).engine


def redact(dsn: str) -> str:
    """The text of a DSN with its password masked; never raises (an unparseable string is masked by pattern)."""
    m = _SCHEME.match(dsn.strip()) if isinstance(dsn, str) else None
    if m is None:
        return _mask_kv(dsn)
    rest = dsn.strip()[m.end():]
    head = re.split(r"[?#]", rest, maxsplit=1)[0]
    if "@" in head:
        at = head.rfind("@")
        user, sep, _ = rest[:at].partition(":")
        rest = (user + (":" + MASK if sep else "")) + rest[at:]
    return _mask_kv(m.group(0) + rest)


def _mask_kv(text: str) -> str:
    """Mask `password=...` in a query string or a libpq key=value conninfo."""
    return re.sub(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", lambda m: m.group(1) + MASK, text)


def secrets_of(dsn: str) -> list[str]:
    """Every spelling of the password a DSN holds (as typed, decoded, encoded), longest first, for scrub()."""
    out: set[str] = set()
    try:
        d = parse(dsn)
        if d.password:
            out |= {d.password, quote(d.password, safe="")}
    except BadDSN:
        pass
    m = _SCHEME.match(dsn.strip()) if isinstance(dsn, str) else None
    if m is not None:
        rest = dsn.strip()[m.end():]
        head = re.split(r"[?#]", rest, maxsplit=1)[0]
        if "@" in head:
            _, sep, password = rest[:head.rfind("@")].partition(":")
            if sep and password:
                out |= {password, unquote(password)}
    for m2 in re.finditer(r"(?i)\bpassword\s*=\s*([^\s&']+)", dsn or ""):
        out |= {m2.group(1), unquote(m2.group(1))}
    return sorted((s for s in out if s), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every occurrence of each secret replaced by ***."""
    for s in secrets:
        text = text.replace(s, MASK)
    return text


# -- identity --------------------------------------------------------------------------------------

def _file_key(path: str) -> str:
    p = Path(path).expanduser()
    try:
        st = p.stat()
        return f"inode:{st.st_dev}:{st.st_ino}"
    except OSError:
        return "path:" + os.path.realpath(p)


def _host_key(url: URL) -> str:
    host = url.host or url.query.get("host") or ""
    host = (host[0] if isinstance(host, tuple) else host).lower()
    if host.startswith("/"):  # a Unix socket directory: the same directory is the same server
        return "socket:" + os.path.realpath(host)
    # the loopback names reach one server; a socket and TCP may too, which Adapter.identity() tells
    return "loopback" if host in ("localhost", "127.0.0.1", "::1", "[::1]") else (host or "socket:default")


def static_key(d: DSN) -> tuple | None:
    """What names the database by the DSN's text alone: the file (device and inode when it exists), or the
    server (host, port) and database. None for an in-memory database, which is never another one."""
    if d.engine in FILE_ENGINES:
        return None if d.path in (None, MEMORY) else (d.engine, _file_key(d.path))
    u = d.url
    if u is None:
        return None
    port = u.port or u.query.get("port") or DEFAULT_PORTS.get(d.engine)
    # the database defaults to the user name in libpq
    return (d.engine, _host_key(u), str(port), u.database or u.username or "")


def same_database(a: DSN, b: DSN) -> bool:
    """Whether two DSNs name the same database by their text: the same file (or its hard links, symlinks),
    or the same server (host, port) and database. The adapters compare live identities as well
    (`Adapter.identity()`), which also catches two host names of one server."""
    ka, kb = static_key(a), static_key(b)
    return ka is not None and ka == kb
