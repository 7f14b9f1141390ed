"""What the pipeline stores in a model file next to the model: how each column is produced and the real
aggregates sampling needs. No value seen fewer than rare_k times and no per-row data: the copy check keeps
nothing here (clavadb.copies runs it against the real rows); the only real rows are those of kept tables
(small lookup tables the user chose to ship, see pipeline.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from clavadb.errors import ClavaError
from clavadb.privacy import ColumnPlan


@dataclass
class PipelineState:
    plans: list[ColumnPlan]  # one per column: model, generate, keep, key, exclude, ...
    column_stats: dict[str, dict[str, Any]]  # privacy.column_stats: per table and column, what generators need
    key_stats: dict[str, dict[str, Any]]  # keys.key_shape_stats: per table and key column, the shape of new keys
    rare_k: int  # values seen fewer times than this are neither stored nor emitted
    kept: dict[str, dict[str, list[Any]]] = field(default_factory=dict)  # kept tables' real rows, per column
    notes: list[str] = field(default_factory=list)  # what the pipeline decided, shown to the user
    # identities of the source database (preflight.fingerprints), so `sample` refuses to write into it
    source_fingerprints: list[str] = field(default_factory=list)
    # functional dependencies kept in the copy (dependencies.Dependency.to_dict); mappings hold only pairs
    # seen at least rare_k times
    dependencies: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PipelineState:
        # older files also hold "salt" and "fingerprints" (real row hashes): read past, never used
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known and k != "plans"},
                   plans=[ColumnPlan(**p) for p in d["plans"]])

    @classmethod
    def of(cls, syn: Any) -> PipelineState:
        """The state a `clavadb train` stored in the Synthesizer `syn` (its attachment)."""
        if not syn.attachment:
            raise ClavaError("the model has no sampling plan (it was saved by Synthesizer.save, not `clavadb train`)",
                             "train it with `clavadb train SRC -o MODEL`")
        return cls.from_dict(syn.attachment)
