"""CHECK and DEFAULT expressions of another engine (PostgreSQL) rewritten in DuckDB's dialect.

DuckDB is the dialect of the workspace (CHECK evaluation) and of the DuckDB destination (DDL), so the
translation lives in the core and both use it.

Only the common forms PostgreSQL's catalog prints are translated: casts to PostgreSQL type names, the
regex operators (`~` is a partial match in PostgreSQL but a full match in DuckDB), jsonb. Whatever is
still not DuckDB SQL is found by binding the expression, not by guessing here.
"""

from __future__ import annotations

import re

# PostgreSQL type names in `::type` casts -> DuckDB; longest first so "timestamp with time zone" wins.
_CASTS = [
    ("timestamp with time zone", "TIMESTAMPTZ"), ("timestamp without time zone", "TIMESTAMP"),
    ("time with time zone", "TIMETZ"), ("time without time zone", "TIME"),
    ("character varying", "VARCHAR"), ("double precision", "DOUBLE"), ("character", "VARCHAR"),
    ("bpchar", "VARCHAR"), ("jsonb", "JSON"), ("numeric", "DECIMAL(38,10)"), ("regclass", "VARCHAR"),
]
_CAST_RE = [(re.compile(r"::\s*" + re.escape(pg) + r"(?![\w(])", re.I), "::" + duck) for pg, duck in _CASTS]
_STRING = re.compile(r"'(?:[^']|'')*'")
_LITERAL = re.compile(r"^'((?:[^']|'')*)'(?:::\w+)?$")
_REGEX_OPS = {"!~*": ("NOT ", "'i'"), "~*": ("", "'i'"), "!~": ("NOT ", None), "~": ("", None)}


def _mask_strings(expr: str) -> str:
    """The expression with string literals blanked, so scanning ignores operators inside them."""
    return _STRING.sub(lambda m: "'" + "_" * (len(m.group()) - 2) + "'", expr)


def _operand_start(masked: str, end: int) -> int:
    """Start of the operand that ends just before `end` (balanced parentheses, quotes, casts, calls)."""
    i = end
    while i > 0 and masked[i - 1] == " ":
        i -= 1
    while i > 0:
        ch = masked[i - 1]
        if ch == ")":
            depth = 0
            while i > 0:
                i -= 1
                depth += {")": 1, "(": -1}.get(masked[i], 0)
                if depth == 0:
                    break
        elif ch in "'\"":
            i -= 1
            i = masked.rfind(ch, 0, i)
        elif ch.isalnum() or ch in "_.:":
            i -= 1
        else:
            break
    return i


def _operand_end(masked: str, start: int) -> int:
    i = start
    while i < len(masked) and masked[i] == " ":
        i += 1
    while i < len(masked):
        ch = masked[i]
        if ch == "(":
            depth = 0
            while i < len(masked):
                depth += {"(": 1, ")": -1}.get(masked[i], 0)
                i += 1
                if depth == 0:
                    break
        elif ch in "'\"":
            i = masked.index(ch, i + 1) + 1
        elif ch.isalnum() or ch in "_.:":
            i += 1
        else:
            break
    return i


def _rewrite_regex(expr: str) -> str:
    """`a ~ b` -> regexp_matches(a, b) and friends; `~~` (LIKE) is DuckDB syntax already."""
    while True:
        masked = _mask_strings(expr)
        m = re.search(r"(?<![~!])(!~\*|~\*|!~|~)(?![~*])", masked)
        if not m:
            return expr
        op = m.group(1)
        a = _operand_start(masked, m.start())
        b = _operand_end(masked, m.end())
        left, right = expr[a:m.start()].strip(), expr[m.end():b].strip()
        neg, flags = _REGEX_OPS[op]
        lit = _LITERAL.match(right)
        if lit:
            # a constant pattern becomes a full match around a search (what DuckDB's own `~` means), a
            # form PostgreSQL has no function for, so a way back reports it instead of misreading it
            opts = "(?is)" if flags else "(?s)"
            pattern = "'" + opts + ".*(?:" + lit.group(1) + ").*'"
            call = f"{neg}regexp_full_match({left}, {pattern})"
        else:
            call = f"{neg}regexp_matches({left}, {right}{', ' + flags if flags else ''})"
        expr = expr[:a] + call + expr[b:]


# PostgreSQL prints numeric constants compared with numeric columns as (0)::numeric; a bare literal binds
# the same in DuckDB and keeps the expression portable back to PostgreSQL.
_NUM_LITERAL = re.compile(r"\((-?\d+(?:\.\d+)?)\)::\s*numeric(?![\w(])", re.I)


def to_duckdb(expr: str, engine: str) -> str:
    """A CHECK/DEFAULT expression of `engine` in DuckDB's dialect (unchanged when it is DuckDB's)."""
    if engine == "duckdb":
        return expr
    out = _NUM_LITERAL.sub(r"\1", expr)
    for pat, rep in _CAST_RE:
        out = pat.sub(rep, out)
    return _rewrite_regex(out)
