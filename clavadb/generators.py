"""Value generators for columns that are not modeled: names, addresses, phones, codes, text, UUIDs, ...

Faker's word lists combined with numpy, never Faker's per-value calls (about 0.3 ms each): 100k values of
a column take a fraction of a second. Every generator takes a seeded numpy Generator, so output is
deterministic by seed.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from faker.providers.address.en_US import Provider as _Address
from faker.providers.company.en_US import Provider as _Company
from faker.providers.lorem.en_US import Provider as _Lorem
from faker.providers.person.en_US import Provider as _Person

from clavadb.schema import Column

SHAPE_GENERATORS = {"phone", "postal_code", "iban", "ssn", "credit_card", "token"}
_DOMAINS = np.array(["example.com", "example.org", "example.net", "mail.example.com"], dtype=object)

_SHAPE_TABLE = {i: ("9" if chr(i).isdigit() else "A" if chr(i).isupper() else "a" if chr(i).islower() else None)
                for i in range(0x250)}
_SHAPE_TABLE = {k: v for k, v in _SHAPE_TABLE.items() if v}


def shape_of(values: pd.Series) -> pd.Series:
    """Digits -> 9, capitals -> A, lower-case letters -> a (Latin scripts); punctuation and spaces kept."""
    return values.str.translate(_SHAPE_TABLE)


def stable_salt(*names: str) -> str:
    """A 16-character hash key fixed by the names it is for. The salt is stored beside the buckets it made,
    so a random one would hide nothing; a fixed one keeps training deterministic."""
    return hashlib.blake2b("\x1f".join(names).encode(), digest_size=8).hexdigest()


def hash_buckets(values: pd.Series | np.ndarray, salt: str, bits: int) -> np.ndarray:
    """Salted hashes cut to `bits` bits: a set of them tells whether a value may be a real one, never which."""
    h = pd.util.hash_array(np.asarray(values, dtype=object), hash_key=salt)
    return (h & np.uint64((1 << bits) - 1)).astype(np.int64)

def column_rng(seed: int, *names: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])


def weights(d: Mapping) -> tuple[np.ndarray, np.ndarray]:
    vals = np.array(list(d.keys()), dtype=object)
    w = np.array(list(d.values()), dtype=float)
    return vals, w / w.sum()


_FIRST, _FIRST_W = weights(_Person.first_names)
_LAST, _LAST_W = weights(_Person.last_names)
_WORDS = np.array(_Lorem.word_list, dtype=object)


def choice(pool: np.ndarray, n: int, rng: np.random.Generator, p: np.ndarray | None = None) -> np.ndarray:
    return pool[rng.choice(len(pool), size=n, p=p)] if len(pool) else np.full(n, "", dtype=object)


def _pick(pool: Any, n: int, rng: np.random.Generator) -> pd.Series:
    return pd.Series(choice(np.asarray(pool, dtype=object), n, rng), dtype=object)


def _first(n: int, rng: np.random.Generator) -> pd.Series:
    return pd.Series(choice(_FIRST, n, rng, _FIRST_W), dtype=object)


def _last(n: int, rng: np.random.Generator) -> pd.Series:
    return pd.Series(choice(_LAST, n, rng, _LAST_W), dtype=object)


def _either(a: pd.Series, b: pd.Series, p: float, rng: np.random.Generator) -> pd.Series:
    return a.where(rng.random(len(a)) < p, b)


# Faker's own word lists combined with numpy: Faker's per-value calls cost ~0.3 ms each.
def _street_address(n: int, rng: np.random.Generator) -> pd.Series:
    number = pd.Series(rng.integers(1, 99999, n).astype(str), dtype=object)
    street = number + " " + _either(_first(n, rng), _last(n, rng), 0.5, rng) + " " + _pick(
        _Address.street_suffixes, n, rng)
    unit = _either(pd.Series("Apt. ", index=range(n)), pd.Series("Suite ", index=range(n)), 0.5, rng)
    unit = unit + pd.Series(rng.integers(1, 999, n).astype(str), dtype=object)
    return _either(street + " " + unit, street, 0.2, rng)


def _company(n: int, rng: np.random.Generator) -> pd.Series:
    one = _last(n, rng) + " " + _pick(_Company.company_suffixes, n, rng)
    two = _last(n, rng) + "-" + _last(n, rng)
    three = _last(n, rng) + ", " + _last(n, rng) + " and " + _last(n, rng)
    return _either(one, _either(two, three, 0.5, rng), 0.5, rng)


def _city(n: int, rng: np.random.Generator) -> pd.Series:
    named = _either(_first(n, rng), _last(n, rng), 0.5, rng) + _pick(_Address.city_suffixes, n, rng)
    return _either(_pick(_Address.city_prefixes, n, rng) + " " + named, named, 0.3, rng)


def fill_shape(shapes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace 9 / A / a in each shape string by a random digit / capital / lower-case letter."""
    out = np.empty(len(shapes), dtype=object)
    for shape in pd.unique(shapes):
        rows = np.flatnonzero(shapes == shape)
        cp = np.frombuffer(shape.encode("utf-32-le"), dtype=np.uint32)
        if cp.size == 0:
            out[rows] = ""
            continue
        grid = np.tile(cp, (len(rows), 1))
        lead = np.r_[False, cp[:-1] == ord("+")] & (cp == ord("9"))  # "+0..." is no country code
        for mask, lo, span in ((lead, 49, 9), ((cp == ord("9")) & ~lead, 48, 10), (cp == ord("A"), 65, 26),
                               (cp == ord("a"), 97, 26)):
            if mask.any():
                grid[:, mask] = lo + rng.integers(0, span, size=(len(rows), int(mask.sum())))
        out[rows] = np.ascontiguousarray(grid).view(f"<U{cp.size}").ravel().astype(object)
    return out


_DEFAULT_SHAPES = {"phone": {"+9 (999) 999-9999": 1.0}, "postal_code": {"99999": 1.0},
                   "iban": {"AA99999999999999999999": 1.0}, "ssn": {"999-99-9999": 1.0},
                   "credit_card": {"9999 9999 9999 9999": 1.0}, "token": {"aaaa9999aaaa9999": 1.0}}


def words(n: int, rng: np.random.Generator, st: Mapping) -> np.ndarray:
    """Lorem words with the real per-value word-count distribution, capitalised like the real values."""
    q = st.get("words_q") or [1, 2, 3]
    counts = np.maximum(1, np.rint(np.interp(rng.random(n), np.linspace(0, 1, len(q)), q))).astype(int)
    kmax = int(counts.max()) if n else 1
    grid = _WORDS[rng.integers(0, len(_WORDS), size=(n, kmax))]
    out = grid[:, 0].copy()
    for j in range(1, kmax):
        more = counts > j
        out[more] = out[more] + " " + grid[more, j]
    s = pd.Series(out, dtype=object)
    title = rng.random(n) < st.get("title_rate", 1.0)
    s[title] = s[title].str.title() if st.get("period_rate", 0) < 0.5 else s[title].str.capitalize()
    period = rng.random(n) < st.get("period_rate", 0.0)
    s[period] = s[period] + "."
    return s.to_numpy(dtype=object)


def _digits(n: int, rng: np.random.Generator, k: int) -> np.ndarray:
    return fill_shape(np.full(n, "9" * k, dtype=object), rng)


def generate(gen: str, n: int, rng: np.random.Generator, col: Column, st: Mapping) -> np.ndarray:
    """n values of generator `gen` for column `col`; `st` is the column's entry of privacy.column_stats."""
    if gen == "first_name":
        return choice(_FIRST, n, rng, _FIRST_W)
    if gen == "last_name":
        return choice(_LAST, n, rng, _LAST_W)
    if gen == "full_name":
        return choice(_FIRST, n, rng, _FIRST_W) + " " + choice(_LAST, n, rng, _LAST_W)
    if gen == "user_name":
        return (pd.Series(choice(_FIRST, n, rng, _FIRST_W)).str.lower() + "_"
                + pd.Series(_digits(n, rng, 3))).to_numpy(dtype=object)
    if gen == "email":
        local = (pd.Series(choice(_FIRST, n, rng, _FIRST_W)) + "." + pd.Series(choice(_LAST, n, rng, _LAST_W)))
        return (local.str.lower() + "@" + pd.Series(choice(_DOMAINS, n, rng))).to_numpy(dtype=object)
    if gen in SHAPE_GENERATORS:
        shapes, p = weights(st.get("shapes") or _DEFAULT_SHAPES[gen])
        return fill_shape(choice(shapes, n, rng, p), rng)
    if gen == "ipv4":
        octets = rng.integers([1, 0, 0, 1], [224, 256, 256, 255], size=(n, 4)).astype(str)
        return pd.Series(octets[:, 0], dtype=object).str.cat(
            [pd.Series(octets[:, i], dtype=object) for i in (1, 2, 3)], sep=".").to_numpy(dtype=object)
    if gen == "url":
        return ("https://www." + pd.Series(choice(_WORDS, n, rng)) + ".example.com/"
                + pd.Series(choice(_WORDS, n, rng))).to_numpy(dtype=object)
    if gen in ("street_address", "company", "city"):
        return {"street_address": _street_address, "company": _company, "city": _city}[gen](n, rng).to_numpy(
            dtype=object)
    if gen in ("state", "country"):
        return choice(np.asarray(_Address.states if gen == "state" else _Address.countries, dtype=object), n, rng)
    if gen in ("text", "shaped_text"):
        return words(n, rng, st)
    if gen == "uuid":
        return uuid_strings(n, rng)
    if gen == "json":
        keys = st.get("json_keys") or ["id"]
        vals = rng.integers(0, 1000, size=(n, len(keys)))
        return np.array([json.dumps(dict(zip(keys, map(int, row), strict=True))) for row in vals], dtype=object)
    if gen == "bytes":
        lo, hi = st.get("len_min", 8), min(st.get("len_max", 32), 4096)
        lengths = rng.integers(lo, max(lo, hi) + 1, size=n)
        blob = rng.bytes(int(lengths.sum()))
        ends = np.cumsum(lengths)
        return np.array([blob[e - k:e] for e, k in zip(ends, lengths, strict=True)], dtype=object)
    if gen == "array":
        lo, hi = st.get("len_min", 0), st.get("len_max", 3)
        lengths = rng.integers(lo, max(lo, hi) + 1, size=n)
        flat = choice(np.asarray(_element_pool(col.element_kind), dtype=object), int(lengths.sum()), rng)
        out = np.empty(n, dtype=object)  # filled one by one: arrays of one length would make a 2-d array
        for i, part in enumerate(np.split(flat, np.cumsum(lengths)[:-1]) if n else []):
            out[i] = part.tolist()
        return out
    if gen == "interval":
        return pd.to_timedelta(rng.uniform(st.get("min", 0.0), st.get("max", 86400.0), n).round(), unit="s"
                               ).to_numpy(dtype=object)
    # an unknown kind: NULL where allowed, else an empty value of text form
    return np.full(n, None if col.nullable else "", dtype=object)


def _element_pool(kind: str | None) -> np.ndarray:
    """Plausible elements of a generated array, of the element's kind (the destination casts them)."""
    if kind == "bool":
        return np.array([True, False], dtype=object)
    if kind in ("int", "float", "decimal"):
        return np.arange(1000)  # small non-negative numbers fit every numeric element type
    if kind in ("date", "timestamp", "timestamptz"):
        # the days of one year, as ISO dates: every date and timestamp type reads them
        return (np.datetime64("2020-01-01") + np.arange(366)).astype(str).astype(object)
    return _WORDS


_HEX = np.array([f"{i:02x}" for i in range(256)])


def uuid_strings(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random (version 4) UUIDs in canonical text form, from the seeded generator."""
    b = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    h = pd.Series(np.ascontiguousarray(_HEX[b]).view("<U32").ravel() if n else [], dtype=object)
    return (h.str[:8] + "-" + h.str[8:12] + "-" + h.str[12:16] + "-" + h.str[16:20] + "-"
            + h.str[20:]).to_numpy(dtype=object)


def uniquify(values: pd.Series, max_len: int | None = None, at: str | None = None) -> pd.Series:
    """Make non-null values unique by appending a counter (before the first `at`, e.g. "@"),
    keeping within max_len characters."""
    s = values.astype(object).copy()
    for r in range(20):
        dup = s.duplicated(keep="first") & s.notna()
        if not dup.any():
            return s
        d = s[dup].astype(str)
        k = d.groupby(d).cumcount() + 1 + r * len(s)
        suffix = k.astype(str)
        head, tail = (d, pd.Series("", index=d.index)) if at is None else (
            d.str.split(at, n=1).str[0], at + d.str.split(at, n=1).str[1].fillna(""))
        if max_len:
            head = pd.Series([h[:max(0, max_len - len(x) - len(t))] for h, x, t in
                              zip(head, suffix, tail, strict=True)], index=d.index)
        s[dup] = head + suffix + tail
    raise ValueError("could not make values unique")


def fit_length(s: pd.Series, limit: int | None) -> pd.Series:
    """Cut values longer than `limit` characters, at a word boundary where there is one."""
    if not limit:
        return s
    long = s.notna() & (s.astype("string").str.len() > limit)
    if not long.any():
        return s
    out = s.astype(object).copy()
    cut = s[long].astype(str).str.slice(0, limit + 1).str.rsplit(" ", n=1).str[0].str.rstrip(" ,.;-")
    cut = cut.where(cut.str.len().between(1, limit), s[long].astype(str).str.slice(0, limit))
    out[long] = cut
    return out
