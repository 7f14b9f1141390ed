"""Personal data: which columns are modeled, generated, or left out, and the generators that fill them.

A column of personal data (names, e-mails, phones, addresses, ids) or free text is never modeled: the
model would learn and could replay real values. It is filled after sampling with plausible values of
the same shape (clavadb.generators); a generated name that is a real person's is redrawn by the copy
check (clavadb.copies), where the real rows are at hand. Categorical values
seen fewer than `k_rare` times are replaced by frequent ones: a rare value can identify a person.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clavadb.encoding import RARE, SUPPORTED_KINDS
from clavadb.generators import (
    SHAPE_GENERATORS,
    choice,
    column_rng,
    fill_shape,
    fit_length,
    generate,
    shape_of,
    uniquify,
    weights,
    words,
)
from clavadb.schema import DATETIME_KINDS, NUMBER_KINDS, Column, Schema, Table

ACTIONS = ("model", "key", "generate", "constant", "exclude", "keep")
MODEL_KINDS = set(SUPPORTED_KINDS)  # what the encoder can model
MIN_STORED = 5  # a categorical value is stored in the statistics only when seen at least this often

# Column-name rules, first match wins; names are lower-cased, camelCase split by "_".
_NAME_RULES: list[tuple[str, str]] = [
    (r"(^|_)e_?mail(_?address)?$|^email", "email"),
    (r"(^|_)(phone|fax|mobile|cell|telephone|tel|phone_?number|fax_?number)(_|$)|phone$", "phone"),
    (r"(^|_)(first_?name|given_?name|fore_?name|fname|middle_?name)$", "first_name"),
    (r"(^|_)(last_?name|sur_?name|family_?name|lname|maiden_?name)$", "last_name"),
    (r"(^|_)(full_?name|contact_?name|person_?name|customer_?name|employee_?name|client_?name)$", "full_name"),
    (r"^(composer|author|writer|lyricist|signatory)s?$", "full_name"),
    (r"(^|_)(ship|recipient|consignee|shipping|billing)_?name$", "full_name"),
    (r"(^|_)(user_?name|login|nick_?name|screen_?name)$", "user_name"),
    (r"(^|_)(address|street|street_?address|addr)(_?(line)?_?\d)?$", "street_address"),
    (r"(^|_)(postal_?code|zip_?code|zip|post_?code)$", "postal_code"),
    (r"(^|_)(company|company_?name|employer|organi[sz]ation)$", "company"),
    (r"(^|_)(ip|ip_?addr(ess)?|ipv4)$", "ipv4"),
    (r"(^|_)iban$", "iban"),
    (r"(^|_)(ssn|social_?security(_?number)?|national_?id|tax_?id|passport(_?number)?)$", "ssn"),
    (r"(credit_?card|card_?number|cc_?number)", "credit_card"),
    (r"(password|passwd|secret|token|api_?key)", "token"),
    (r"(^|_)(url|homepage|website|web_?site)$", "url"),
]
_PERSON_TABLE = re.compile(
    r"(customer|employee|user|person|people|contact|staff|member|client|patient|student|account_holder)")
# Coarse geography and codes: modeled (rare values are replaced anyway), never treated as personal.
_SAFE_NAME = re.compile(r"(^|_)(city|state|country|region|province|county|currency|locale|timezone|language)$")

_VALUE_RULES: list[tuple[str, re.Pattern]] = [
    ("email", re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+")),
    ("url", re.compile(r"(https?|ftp)://\S+")),
    ("ipv4", re.compile(r"(\d{1,3}\.){3}\d{1,3}")),
    ("iban", re.compile(r"[A-Z]{2}\d{2} ?([A-Z0-9]{4} ?){2,7}[A-Z0-9]{1,4}")),
    ("credit_card", re.compile(r"\d{4}([ -]?\d{4}){3}")),
    ("ssn", re.compile(r"\d{3}-\d{2}-\d{4}")),
    # 7-15 digits with a separator or a leading +, and not an ISO date
    ("phone", re.compile(r"(?!\d{4}-\d\d-\d\d)(?=.*[ ().+/-])\+?(?=(?:\D*\d){7,15}\D*$)[\d (). /-]{7,24}")),
    # Postal codes by value only where the shape is specific (Canada, UK, Netherlands, ZIP+4).
    ("postal_code", re.compile(r"[A-Z]\d[A-Z] ?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\d{4} ?[A-Z]{2}|\d{5}-\d{4}")),
]
_NAME_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "pt_PT", "nl_NL", "pl_PL",
                 "cs_CZ", "sv_SE", "no_NO", "da_DK", "fi_FI", "hu_HU", "en_IN")


def _first_names() -> frozenset[str]:
    """First names of several locales, lower-cased: a column mostly made of them holds person names."""
    names: set[str] = set()
    for loc in _NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ImportError:  # pragma: no cover
            continue
        names.update(n.lower() for n in provider.first_names)
    return frozenset(names)


_FIRST_NAMES = _first_names()


@dataclass
class ColumnPlan:
    table: str
    column: str
    action: str  # one of ACTIONS
    generator: str | None = None
    reason: str = ""


# -- planning ---------------------------------------------------------------------------------------

def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _by_name(table: Table, col: Column) -> str | None:
    name = _snake(col.name)
    for pattern, gen in _NAME_RULES:
        if re.search(pattern, name):
            return gen
    if (name == "name" or name.endswith("_name")) and _PERSON_TABLE.search(table.name.lower()):
        return "full_name"
    return None


def _text_values(sample: pd.DataFrame | None, col: str) -> pd.Series:
    """The non-null values of a text column as strings, whatever dtype the reader gave them (a zero-row or
    all-NULL column arrives as float NaN)."""
    if sample is None or col not in sample:
        return pd.Series([], dtype="string")
    return sample[col].dropna().astype(str).astype("string")


def _by_values(values: pd.Series) -> str | None:
    vals = values.drop_duplicates().head(2000).astype("string").str.strip()
    vals = vals[vals.str.len() > 0]  # blank values say nothing about the kind of data
    if vals.empty:
        return None
    for gen, rx in _VALUE_RULES:
        if vals.str.fullmatch(rx.pattern).mean() >= 0.8:
            return gen
    first = vals.str.split(n=1).str[0].astype("string").str.lower()
    if len(vals) >= 10 and first.isin(_FIRST_NAMES).mean() >= 0.6:
        return "full_name" if vals.str.contains(" ").mean() >= 0.5 else "first_name"
    return None


def _free_text(values: pd.Series) -> str | None:
    """High-cardinality or long text is free text: each value is close to a record of its own."""
    if values.empty:
        return None
    nd, n = values.nunique(), len(values)
    lengths = values.str.len()
    words = values.str.count(r"\s+") + 1
    if lengths.mean() >= 60 or (nd >= 10 and words.mean() >= 6):
        return "text"
    if nd >= 200 or (nd >= 100 and nd / n >= 0.5):
        return "shaped_text"
    return None


def _plan_column(table: Table, col: Column, sample: pd.DataFrame | None, ccfg: Mapping[str, Any],
                 key_cols: set[str]) -> ColumnPlan:
    t, c = table.key, col.name

    def plan(action: str, gen: str | None = None, reason: str = "") -> ColumnPlan:
        return ColumnPlan(t, c, action, gen, reason)

    if ccfg.get("exclude"):
        return plan("exclude", reason="excluded by config")
    if col.generated:
        return plan("exclude", reason="generated column (computed by the engine)")
    if c in key_cols:
        return plan("key", reason="primary key" if c in table.primary_key else "foreign or referenced key")
    if ccfg.get("generator"):
        return plan("generate", ccfg["generator"], "generator set by config")
    if col.kind not in MODEL_KINDS:
        return plan("generate", col.kind if col.kind in ("uuid", "json", "bytes", "array", "interval") else "other",
                    f"no codec for {col.type}: plausible values of the type")
    values = _text_values(sample, c) if col.kind == "text" else pd.Series([], dtype="string")
    pii = ccfg.get("pii")
    if pii is not False and col.kind == "text":
        gen = _by_name(table, col)
        if gen:
            return plan("generate", gen, "personal data by name")
        if pii:
            return plan("generate", _by_values(values) or _free_text(values) or "shaped_text",
                        "personal data by config")
        if not _SAFE_NAME.search(_snake(c)):
            gen = _by_values(values)
            if gen:
                return plan("generate", gen, "personal data by values")
            gen = _free_text(values)
            if gen:
                return plan("generate", gen, "free text")
    if sample is not None and c in sample and len(sample):
        s = sample[c]
        if s.isna().all():
            return plan("constant", reason="always NULL")
        if s.notna().all() and s.nunique() == 1 and len(s) >= MIN_STORED and pii is not True:
            return plan("constant", reason="single value")
    return plan("model", reason="modeled")


def plan_columns(schema: Schema, samples: Mapping[str, pd.DataFrame],
                 config: Mapping | None = None) -> list[ColumnPlan]:
    """Decide per column what the clone does with it (see ColumnPlan.action)."""
    tables_cfg = (config or {}).get("tables", {})
    referenced: dict[str, set[str]] = {}
    for _, fk in schema.foreign_keys():
        referenced.setdefault(fk.ref_table, set()).update(fk.ref_columns)
    plans: list[ColumnPlan] = []
    for key, table in schema.tables.items():
        tcfg = tables_cfg.get(key) or tables_cfg.get(table.name) or {}
        if tcfg.get("exclude") or tcfg.get("keep"):
            action = "exclude" if tcfg.get("exclude") else "keep"
            plans += [ColumnPlan(key, c.name, action, None, f"table {action} by config") for c in table.columns]
            continue
        key_cols = set(table.primary_key) | table.fk_columns() | referenced.get(key, set())
        ccfgs = tcfg.get("columns", {})
        for col in table.columns:
            plans.append(_plan_column(table, col, samples.get(key), ccfgs.get(col.name) or {}, key_cols))
    return plans


# Plan reasons that mean "the detector found personal data or free text here" (not a config exclusion, a
# type without codec, or a key): the columns a copy must not share values of with the real data.
PERSONAL_REASONS = ("personal data by name", "personal data by values", "personal data by config", "free text")


def personal_columns(schema: Schema, samples: Mapping[str, pd.DataFrame],
                     config: Mapping | None = None) -> dict[str, list[str]]:
    """Per table key, the columns of personal data or free text, by the same detector that plans a clone
    (plan_columns): what a report audits a copy for. `samples`: some real rows per table (a few thousand
    are enough; values are looked at only where names are inconclusive)."""
    out: dict[str, list[str]] = {}
    for p in plan_columns(schema, samples, config):
        if p.reason in PERSONAL_REASONS:
            out.setdefault(p.table, []).append(p.column)
    return out


# -- statistics -------------------------------------------------------------------------------------


def _jsonable(v: Any) -> Any:
    if v is None or (not isinstance(v, (list, dict, bytes)) and pd.isna(v)):
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bytes):
        return None
    try:
        json.dumps(v)
        return v
    except TypeError:
        return str(v)


def _text_stat(v: pd.Series, shapes: bool, k: int = MIN_STORED) -> dict[str, Any]:
    """Lengths, word counts, capitalisation and (for coded values) the value shapes seen >= k times."""
    lengths = v.str.len()
    words = v.str.count(r"\s+") + 1
    st: dict[str, Any] = {
        "len_min": int(lengths.min()), "len_max": int(lengths.max()),
        "words_q": [float(x) for x in np.quantile(words, np.linspace(0, 1, 11))],
        "title_rate": float((v.str.slice(0, 1).str.isupper()).mean()),
        "period_rate": float(v.str.endswith(".").mean())}
    if shapes:
        counts = shape_of(v).value_counts()
        # a shape seen fewer than k times is stored no more than a value would be ("A" is both)
        top = (counts[counts >= k] / len(v)).head(10)
        st["shapes"] = {k_: float(p) for k_, p in top.items()}
        # coded values (few shapes: "9999", "AA") can be replaced by random values of their shape
        st["coded"] = bool(len(top) and top.head(3).sum() >= 0.8 and not any("a" in k for k in top.index[:3]))
    return st


def _ends(x: pd.Series, k: int) -> tuple[Any, Any] | None:
    """The range a modeled column is clipped to: the mean of its k smallest and of its k largest values
    (its real minimum and maximum when k <= 1), in its own type; None with fewer than k values."""
    if len(x) < k or not len(x):
        return None
    if k <= 1:
        return x.min(), x.max()
    srt = x.sort_values()
    lo, hi = srt.iloc[:k], srt.iloc[-k:]
    if pd.api.types.is_datetime64_any_dtype(x.dtype):
        return lo.min() + (lo - lo.min()).mean(), hi.min() + (hi - hi.min()).mean()
    return float(lo.mean()), float(hi.mean())


def _column_stat(col: Column, plan: ColumnPlan, s: pd.Series, k: int = MIN_STORED) -> dict[str, Any]:
    n = len(s)
    st: dict[str, Any] = {"n": n, "null_rate": float(s.isna().mean()) if n else 0.0}
    nn = s.dropna()
    if plan.action == "constant":
        st["constant"] = _jsonable(nn.iloc[0]) if len(nn) >= k else None
    elif plan.action == "generate" and col.kind not in ("bytes", "json", "array", "interval") and len(nn):
        st.update(_text_stat(nn.astype("string"), plan.generator in SHAPE_GENERATORS, k))
    elif plan.action == "generate" and len(nn):
        if col.kind == "bytes":
            lengths = nn.map(len)
            st.update(len_min=int(lengths.min()), len_max=int(lengths.max()))
        elif col.kind == "json":
            objs = nn.head(1000).map(lambda x: json.loads(x) if isinstance(x, str) else x)
            keys = pd.Series([k for o in objs if isinstance(o, dict) for k in o], dtype=object)
            keys = keys[keys.str.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,30}")].value_counts().head(20)
            st["json_keys"] = keys.index.tolist()
        elif col.kind == "interval":
            x = pd.to_timedelta(nn, errors="coerce").dropna().dt.total_seconds()
            if len(x):
                st.update(min=float(x.min()), max=float(x.max()))
        elif col.kind == "array":
            lengths = nn.map(len)
            st.update(len_min=int(lengths.min()), len_max=int(lengths.max()))
    elif plan.action in ("model", "keep") and len(nn):
        # a kept table ships its rows: its real range is no secret; a modeled column's range is aggregated
        ends_k = 1 if plan.action == "keep" else k
        if col.kind in NUMBER_KINDS:
            ends = _ends(pd.to_numeric(nn, errors="coerce").dropna(), ends_k)
            if ends:
                st.update(min=_jsonable(ends[0]), max=_jsonable(ends[1]))
        elif col.kind in DATETIME_KINDS:
            ends = _ends(pd.to_datetime(nn, errors="coerce", utc=col.kind == "timestamptz").dropna(), ends_k)
            if ends:
                st.update(min=ends[0].isoformat(), max=ends[1].isoformat())
        elif col.kind in ("text", "enum"):
            counts = nn.astype("string").value_counts()
            counts = counts[counts >= k].head(1000)
            st["frequent"] = {str(v): int(c) for v, c in counts.items()}
            st.update(_text_stat(nn.astype("string"), True, k))
    return st


def column_stats(schema: Schema, plans: list[ColumnPlan], tables: Mapping[str, pd.DataFrame],
                 rare_k: int = MIN_STORED) -> dict:
    """Per table and column: null rate, and what the generators and range checks need. JSON-able; personal
    and rare values are never stored (only value shapes and values seen >= rare_k times, lengths, and the
    ranges of modeled columns as means of their rare_k smallest and largest values)."""
    out: dict[str, dict[str, Any]] = {}
    for p in plans:
        frame = tables.get(p.table)
        if frame is None or p.column not in frame or p.action in ("key", "exclude"):
            continue
        col = schema.tables[p.table].column(p.column)
        out.setdefault(p.table, {})[p.column] = _column_stat(col, p, frame[p.column], rare_k)
    return out


def name_groups(plans: list[ColumnPlan]) -> dict[str, list[list[str]]]:
    """Per table, the generated columns that together make a person's name: (first, last), or a full name."""
    gens: dict[str, dict[str, list[str]]] = {}
    for p in plans:
        if p.action == "generate" and p.generator in ("first_name", "last_name", "full_name"):
            gens.setdefault(p.table, {}).setdefault(p.generator, []).append(p.column)
    out: dict[str, list[list[str]]] = {}
    for table, g in gens.items():
        groups = [[c] for c in g.get("full_name", [])]
        if g.get("first_name") and g.get("last_name"):
            groups.append([g["first_name"][0], g["last_name"][0]])
        if groups:
            out[table] = groups
    return out


def name_key(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    """A person's name over `cols` (first and last, or one full name), trimmed and lower-cased."""
    parts = [frame[c].astype("string").str.strip().str.lower() for c in cols]
    key = parts[0]
    for p in parts[1:]:
        key = key + " " + p
    return key


def _unique_columns(table: Table) -> set[str]:
    return {u.columns[0] for u in table.uniques if len(u.columns) == 1 and not u.predicate}


def _null_mask(n: int, rng: np.random.Generator, col: Column, st: Mapping) -> np.ndarray:
    rate = 0.0 if not col.nullable else float(st.get("null_rate", 0.0))
    return rng.random(n) < rate


def _replace_rare(s: pd.Series, rng: np.random.Generator, k_rare: int, st: Mapping, col: Column) -> pd.Series:
    """Values marked rare, or not among the frequent values of the real data, become frequent ones."""
    freq = {v: c for v, c in (st.get("frequent") or {}).items() if c >= k_rare}
    known = "frequent" in st and col.kind == "text"
    nn = s.notna()
    bad = nn & (s.astype(object) == RARE)
    if known:
        bad |= nn & ~s.astype(object).isin(list(freq))
    m = int(bad.sum())
    if not m:
        return s
    if freq:
        vals, p = weights(freq)
        repl = choice(vals, m, rng, p)
    elif st.get("coded"):
        shapes, p = weights(st["shapes"])
        repl = fill_shape(choice(shapes, m, rng, p), rng)
    elif _SAFE_NAME.search(_snake(col.name)):
        gen = _SAFE_NAME.search(_snake(col.name)).group(2)
        repl = generate(gen if gen in ("city", "state", "country") else "shaped_text", m, rng, col, st)
    else:
        repl = words(m, rng, st)
    out = s.astype(object).copy()
    out[bad] = fit_length(pd.Series(repl, dtype=object), col.max_length).to_numpy(dtype=object)
    return out



def fill_generated(schema: Schema, plans: list[ColumnPlan], frames: dict[str, pd.DataFrame], seed: int,
                   k_rare: int = 5, real_stats: Mapping | None = None) -> dict[str, pd.DataFrame]:
    """Add the generated and constant columns; replace rare categories in modeled text columns."""
    stats = real_stats or {}
    out = dict(frames)
    for p in plans:
        frame = out.get(p.table)
        if frame is None or p.action not in ("generate", "constant", "model"):
            continue
        table = schema.tables[p.table]
        col = table.column(p.column)
        st = stats.get(p.table, {}).get(p.column, {})
        rng = column_rng(seed, p.table, p.column)
        n = len(frame)
        if p.action == "model":
            if p.column in frame and col.kind in ("text", "enum"):
                frame = frame.assign(**{p.column: _replace_rare(frame[p.column], rng, k_rare, st, col)})
                out[p.table] = frame
            continue
        if p.action == "constant":
            frame = frame.assign(**{p.column: pd.Series([st.get("constant")] * n, index=frame.index, dtype=object)})
            out[p.table] = frame
            continue
        values = pd.Series(generate(p.generator or "other", n, rng, col, st), index=frame.index, dtype=object)
        if col.kind == "text":
            values = fit_length(values, min(col.max_length or 1 << 30, st.get("len_max", 1 << 30) * 2))
        if p.column in _unique_columns(table) or p.column in table.primary_key:
            values = uniquify(values, col.max_length, "@" if p.generator == "email" else None)
        values[_null_mask(n, rng, col, st)] = None
        out[p.table] = frame.assign(**{p.column: values})
    return out
