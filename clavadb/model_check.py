"""A model file is data, never code: checked on load before anything of it is used.

`check_model(meta, tensors)` holds the decoded file to its shape: strict JSON (no NaN or Infinity), every
schema field of its declared type, every SQL fragment of its one accepted shape (clavadb.sqlcheck),
counts non-negative integers, probabilities in [0, 1], every weight finite. A failure is one
ModelRejected ("model file rejected: ..."). Every read of a model file runs it (`artifact.read_raw`).
`load_model(path)` also checks the signature: with CLAVADB_MODEL_KEY set, `train` signs the file
(HMAC-SHA256 of its bytes, in MODEL.sig) and `sample` refuses a file whose signature is missing or does not
match.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
import os
import types
import typing
from pathlib import Path
from typing import Any

from clavadb.errors import ModelRejected
from clavadb.schema import (
    DomainType,
    EnumType,
    Schema,
    Sequence,
    Table,
)

KEY_ENV = "CLAVADB_MODEL_KEY"
_SCHEMA_PARTS = {"tables": Table, "enums": EnumType, "domains": DomainType, "sequences": Sequence}


def _reject_constant(name: str) -> Any:
    raise ModelRejected(f"the metadata holds {name}, which is not a number")


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity (Python's json accepts them by default)."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise ModelRejected(f"the metadata is not JSON ({e.msg} at {e.pos})") from None


# -- typed values ----------------------------------------------------------------------------------

def _matches(value: Any, hint: Any, where: str) -> None:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return
    if origin in (typing.Union, types.UnionType):
        errors = []
        for h in args:
            try:
                _matches(value, h, where)
                return
            except ModelRejected as e:
                errors.append(e)
        raise errors[-1]
    if hint is type(None):
        if value is not None:
            raise ModelRejected(f"{where} must be null")
        return
    if origin is list:
        if not isinstance(value, list):
            raise ModelRejected(f"{where} must be a list")
        for i, v in enumerate(value):
            _matches(v, args[0], f"{where}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise ModelRejected(f"{where} must be an object")
        for k, v in value.items():
            _matches(v, args[1], f"{where}.{k}")
        return
    if dataclasses.is_dataclass(hint):
        _dataclass(value, hint, where)
        return
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ModelRejected(f"{where} must be {getattr(hint, '__name__', hint)}, not {type(value).__name__}")


def _dataclass(value: Any, cls: type, where: str) -> None:
    if not isinstance(value, dict):
        raise ModelRejected(f"{where} must be an object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise ModelRejected(f"{where} has unknown field(s) {unknown}")
    for f in dataclasses.fields(cls):
        if f.name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ModelRejected(f"{where} lacks {f.name}")
            continue
        _matches(value[f.name], hints[f.name], f"{where}.{f.name}")


def _count(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelRejected(f"{where} must be a non-negative integer, not {value!r}"[:200])


def _share(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ModelRejected(f"{where} must be a share from 0 to 1, not {value!r}"[:200])


# -- the parts of a model file ---------------------------------------------------------------------

# the engines a schema may come from: the native adapters and the dialects of the SQLAlchemy adapter
SCHEMA_ENGINES = ("postgresql", "duckdb", "sqlite", "mysql", "mariadb")


def check_schema_dict(d: Any) -> Schema:
    """The schema a model file carries: typed field by field, then its SQL fragments parsed."""
    from clavadb.sqlcheck import schema_problems

    if not isinstance(d, dict) or d.get("engine") not in SCHEMA_ENGINES:
        raise ModelRejected("the schema is missing or of an unknown engine")
    unknown = sorted(set(d) - {"engine", "schemas", *_SCHEMA_PARTS})
    if unknown:
        raise ModelRejected(f"the schema has unknown field(s) {unknown}")
    _matches(d.get("schemas", []), list[str], "schema.schemas")
    for part, cls in _SCHEMA_PARTS.items():
        _matches(d.get(part, {}), dict[str, cls], f"schema.{part}")
    for key, t in d.get("tables", {}).items():
        _count(t.get("row_count", 0), f"table {key} row_count")
    schema = Schema.from_dict(d)
    for s in schema.sequences.values():
        if s.increment == 0:
            raise ModelRejected(f"sequence {s.name} has increment 0")
    problems = schema_problems(schema)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ModelRejected(problems[0] + more, "only use model files made by `clavadb train`")
    return schema


def _check_tables(tables: Any, n_edges: int) -> None:
    if not isinstance(tables, dict):
        raise ModelRejected("tables must be an object")
    for key, m in tables.items():
        where = f"table {key}"
        if not isinstance(m, dict):
            raise ModelRejected(f"{where} must be an object")
        _count(m.get("n_rows"), f"{where} n_rows")
        _count(m.get("enc_dim"), f"{where} enc_dim")
        _matches(m.get("columns"), list[str], f"{where} columns")
        for name in ("label_edges", "cond_edges", "ctx_edges"):
            if name == "ctx_edges" and name not in m:  # files written before parent contexts
                continue
            _matches(m.get(name), list[int], f"{where} {name}")
            if any(not 0 <= e < n_edges for e in m[name]):
                raise ModelRejected(f"{where} {name} points at edges that do not exist")
        _matches(m.get("fixed", False), bool, f"{where} fixed")
        _matches(m.get("encoder_arrays", []), list[str], f"{where} encoder_arrays")


def _check_edges(edges: Any) -> None:
    _matches(edges, list[dict[str, Any]], "edges")
    for i, e in enumerate(edges):
        where = f"edge {i}"
        _count(e.get("n_labels"), f"{where} n_labels")
        _share(e.get("null_share", 0.0), f"{where} null_share")
        if e.get("agree_rate") is not None:
            _share(e["agree_rate"], f"{where} agree_rate")
        sizes = e.get("sizes")
        if sizes is not None:
            _matches(sizes, dict[str, list[list[Any]]], f"{where} sizes")
            for j, group in enumerate(sizes.get("sizes", [])):
                for v in group:
                    _count(v, f"{where} group size {j}")
            for j, probs in enumerate(sizes.get("probs", [])):
                for v in probs:
                    _share(v, f"{where} size probability {j}")
        for v in e.get("label_shares") or []:
            _share(v, f"{where} label share")
        for v in e.get("fixed_sizes") or []:
            _count(v, f"{where} fixed size")


_NET_ARGS = {"d_in": int, "d_out": int, "layers": list[int], "dim_t": int, "dropout": float,
             "n_cond": list[int] | None}
_NET_OPTIONAL = {"d_ctx": int}  # present only in networks that take a context


def _nets(meta: dict) -> list[tuple[str, Any]]:
    """(where, network record) of every network the file declares: True/False in format 1, a record with
    the network's arguments and tensor prefix in format 2."""
    out = [(f"table {k} denoiser", m.get("denoiser")) for k, m in meta["tables"].items()]
    for i, e in enumerate(meta["edges"]):
        out += [(f"edge {i} classifier", e.get("classifier")), (f"edge {i} head", e.get("head"))]
    return out


def _net_shapes(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of `diffusion.TimeMLP(**args)`, without building it."""
    t = args["dim_t"]
    out: dict[str, tuple[int, ...]] = {f"cond.{j}.weight": (n + 1, t) for j, n in enumerate(args["n_cond"] or [])}
    if args.get("d_ctx"):
        out |= {"ctx.weight": (t, args["d_ctx"]), "ctx.bias": (t,)}
    out |= {"proj.weight": (t, args["d_in"]), "proj.bias": (t,), "time_embed.0.weight": (t, t),
            "time_embed.0.bias": (t,), "time_embed.2.weight": (t, t), "time_embed.2.bias": (t,)}
    i, d = 0, t
    for w in args["layers"]:  # Linear, SiLU[, Dropout] per layer, then the output Linear
        out |= {f"mlp.{i}.weight": (w, d), f"mlp.{i}.bias": (w,)}
        i, d = i + (3 if args["dropout"] else 2), w
    return out | {f"mlp.{i}.weight": (args["d_out"], d), f"mlp.{i}.bias": (args["d_out"],)}


def _check_net(where: str, nm: Any, tensors: dict) -> None:
    """A network record: its arguments typed and in range, and the shapes they build equal to the stored
    weights' (computed from the arguments: a record cannot make the loader allocate)."""
    if nm is None or isinstance(nm, bool):
        return
    _matches(nm, dict[str, Any], where)
    if set(nm) != {"args", "prefix"} or not isinstance(nm["prefix"], str):
        raise ModelRejected(f"{where} is not a network record")
    args = nm["args"]
    _matches(args, dict[str, Any], f"{where} args")
    if not set(_NET_ARGS) <= set(args) <= set(_NET_ARGS) | set(_NET_OPTIONAL):
        raise ModelRejected(f"{where} args are {sorted(args)}, not {sorted(_NET_ARGS)}")
    for k, hint in (_NET_ARGS | _NET_OPTIONAL).items():
        if k in args:
            _matches(args[k], hint, f"{where} {k}")
    sizes = [args["d_in"], args["d_out"], args["dim_t"], *args["layers"], *(args["n_cond"] or []),
             args.get("d_ctx", 0)]
    if any(v < 0 for v in sizes) or min(args["d_in"], args["d_out"], args["dim_t"]) < 1 \
            or not 0 <= args["dropout"] < 1:
        raise ModelRejected(f"{where} has sizes out of range")
    want = {nm["prefix"] + k: v for k, v in _net_shapes(args).items()}
    have = {k: tuple(t.shape) for k, t in tensors.items() if k.startswith(nm["prefix"])}
    if want != have:
        raise ModelRejected(f"{where}: its weights do not have the shapes its arguments give")


def _check_extra(extra: Any) -> None:
    """The pipeline's state (format 1: "extra", format 2: "attachment")."""
    if not isinstance(extra, dict):
        raise ModelRejected("the sampling plan must be an object")
    _matches(extra.get("plans", []), list[dict[str, Any]], "plans")
    for i, p in enumerate(extra.get("plans", [])):
        for k in ("table", "column", "action"):
            _matches(p.get(k), str, f"plan {i} {k}")
    if "rare_k" in extra:
        _count(extra["rare_k"], "rare_k")
    for key, fps in (extra.get("fingerprints") or {}).items():
        _matches(fps, list[int], f"row hashes of {key}")
        if any(v < 0 or v >= 2**64 for v in fps):
            raise ModelRejected(f"row hashes of {key} are not 64-bit")
    _matches(extra.get("notes", []), list[str], "notes")
    _matches(extra.get("source_fingerprints", []), list[str], "source fingerprints")


def check_tensors(tensors: Any) -> None:
    import numpy as np

    if not isinstance(tensors, dict):
        raise ModelRejected("the tensors are not a mapping")
    for name, t in tensors.items():
        if not isinstance(name, str) or not isinstance(t, np.ndarray):
            raise ModelRejected(f"tensor {str(name)[:40]!r} is not an array")
        if np.issubdtype(t.dtype, np.floating) and not bool(np.isfinite(t).all()):
            raise ModelRejected(f"tensor {name} holds NaN or infinite weights")


def check_model(meta: Any, tensors: Any) -> Schema:
    """Raise ModelRejected unless the decoded file is a model of the expected shape; returns its schema."""
    if not isinstance(meta, dict):
        raise ModelRejected("the metadata is not an object")
    schema_text = meta.get("schema")
    if not isinstance(schema_text, str):
        raise ModelRejected("the metadata has no schema")
    schema = check_schema_dict(strict_json(schema_text))
    for k in ("preset", "method"):
        _matches(meta.get(k), str, k)
    _matches(meta.get("settings"), dict[str, Any], "settings")
    for k, v in meta["settings"].items():
        if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
            raise ModelRejected(f"setting {k} = {v} is negative")
    edges = meta.get("edges")
    _check_edges(edges)
    _check_tables(meta.get("tables"), len(edges))
    if set(meta["tables"]) != set(schema.tables):
        raise ModelRejected("the model's tables differ from its schema's")
    _check_extra(meta.get("attachment", meta.get("extra")))
    check_tensors(tensors)
    for where, nm in _nets(meta):
        _check_net(where, nm, tensors)
    return schema


# -- signatures ------------------------------------------------------------------------------------

def signature_path(path: str | os.PathLike) -> Path:
    return Path(f"{path}.sig")


def _digest(path: str | os.PathLike, key: str) -> str:
    mac = hmac.new(key.encode(), digestmod=hashlib.sha256)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            mac.update(block)
    return mac.hexdigest()


def sign(path: str | os.PathLike, key: str | None = None) -> Path | None:
    """Write MODEL.sig (HMAC-SHA256 of the file with CLAVADB_MODEL_KEY); None when no key is set."""
    key = key if key is not None else os.environ.get(KEY_ENV)
    if not key:
        return None
    sig = signature_path(path)
    sig.write_text(_digest(path, key) + "\n")
    return sig


def verify(path: str | os.PathLike, key: str | None = None) -> bool:
    """With a key set: raise ModelRejected unless MODEL.sig matches. Returns whether a signature was checked."""
    key = key if key is not None else os.environ.get(KEY_ENV)
    if not key:
        return False
    sig = signature_path(path)
    if not sig.is_file():
        raise ModelRejected(f"{KEY_ENV} is set and {sig} is missing",
                            "sign the model with the key (train with it set), or unset the key")
    if not hmac.compare_digest(sig.read_text().strip(), _digest(path, key)):
        raise ModelRejected(f"the signature {sig} does not match the file and {KEY_ENV}",
                            "the file was changed after training, or was signed with another key")
    return True


# -- load ------------------------------------------------------------------------------------------

def load_model(path: str | os.PathLike):
    """A model file's Synthesizer: its signature verified (when CLAVADB_MODEL_KEY is set), the file checked
    (`artifact.read_raw` runs `check_model` for every reader) and built; any failure is a ModelRejected."""
    from clavadb.model import Synthesizer

    verify(path)
    try:
        return Synthesizer.load(path)
    except ModelRejected:
        raise
    except Exception as e:  # noqa: BLE001 - the checks passed, yet the file does not build a model
        raise ModelRejected(f"{path} does not build a model ({type(e).__name__}: {str(e)[:120]})") from None
