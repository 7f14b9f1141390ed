"""The adapter contract: one class per engine, the only code that imports a database driver.

It declares everything the core calls on an adapter: introspect, read_batches / read_table / empty_arrow
(reading a source), write (a destination), evaluate_checks (CHECKs judged as the destination would),
close. Adapters may use the core (schema, sql, dialect, workspace); the core imports no adapter module
but this package's open_adapter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from clavadb.schema import Schema, Table
from clavadb.workspace import Workspace

BATCH_ROWS = 65_536


@dataclass
class WriteReport:
    tables: dict[str, int] = field(default_factory=dict)  # rows written per table key
    constraints: int = 0  # constraints declared and validated by the destination
    type_substitutions: list[str] = field(default_factory=list)  # "t.c: tsvector -> VARCHAR" for cross-engine
    seconds: float = 0.0


class Adapter(ABC):
    engine: str  # "postgresql" | "duckdb"

    def __init__(self, dsn: str, read_only: bool):
        self.dsn = dsn
        self.read_only = read_only

    @abstractmethod
    def introspect(self, schemas: list[str] | None = None) -> Schema:
        """Read the catalog of the given schemas (default: public / main) into a Schema, with exact row counts."""

    @abstractmethod
    def read_batches(self, table: Table, columns: list[str] | None = None,
                     batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Stream a table's rows as Arrow record batches; memory bounded by the batch."""

    def read_table(self, table: Table, columns: list[str] | None = None) -> pa.Table:
        batches = list(self.read_batches(table, columns))
        if batches:
            return pa.Table.from_batches(batches)
        return self.empty_arrow(table, columns)

    @abstractmethod
    def empty_arrow(self, table: Table, columns: list[str] | None = None) -> pa.Table:
        """A zero-row Arrow table with the Arrow types read_batches would produce."""

    @abstractmethod
    def write(self, schema: Schema, data: Mapping[str, pa.Table | Iterator[pa.RecordBatch]], *,
              replace: bool = False, validate: bool = True, cascade: bool = False) -> WriteReport:
        """Mirror `schema` (from any engine) here and load `data` (by table key), in one transaction:
        enums/domains/sequences -> tables -> rows -> PK/UNIQUE/CHECK/FK (validated by this engine)
        -> indexes -> sequences and identities set past the largest key.
        Refuses (DestinationNotEmpty) when any mirrored table exists, unless replace=True, which drops and
        recreates only those tables. On any error or interrupt the destination is left as it was."""

    def evaluate_checks(self, table: Table, data: pa.Table, schema: Schema | None = None) -> dict[str, np.ndarray]:
        """Per CHECK of `table` and of its columns' domains (a domain's named "<column>.<check>"), the mask
        of the rows of `data` that fail it, judged as this engine would; NULL passes, as in SQL. `schema`
        gives the dialect of the expressions and the domains. A check the engine cannot evaluate is left
        out of the answer. The default evaluates in an in-process workspace, on `data` as it is; an engine
        with its own semantics or types overrides it."""
        with Workspace() as ws:
            return ws.evaluate_checks(table, data, schema).failing

    def identity(self) -> tuple | None:
        """What makes this database itself (a file's device and inode, a server's start time, port and
        database), compared before a write so that the source is never the destination; None: unknown."""
        return None

    def check_readable(self, schema: Schema) -> None:  # noqa: B027 - optional, a no-op by default
        """Raise SourceUnreadable when a table of `schema` cannot be read; reads no row."""

    def check_write(self, schema: Schema, *, replace: bool = False, cascade: bool = False) -> None:  # noqa: B027
        """Raise what write() would refuse (DestinationNotEmpty, DependentObjects, DestinationUnwritable)
        before any long work; writes nothing."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
