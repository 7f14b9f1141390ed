"""`clavadb.toml`: per-table and per-column choices, and foreign keys the catalog lacks.

```toml
[clone]                 # defaults for command-line options
scale = 0.5
seed = 7
preset = "fast"
rare_k = 5              # categorical values seen fewer times are never emitted verbatim

[tables.genre]
keep = true             # a small lookup table, copied as is
[tables.audit_log]
exclude = true          # not cloned (its children must be excluded too)
[tables.customer.columns.email]
pii = true              # treat as personal data: generated, never modeled or copied
generator = "email"     # first_name, last_name, full_name, email, phone, street_address, city, postal_code,
                        # company, ipv4, iban, ssn, text, uuid, json, bytes, shaped_text
[tables.customer.columns.notes]
exclude = true          # written as NULL (or its default)

[[foreign_keys]]        # an FK the catalog does not declare
table = "orders"
columns = ["customer_id"]
ref_table = "customers"
ref_columns = ["customer_id"]
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from clavadb.errors import ConfigError
from clavadb.schema import ForeignKey, Schema

_TABLE_KEYS = {"keep", "exclude", "columns"}
_COLUMN_KEYS = {"pii", "generator", "exclude"}
_CLONE_KEYS = {"scale", "seed", "preset", "rare_k", "replace"}


def load_config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"no config file at {path}", "pass --config with the path of a clavadb.toml")
    try:
        cfg = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    _validate(cfg, path)
    return cfg


def _validate(cfg: dict[str, Any], path: str) -> None:
    unknown = set(cfg) - {"clone", "tables", "foreign_keys"}
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}", "allowed: clone, tables, foreign_keys")
    bad = set(cfg.get("clone", {})) - _CLONE_KEYS
    if bad:
        raise ConfigError(f"{path}: unknown [clone] key(s) {sorted(bad)}", f"allowed: {sorted(_CLONE_KEYS)}")
    for t, tcfg in cfg.get("tables", {}).items():
        bad = set(tcfg) - _TABLE_KEYS
        if bad:
            raise ConfigError(f"{path}: unknown key(s) {sorted(bad)} for table {t}", f"allowed: {sorted(_TABLE_KEYS)}")
        for c, ccfg in tcfg.get("columns", {}).items():
            bad = set(ccfg) - _COLUMN_KEYS
            if bad:
                raise ConfigError(f"{path}: unknown key(s) {sorted(bad)} for column {t}.{c}",
                                  f"allowed: {sorted(_COLUMN_KEYS)}")
    for fk in cfg.get("foreign_keys", []):
        missing = {"table", "columns", "ref_table", "ref_columns"} - set(fk)
        if missing:
            raise ConfigError(f"{path}: a [[foreign_keys]] entry lacks {sorted(missing)}")


def check_against_schema(cfg: dict[str, Any], schema: Schema) -> None:
    """Names in the config must exist: a typo must not silently clone personal data."""
    for t, tcfg in cfg.get("tables", {}).items():
        if t not in schema.tables:
            raise ConfigError(f"config names table {t!r}, which the source does not have")
        names = set(schema.tables[t].column_names)
        for c in tcfg.get("columns", {}):
            if c not in names:
                raise ConfigError(f"config names column {t}.{c}, which the source does not have")


def add_config_foreign_keys(cfg: dict[str, Any], schema: Schema) -> None:
    """Declare the FKs the catalog lacks (a legacy schema, or DuckDB files without constraints)."""
    for i, spec in enumerate(cfg.get("foreign_keys", [])):
        child, parent = spec["table"], spec["ref_table"]
        for t in (child, parent):
            if t not in schema.tables:
                raise ConfigError(f"config foreign key #{i + 1} names table {t!r}, which the source does not have")
        for t, cols in ((child, spec["columns"]), (parent, spec["ref_columns"])):
            missing = [c for c in cols if c not in schema.tables[t].column_names]
            if missing:
                raise ConfigError(f"config foreign key #{i + 1}: {t} has no column(s) {missing}")
        if len(spec["columns"]) != len(spec["ref_columns"]):
            raise ConfigError(f"config foreign key #{i + 1}: columns and ref_columns differ in length")
        name = spec.get("name") or f"{child}_{'_'.join(spec['columns'])}_cfg_fkey"
        table = schema.tables[child]
        if any(fk.columns == list(spec["columns"]) and fk.ref_table == parent for fk in table.foreign_keys):
            continue
        table.foreign_keys.append(ForeignKey(name, list(spec["columns"]), parent, list(spec["ref_columns"])))
