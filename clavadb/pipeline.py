"""The clone pipeline: source -> workspace -> plan -> model -> keys, generated columns, constraints -> destination.

`clone` = `train` + `sample` in one process; `train` writes the model file, `sample` needs only that file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from clavadb import constraints, copies, dependencies, keys, privacy
from clavadb import dsn as dsns
from clavadb.config import add_config_foreign_keys, check_against_schema
from clavadb.errors import ClavaError, ConfigError
from clavadb.executor import Executor
from clavadb.schema import Schema, Table
from clavadb.state import PipelineState
from clavadb.workspace import Workspace

SAMPLE_ROWS = 10_000  # rows per table the personal-data detector looks at
LOOKUP_ROWS = 50  # a referenced table this small, with no personal data, is a lookup table kept as is
UNIQUE_SHARE = copies.UNIQUE_SHARE  # tables whose real rows are this unique are checked for copied rows

Progress = Callable[[str, str, float], None]


@dataclass
class Options:
    schemas: list[str] | None = None
    tables: list[str] | None = None
    exclude: list[str] | None = None
    preset: str = "fast"
    method: str = "clava"
    overrides: dict[str, Any] = field(default_factory=dict)
    rare_k: int = 5
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timer:
    stages: dict[str, float] = field(default_factory=dict)

    def run(self, stage: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.stages[stage] = self.stages.get(stage, 0.0) + time.perf_counter() - t0


def _noop(stage: str, table: str, fraction: float) -> None:
    pass


# -- selecting tables ------------------------------------------------------------------------------

def select_tables(schema: Schema, tables: list[str] | None, exclude: list[str] | None,
                  cfg: Mapping[str, Any]) -> tuple[Schema, list[str]]:
    """Apply --tables / --exclude / config exclusions keeping referential closure.

    --tables pulls in every ancestor the chosen tables reference (so their FKs hold); excluding a table whose
    children stay is an error naming them, since those children could not keep their FKs."""
    notes: list[str] = []
    graph = schema.graph()
    chosen = set(schema.tables)
    if tables:
        unknown = [t for t in tables if t not in schema.tables]
        if unknown:
            raise ConfigError(f"--tables names unknown table(s) {unknown}", f"known: {', '.join(schema.tables)}")
        import networkx as nx

        chosen = set(tables)
        for t in tables:
            chosen |= nx.ancestors(graph.g, t)
        added = sorted(chosen - set(tables))
        if added:
            notes.append(f"added referenced table(s) {', '.join(added)} so every foreign key holds")
    excluded = set(exclude or []) | {t for t, c in cfg.get("tables", {}).items() if c.get("exclude")}
    unknown = sorted(excluded - set(schema.tables))
    if unknown:
        raise ConfigError(f"cannot exclude unknown table(s) {unknown}", f"known: {', '.join(schema.tables)}")
    chosen -= excluded
    for t in sorted(excluded):
        orphaned = sorted(c for c in graph.descendants(t) if c in chosen and _references(schema, c, t))
        if orphaned:
            raise ConfigError(
                f"cannot exclude {t}: table(s) {', '.join(orphaned)} reference it",
                f"exclude them too (--exclude {' --exclude '.join(orphaned)})",
            )
    order = [t for t in schema.tables if t in chosen]
    return schema.subset(order), notes


def _references(schema: Schema, child: str, parent: str) -> bool:
    return any(fk.ref_table == parent for fk in schema.tables[child].foreign_keys)


# -- reading ---------------------------------------------------------------------------------------

@dataclass
class Source:
    """The tables read from a source: in `workspace` under their table keys (DuckDB tables, where SQL over
    the source runs), and as `frames`, the pandas form the model fits."""

    schema: Schema
    frames: dict[str, pd.DataFrame]
    notes: list[str]
    workspace: Workspace | None = None

    def close(self) -> None:
        if self.workspace is not None:
            self.workspace.close()


def read_source(dsn: str, opts: Options, progress: Progress = _noop) -> Source:
    """Introspect the source, choose the tables, and read each one: its Arrow batches stream into the
    workspace (so every adapter's types come out as the workspace's one representation), and the table
    becomes the model's frame. The workspace keeps the tables: DuckDB stores them compressed, about a
    tenth of the frames' memory (TPC-H sf 0.1: 503 MB read in all, 454 MB without the tables), while a
    frame registered in their place would cost more (DuckDB's scan of pandas converts it: 650 MB)."""
    from clavadb.adapters import open_adapter

    with open_adapter(dsn, read_only=True) as src:
        full = src.introspect(opts.schemas)
        if not full.tables:
            raise ClavaError(f"the source {dsn} has no tables in schema(s) {', '.join(opts.schemas or ['default'])}",
                             "pass --schema NAME to choose the schema that holds them")
        add_config_foreign_keys(opts.config, full)
        check_against_schema(opts.config, full)
        schema, notes = select_tables(full, opts.tables, opts.exclude, opts.config)
        ws = Workspace()
        frames = {}
        n = len(schema.tables)
        for i, (key, table) in enumerate(schema.tables.items()):
            progress("read", key, i / n)
            ws.load(key, src.read_batches(table), schema=src.empty_arrow(table).schema)
            frames[key] = ws.frame(key)
        progress("read", "", 1.0)
    return Source(schema, frames, notes, ws)


# -- training --------------------------------------------------------------------------------------

def plan(source: Source, opts: Options) -> list[privacy.ColumnPlan]:
    samples = {k: (f.sample(SAMPLE_ROWS, random_state=0) if len(f) > SAMPLE_ROWS else f)
               for k, f in source.frames.items()}
    plans = privacy.plan_columns(source.schema, samples, opts.config)
    _keep_lookup_tables(source, plans, opts.config)
    return plans


def _keep_lookup_tables(source: Source, plans: list[privacy.ColumnPlan], cfg: Mapping[str, Any]) -> None:
    """Small referenced tables of categories (genre, media_type, region) are copied as is: their values
    are the vocabulary the other tables point at, not anyone's data, and each is seen once, so the
    rare-value rule would otherwise replace every one of them. `keep = false` in the config turns it off."""
    schema = source.schema
    referenced = {fk.ref_table for _, fk in schema.foreign_keys()}
    for key, table in schema.tables.items():
        if (key not in referenced or table.foreign_keys or len(source.frames[key]) > LOOKUP_ROWS
                or cfg.get("tables", {}).get(key, {}).get("keep") is False):
            continue
        mine = [p for p in plans if p.table == key]
        if any(p.action == "model" for p in mine) and all(p.action in ("model", "key", "constant") for p in mine):
            for p in mine:
                p.action, p.reason = "keep", "small lookup table, copied as is"


def find_dependencies(source: Source, plans: list[privacy.ColumnPlan], opts: Options
                      ) -> list[dependencies.Dependency]:
    """Functional dependencies of the source (within tables and across foreign keys), found in SQL on the
    workspace; tables copied as is need none."""
    actions = {(p.table, p.column): p.action for p in plans}
    kept = kept_tables(plans)
    tables = [k for k in source.schema.tables if k not in kept]
    if source.workspace is not None:
        return dependencies.find(source.workspace, source.schema, actions, opts.rare_k, tables)
    with Workspace() as ws:
        for key, frame in source.frames.items():
            ws.load(key, frame)
        return dependencies.find(ws, source.schema, actions, opts.rare_k, tables)


def modeled_columns(schema: Schema, plans: list[privacy.ColumnPlan]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {k: [] for k in schema.tables}
    for p in plans:
        if p.action == "model":
            out[p.table].append(p.column)
    return out


def kept_tables(plans: list[privacy.ColumnPlan]) -> set[str]:
    return {p.table for p in plans if p.action == "keep"}


def train(source: Source, opts: Options, progress: Progress = _noop, timer: Timer | None = None):
    """Fit the synthesizer; its `attachment` carries the PipelineState that sampling needs besides the model."""
    from clavadb.model import Synthesizer

    timer = timer or Timer()
    plans = timer.run("plan", lambda: plan(source, opts))
    modeled = modeled_columns(source.schema, plans)
    keep = kept_tables(plans)
    for t in keep:
        modeled[t] = []
    # rare_k reaches the encoder: no value seen fewer times is stored in the model
    syn = Synthesizer(source.schema, preset=opts.preset, method=opts.method,
                      **{**opts.overrides, "rare_k": opts.rare_k})
    fallback = [f"{p.table}.{p.column}" for p in plans if p.reason.startswith("no codec")]
    if fallback:
        source.notes.append(f"no codec for the type of {', '.join(fallback)}: generated as plausible values")
    # a kept table's rows are given to the model, not generated
    deps = timer.run("dependencies", lambda: find_dependencies(source, plans, opts))
    timer.run("fit", lambda: syn.fit(source.frames, modeled=modeled, progress=progress, fixed=keep))
    state = PipelineState(
        plans=plans,
        column_stats=privacy.column_stats(source.schema, plans, source.frames, opts.rare_k),
        key_stats=keys.key_shape_stats(source.schema, source.frames),
        rare_k=opts.rare_k,
        # A kept lookup table is copied as is: the user chose to ship its rows.
        kept={t: _frame_to_records(source.frames[t]) for t in keep},
        notes=source.notes,
        dependencies=[d.to_dict() for d in deps],
    )
    syn.attachment = state.to_dict()
    return syn


def _frame_to_records(frame: pd.DataFrame) -> dict[str, list]:
    return {c: [None if pd.isna(v) else (v.isoformat() if hasattr(v, "isoformat") else v)
                for v in frame[c].tolist()] for c in frame.columns}


def copy_guard(syn, real: Mapping[str, pd.DataFrame]) -> copies.CopyGuard:
    """What the copy check keeps of the real rows (salted hashes, real names), for `generate(guard=...)`:
    built once, so the real frames need not stay in memory while sampling."""
    return copies.CopyGuard.build(PipelineState.of(syn).plans, real)


def read_real(dsn: str, syn) -> dict[str, pd.DataFrame]:
    """The real rows of the tables the copy check compares with (`sample --check-against SRC`), read from
    the source the model was trained on, in the form training read them."""
    from clavadb.adapters import open_adapter

    state = PipelineState.of(syn)
    need = {p.table for p in state.plans if p.action in ("model", "generate")} - kept_tables(state.plans)
    frames = {}
    with open_adapter(dsn, read_only=True) as src, Workspace() as ws:
        have = src.introspect(sorted({t.schema for t in syn.schema.tables.values() if t.schema}) or None).tables
        missing = [f"{k}.{c}" if k in have else k for k in sorted(need)
                   for c in ([c.name for c in syn.schema.tables[k].columns if c.name not in have[k].column_names]
                             if k in have else [None])]
        if missing:
            raise ClavaError(f"--check-against {dsns.redact(dsn)} is not the database the model was trained on: "
                             f"it lacks {', '.join(missing[:5])}", "give the source the model was trained on")
        for key, table in syn.schema.tables.items():
            if key in need:
                ws.load(key, src.read_batches(table), schema=src.empty_arrow(table).schema)
                frames[key] = ws.frame(key)
    return frames


# -- sampling --------------------------------------------------------------------------------------

@dataclass
class Synthetic:
    schema: Schema
    frames: dict[str, pd.DataFrame]
    repairs: dict[str, Any]
    copies_resampled: int | None  # rows redrawn by the copy check; None: not run (no real rows given)


def generate(syn, scale: float, seed: int, check_eval: Callable[[Table, pa.Table], dict] | None = None,
             timer: Timer | None = None, executor: Executor | None = None,
             progress: Progress = _noop, guard: copies.CopyGuard | None = None) -> Synthetic:
    """Sample, make keys, fill generated columns, keep dependencies and repair constraints; then, with the
    real rows (`guard`: copy_guard of them), the copy check last of all: a row equal to a real one (or a
    generated name equal to a real one) is redrawn and the repairs run again, until none is left
    (copies.CopiesLeft after copies.ROUNDS rounds). Without `guard` the check is not run: copies_resampled
    is None."""
    if not 0.01 <= scale <= 10:
        raise ConfigError(f"--scale {scale} is out of range", "use a value from 0.01 to 10")
    timer = timer or Timer()
    schema: Schema = syn.schema
    state = PipelineState.of(syn)
    plans = state.plans
    frames = timer.run("sample", lambda: syn.sample(scale=scale, seed=seed, executor=executor,
                                                           progress=progress))
    frames = _restore_kept(schema, frames, state.kept)
    frames = timer.run("keys", lambda: keys.assign_keys(schema, frames, state.key_stats, seed))
    frames = timer.run("generate", lambda: privacy.fill_generated(
        schema, plans, frames, seed, k_rare=state.rare_k, real_stats=state.column_stats))
    deps = [dependencies.Dependency.from_dict(d) for d in state.dependencies]
    frames = timer.run("dependencies", lambda: dependencies.apply(deps, schema, frames, seed))

    def repair(frames: dict[str, pd.DataFrame]) -> tuple[dict, constraints.EnforceReport]:
        return timer.run("constraints", lambda: constraints.enforce(
            schema, frames, state.column_stats, seed, check_eval=check_eval))

    frames, report = repair(frames)
    redrawn = None
    if guard is not None:
        frames, report, redrawn = timer.run("privacy", lambda: _check_copies(
            frames, report, guard, plans, deps, seed, repair))
    for key, table in schema.tables.items():
        frames[key] = _finish(table, frames[key])
    return Synthetic(schema, frames, report.to_dict(), redrawn)


def _check_copies(frames: dict[str, pd.DataFrame], report: constraints.EnforceReport, guard: copies.CopyGuard,
                  plans: list[privacy.ColumnPlan], deps: list[dependencies.Dependency], seed: int,
                  repair: Callable[[dict], tuple[dict, constraints.EnforceReport]]
                  ) -> tuple[dict, constraints.EnforceReport, int]:
    """The copy check after every repair: redraw, repair again (a repair copies donor values and clips, so it
    could make a copy again), check again; fail rather than keep a copy."""
    rng = np.random.default_rng(seed + 17)
    total = 0
    for _ in range(copies.ROUNDS):
        n = copies.redraw(frames, guard, plans, deps, rng)
        if not n:
            return frames, report, total
        total += n
        frames, again = repair(frames)
        for t, counts in again.tables.items():
            for what, v in counts.items():
                report.add(t, what, v)
    left = guard.count(frames)
    if left:
        raise copies.fail(left)
    return frames, report, total


def _restore_kept(schema: Schema, frames: dict[str, pd.DataFrame], kept: Mapping[str, dict]) -> dict:
    """Put a kept table's real rows in place of its sampled ones; children's positions wrap onto them."""
    for t, records in kept.items():
        real = pd.DataFrame(records)
        n = len(real)
        frames[t] = real
        for child, fk in schema.foreign_keys():
            if fk.ref_table == t and child in frames:
                col = keys.fk_column(fk)
                if col in frames[child] and n:
                    frames[child][col] = frames[child][col] % n
    return frames


def _finish(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Columns in the table's order; excluded columns NULL; computed columns left to the destination."""
    out = {}
    n = len(frame)
    for col in table.columns:
        if col.generated:
            continue
        out[col.name] = frame[col.name] if col.name in frame else pd.Series([None] * n, dtype="object")
    return pd.DataFrame(out)


def to_arrow(frames: Mapping[str, pd.DataFrame]) -> dict[str, pa.Table]:
    return {k: pa.Table.from_pandas(f, preserve_index=False) for k, f in frames.items()}
