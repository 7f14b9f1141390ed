"""The model file: everything a fit learns, as typed dataclasses, written and read with a checked format version.

A file is one safetensors file: named arrays, and the JSON metadata in its header. Reading one runs no code
(no pickle) and needs no torch, so sampling from a file starts in a fraction of a second.
The JSON holds the schema, the settings, one record per
table (`TableModel`) and per foreign key (`EdgeModel`), the fit statistics and the caller's `attachment`
(the pipeline keeps its own typed state there; the model never reads it). Arrays and network weights are
named `<kind>.<index>.<name>`. Each network is stored with the arguments that build it, so loading
needs no knowledge of how fitting chose its shape.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from clavadb.encoding import TableEncoder
from clavadb.errors import ModelRejected
from clavadb.model.clustering import LabelCodec
from clavadb.model.groups import SizeDist
from clavadb.model.net import Net
from clavadb.model.presets import Settings
from clavadb.model.space import DiffusionSpace
from clavadb.schema import Schema

FORMAT = "clavadb-model"
# 3: a safetensors file (2 was a torch.save of the same records: typed tables and edges, each network with
# its shape, the caller's state under "attachment"; 1 had "format": "clavadb-model/1" and an untyped
# "extra"). Older files are refused with a clear error.
VERSION = 3
META_KEY = "clavadb"  # the header metadata entry that holds the JSON


@dataclass
class EdgeModel:
    """What is learned for one foreign key (parent -> child)."""

    parent: str
    child: str
    fk: str
    deferred: bool  # a self-reference or the edge that breaks a cycle: assigned after sampling
    nullable: bool
    null_share: float = 0.0  # share of child rows without a parent (nullable FKs)
    sizes: SizeDist | None = None  # children per parent row, per cluster label
    n_labels: int = 1
    codec: LabelCodec | None = None  # label column on the parent (clava, non-deferred edges)
    label_dim: int | None = None  # index of that column in the parent's augmented rows
    classifier: Net | None = None  # p(c | child x_t) for classifier guidance
    head: Net | None = None  # label head p(c | parent row) on the parent (settings.label_head)
    agree_rate: float | None = None
    label_shares: list[float] | None = None  # share of each label among the real parent rows
    fixed_sizes: list[int] | None = None  # children of each given row, when the parent's rows are given

    @property
    def name(self) -> str:
        return f"{self.parent}->{self.child}.{self.fk}"


@dataclass
class TableModel:
    """What is learned for one table. Its augmented rows are the encoded columns followed by one label
    column per clustered child edge (`label_edges`)."""

    key: str
    columns: list[str]  # modeled columns, in order
    n_rows: int
    encoder: TableEncoder | None = None
    enc_dim: int = 0
    label_edges: list[int] = field(default_factory=list)  # edge indices whose label columns follow the encoding
    cond_edges: list[int] = field(default_factory=list)  # parent edges whose labels condition the denoiser
    # parent edges whose encoded parent row (then a 1: "known") is the denoiser's context, in this order
    ctx_edges: list[int] = field(default_factory=list)
    space: DiffusionSpace | None = None  # augmented row <-> diffusion space (one-hot blocks)
    denoiser: Net | None = None
    lo: np.ndarray | None = None  # per-dim range of the training rows in the diffusion space
    hi: np.ndarray | None = None
    # Rows given, not generated: a root table whose real augmented rows (label columns included) stand for
    # its synthetic rows at every scale, each keeping its cluster and so its children's group sizes.
    fixed_rows: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.enc_dim + len(self.label_edges)


@dataclass
class Artifact:
    """A fitted model as stored in a file."""

    schema: Schema
    preset: str
    method: str
    settings: Settings
    overrides: dict[str, Any]
    tables: dict[str, TableModel]
    edges: list[EdgeModel]
    stats: dict[str, Any]
    attachment: dict[str, Any]  # JSON-able state of the caller, saved and given back as is


def context_blocks(tm: TableModel, tables: dict[str, TableModel], edges: list[EdgeModel]) -> list[slice]:
    """Where each of `tm.ctx_edges` sits in the denoiser's context: its parent's encoded row, then a 1."""
    out, at = [], 0
    for ei in tm.ctx_edges:
        width = tables[edges[ei].parent].enc_dim + 1
        out.append(slice(at, at + width))
        at += width
    return out


def parent_context(tm: TableModel, tables: dict[str, TableModel], edges: list[EdgeModel], ei: int,
                   parent_rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The context of child rows whose parent on edge `ei` is row `pos` (-1: none) of `parent_rows` (the
    parent's augmented rows); the blocks of the other edges, and rows without a parent, are zero (unknown)."""
    blocks = context_blocks(tm, tables, edges)
    z = np.zeros((len(pos), blocks[-1].stop if blocks else 0), np.float32)
    if ei in tm.ctx_edges:
        b = blocks[tm.ctx_edges.index(ei)]
        has = pos >= 0
        z[has, b.start:b.stop - 1] = parent_rows[pos[has], :b.stop - 1 - b.start]
        z[has, b.stop - 1] = 1.0
    return z


def child_edges(edges: list[EdgeModel], key: str) -> list[int]:
    """Indices of the generated (non-deferred) edges whose parent is `key`."""
    return [i for i, e in enumerate(edges) if e.parent == key and not e.deferred]


def parent_edges(edges: list[EdgeModel], key: str) -> list[int]:
    """Indices of the generated (non-deferred) edges whose child is `key`."""
    return [i for i, e in enumerate(edges) if e.child == key and not e.deferred]


# -- write ---------------------------------------------------------------------------------------------

def save(art: Artifact, path: str | os.PathLike) -> None:
    """Write `art` to `path` (one file; see the module docstring for its layout)."""
    tensors: dict[str, np.ndarray] = {}
    tables = {key: _table_meta(ti, tm, tensors) for ti, (key, tm) in enumerate(art.tables.items())}
    edges = [_edge_meta(ei, e, tensors) for ei, e in enumerate(art.edges)]
    meta = {
        "format": FORMAT, "version": VERSION, "schema": art.schema.to_json(indent=None), "preset": art.preset,
        "method": art.method, "settings": art.settings.to_dict(), "overrides": art.overrides, "tables": tables,
        "edges": edges, "attachment": art.attachment, "stats": art.stats,
    }
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path),
              metadata={META_KEY: json.dumps(meta, default=_json_default)})


def _table_meta(ti: int, tm: TableModel, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    m: dict[str, Any] = {"columns": tm.columns, "n_rows": tm.n_rows, "enc_dim": tm.enc_dim,
                         "label_edges": tm.label_edges, "cond_edges": tm.cond_edges,
                         "ctx_edges": tm.ctx_edges, "encoder": None,
                         "encoder_arrays": [], "space": tm.space.state() if tm.space else None,
                         "denoiser": _net_meta(tm.denoiser, f"den.{ti}.", tensors),
                         "fixed": tm.fixed_rows is not None}
    if tm.fixed_rows is not None:
        tensors[f"fixed.{ti}"] = tm.fixed_rows
    if tm.encoder is not None:
        m["encoder"], arrays = tm.encoder.state()
        m["encoder_arrays"] = sorted(arrays)
        for name, a in arrays.items():
            tensors[f"enc.{ti}.{name}"] = np.asarray(a)
    if tm.denoiser is not None:
        tensors[f"lo.{ti}"] = np.asarray(tm.lo, np.float32)
        tensors[f"hi.{ti}"] = np.asarray(tm.hi, np.float32)
    return m


def _edge_meta(ei: int, e: EdgeModel, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    return {
        "parent": e.parent, "child": e.child, "fk": e.fk, "deferred": e.deferred, "nullable": e.nullable,
        "null_share": e.null_share, "sizes": e.sizes.state() if e.sizes else None, "n_labels": e.n_labels,
        "codec": e.codec.state() if e.codec else None, "label_dim": e.label_dim,
        "classifier": _net_meta(e.classifier, f"clf.{ei}.", tensors),
        "head": _net_meta(e.head, f"head.{ei}.", tensors), "agree_rate": e.agree_rate,
        "label_shares": e.label_shares, "fixed_sizes": e.fixed_sizes,
    }


def _net_meta(net: Net | None, prefix: str, tensors: dict[str, np.ndarray]) -> dict[str, Any] | None:
    if net is None:
        return None
    for name, a in net.state.items():
        tensors[prefix + name] = a
    return {"args": net.args, "prefix": prefix}


# -- read ----------------------------------------------------------------------------------------------

def load(path: str | os.PathLike) -> Artifact:
    """Read a model file written by `save`; a file of another format or version, or not of the checked shape, is a ModelRejected."""
    meta, tensors = read_raw(path)
    edges = [_edge(em, tensors) for em in meta["edges"]]
    tables = {key: _table(ti, key, m, tensors) for ti, (key, m) in enumerate(meta["tables"].items())}
    return Artifact(Schema.from_json(meta["schema"]), meta["preset"], meta["method"],
                    Settings.from_dict(meta["settings"]), meta["overrides"], tables, edges, meta["stats"],
                    meta["attachment"])


def read_raw(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON metadata and the named arrays of a model file: of this format and version, and of the shape
    `model_check.check_model` accepts (data only, every SQL fragment of its one shape), else a ModelRejected.
    Every reader goes through here, so no unchecked file reaches the model or a database."""
    from clavadb.model_check import check_model, strict_json

    retrain = "train a new model with `clavadb train SRC -o MODEL`"
    try:
        with safe_open(str(path), framework="numpy") as f:
            text = (f.metadata() or {})[META_KEY]
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is no mapping
    except (OSError, KeyError, TypeError, ValueError, SafetensorError) as exc:
        raise ModelRejected(f"cannot read model file {path}: {exc}", retrain) from exc
    meta = strict_json(text)
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if isinstance(fmt, str) and fmt.startswith(FORMAT + "/"):  # version 1 named its version in the format
        raise ModelRejected(f"{path} is a model file of an older clavadb (format version {fmt.split('/')[-1]}, "
                         f"this version reads {VERSION})", retrain)
    if fmt != FORMAT:
        raise ModelRejected(f"{path} is not a clavadb model file ({fmt!r})", retrain)
    if meta.get("version") != VERSION:
        raise ModelRejected(f"{path} has model file format version {meta.get('version')!r}; this clavadb reads "
                         f"version {VERSION}", f"use the clavadb that wrote it, or {retrain}")
    check_model(meta, tensors)
    return meta, tensors


def _edge(em: dict[str, Any], tensors: dict[str, np.ndarray]) -> EdgeModel:
    return EdgeModel(
        em["parent"], em["child"], em["fk"], em["deferred"], em["nullable"], em["null_share"],
        SizeDist.from_state(em["sizes"]) if em["sizes"] else None, em["n_labels"],
        LabelCodec.from_state(em["codec"]) if em["codec"] else None, em["label_dim"],
        classifier=_net(em["classifier"], tensors), head=_net(em["head"], tensors),
        agree_rate=em["agree_rate"], label_shares=em["label_shares"], fixed_sizes=em["fixed_sizes"])


def _table(ti: int, key: str, m: dict[str, Any], tensors: dict[str, np.ndarray]) -> TableModel:
    tm = TableModel(key, m["columns"], m["n_rows"], enc_dim=m["enc_dim"], label_edges=m["label_edges"],
                    cond_edges=m["cond_edges"], ctx_edges=m.get("ctx_edges", []),
                    denoiser=_net(m["denoiser"], tensors))
    if m["fixed"]:
        tm.fixed_rows = tensors[f"fixed.{ti}"]
    if m["encoder"] is not None:
        tm.encoder = TableEncoder.from_state(
            m["encoder"], {name: tensors[f"enc.{ti}.{name}"] for name in m["encoder_arrays"]})
    if m["space"] is not None:
        tm.space = DiffusionSpace.from_state(m["space"])
    if tm.denoiser is not None:
        tm.lo, tm.hi = tensors[f"lo.{ti}"], tensors[f"hi.{ti}"]
    return tm


def _net(nm: dict[str, Any] | None, tensors: dict[str, np.ndarray]) -> Net | None:
    if nm is None:
        return None
    prefix = nm["prefix"]
    return Net(nm["args"], {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-able: {type(o).__name__}")
