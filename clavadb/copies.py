"""The copy check: no synthetic row equals a real one, and no generated name is a real person's.

It needs the real rows, so it runs where they are: at `clone` (the source is in memory) and at
`clavadb sample MODEL DST --check-against SRC`; the model file keeps nothing for it (no row hash, no name
hash). The real rows are held as 64-bit hashes salted with a secret drawn for the run
(`secrets.token_bytes`, never written anywhere), the real names as the set of their normalised forms.

Only tables whose real rows are mostly unique (UNIQUE_SHARE) on at least two modeled columns are checked for
copied rows: in a table of a few categorical columns equal rows are expected and identify no one, and with one
modeled column a "row" is one value, which rare_k governs (a rare label is never emitted, a number is drawn
from a grid of means of >= rare_k values) while a common one identifies no one.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clavadb.dependencies import Dependency
from clavadb.errors import ClavaError
from clavadb.privacy import ColumnPlan, name_groups, name_key

UNIQUE_SHARE = 0.9  # tables whose real rows are this unique are checked for copied rows
ROUNDS = 20  # redraw rounds before the run fails: a round clears nearly all copies (one value redrawn each)


class CopiesLeft(ClavaError):
    """Synthetic rows still equal real rows after every redraw round."""


def row_hashes(frame: pd.DataFrame, columns: list[str], salt: str) -> np.ndarray:
    """64-bit salted hashes of rows over `columns`, on a text rendering so that dtypes do not matter."""
    if not columns or frame.empty:
        return np.zeros(0, dtype=np.uint64)
    text = frame[columns].astype("string").fillna("\x00")
    return pd.util.hash_pandas_object(text, index=False, hash_key=salt).to_numpy()


@dataclass
class CopyGuard:
    """The real side of the check, built from the real frames (see the module docstring)."""

    modeled: dict[str, list[str]]  # per checked table, the modeled columns a row is compared on
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # per checked table, hashes of its real rows
    names: dict[str, list[tuple[list[str], set[str]]]] = field(default_factory=dict)  # real names per group
    salt: str = field(default_factory=lambda: secrets.token_bytes(8).hex(), repr=False)

    @classmethod
    def build(cls, plans: list[ColumnPlan], real: Mapping[str, pd.DataFrame]) -> CopyGuard:
        kept = {p.table for p in plans if p.action == "keep"}
        modeled: dict[str, list[str]] = {}
        for p in plans:
            if p.action == "model" and p.table not in kept:
                modeled.setdefault(p.table, []).append(p.column)
        guard = cls(modeled={})
        for key, cols in modeled.items():
            frame = real.get(key)
            if frame is None or not len(frame) or len(cols) < 2 or not all(c in frame for c in cols):
                continue
            if frame[cols].drop_duplicates().shape[0] >= UNIQUE_SHARE * len(frame):
                guard.modeled[key] = cols
                guard.rows[key] = np.unique(row_hashes(frame, cols, guard.salt))
        for table, groups in name_groups(plans).items():
            frame = real.get(table)
            if frame is None or not len(frame):
                continue
            guard.names[table] = [(cols, set(name_key(frame, cols).dropna())) for cols in groups
                                  if all(c in frame for c in cols)]
        return guard

    def copied_rows(self, key: str, frame: pd.DataFrame) -> np.ndarray:
        """Mask of the synthetic rows of `key` equal to a real row on the modeled columns."""
        cols = self.modeled.get(key)
        if not cols or frame.empty or not all(c in frame for c in cols):
            return np.zeros(len(frame), dtype=bool)
        return np.isin(row_hashes(frame, cols, self.salt), self.rows[key])

    def real_names(self, table: str, frame: pd.DataFrame) -> list[tuple[list[str], np.ndarray]]:
        """Per name group of `table`, the mask of synthetic rows whose generated name is a real one."""
        out = []
        for cols, real in self.names.get(table, []):
            if all(c in frame for c in cols):
                key = name_key(frame, cols)
                out.append((cols, key.notna().to_numpy() & key.isin(real).to_numpy()))
        return out

    def count(self, frames: Mapping[str, pd.DataFrame]) -> dict[str, int]:
        """Per table, the synthetic rows that copy a real row or a real name."""
        out = {}
        for key, frame in frames.items():
            hit = self.copied_rows(key, frame)
            for _, m in self.real_names(key, frame):
                hit = hit | m
            if hit.any():
                out[key] = int(hit.sum())
        return out


def redraw(frames: dict[str, pd.DataFrame], guard: CopyGuard, plans: list[ColumnPlan],
           deps: list[Dependency], rng: np.random.Generator) -> int:
    """One round: a copied row gets one modeled value from another synthetic row (the model's own marginal;
    a derived column is never the one redrawn, a determinant brings its dependents from the same donor), a real
    name is generated anew. Returns the rows changed; `frames` is updated in place."""
    from clavadb.generators import generate
    from clavadb.schema import Column

    gens = {(p.table, p.column): p.generator for p in plans if p.action == "generate"}
    total = 0
    for key, frame in list(frames.items()):
        hit = guard.copied_rows(key, frame)
        names = guard.real_names(key, frame)
        if not hit.any() and not any(m.any() for _, m in names):
            continue
        frame = frame.copy()
        if hit.any():
            every = guard.modeled[key]
            derived = {d.dependent for d in deps if d.table == key}
            tied: dict[str, list[str]] = {}
            for d in deps:
                if d.table == key and d.kind == "table" and d.dependent in frame:
                    tied.setdefault(d.determinant, []).append(d.dependent)
            cols = [c for c in every if c not in derived] or every
            rows = np.flatnonzero(hit)
            pick = rng.integers(len(cols), size=len(rows))
            donors = rng.integers(len(frame), size=len(rows))
            for j, c in enumerate(cols):
                sel = pick == j
                if sel.any():
                    for c2 in [c, *tied.get(c, [])]:
                        at = frame.columns.get_loc(c2)
                        frame.iloc[rows[sel], at] = frame[c2].to_numpy()[donors[sel]]
            total += len(rows)
        for cols, m in names:
            n = int(m.sum())
            if n:
                for c in cols:
                    frame.loc[m, c] = generate(gens.get((key, c)) or "full_name", n, rng,
                                               Column(c, "text", "text"), {})
                total += n
        frames[key] = frame
    return total


def fail(left: dict[str, int]) -> CopiesLeft:
    """The error of a run whose copies remain after ROUNDS redraws (it writes nothing)."""
    where = ", ".join(f"{t} ({n})" for t, n in sorted(left.items()))
    return CopiesLeft(f"synthetic rows still equal real rows or real names after {ROUNDS} redraw rounds: {where}",
                      "sample with another --seed, or raise --rare-k when training; nothing was written")
