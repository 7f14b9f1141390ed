"""The model file: everything a fit learns, as typed dataclasses, written and read with a checked format version.

A file is one `torch.save` of {"meta": JSON text, "tensors": {name: tensor}}, read back with
`weights_only=True` (no pickled code runs on load). The JSON holds the schema, the settings, one record per
table (`TableModel`) and per foreign key (`EdgeModel`), the fit statistics and the caller's `attachment`
(the pipeline keeps its own typed state there; the model never reads it). Arrays and network weights are
tensors named `<kind>.<index>.<name>`. Each network is stored with the arguments that build it, so loading
needs no knowledge of how fitting chose its shape.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from clavadb.encoding import TableEncoder
from clavadb.errors import ClavaError
from clavadb.model.clustering import LabelCodec
from clavadb.model.diffusion import TimeMLP
from clavadb.model.groups import SizeDist
from clavadb.model.presets import Settings
from clavadb.model.space import DiffusionSpace
from clavadb.schema import Schema

FORMAT = "clavadb-model"
# 2: typed tables and edges, each network stored with its shape, the caller's state under "attachment".
# 1 had "format": "clavadb-model/1" and an untyped "extra"; it is refused with a clear error.
VERSION = 2


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
    classifier: TimeMLP | None = None  # p(c | child x_t) for classifier guidance
    head: TimeMLP | None = None  # label head p(c | parent row) on the parent (settings.label_head)
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
    space: DiffusionSpace | None = None  # augmented row <-> diffusion space (one-hot blocks)
    denoiser: TimeMLP | None = None
    lo: torch.Tensor | None = None  # per-dim range of the training rows in the diffusion space
    hi: torch.Tensor | None = None
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


def child_edges(edges: list[EdgeModel], key: str) -> list[int]:
    """Indices of the generated (non-deferred) edges whose parent is `key`."""
    return [i for i, e in enumerate(edges) if e.parent == key and not e.deferred]


def parent_edges(edges: list[EdgeModel], key: str) -> list[int]:
    """Indices of the generated (non-deferred) edges whose child is `key`."""
    return [i for i, e in enumerate(edges) if e.child == key and not e.deferred]


# -- write ---------------------------------------------------------------------------------------------

def save(art: Artifact, path: str | os.PathLike) -> None:
    """Write `art` to `path` (one file; see the module docstring for its layout)."""
    tensors: dict[str, torch.Tensor] = {}
    tables = {key: _table_meta(ti, tm, tensors) for ti, (key, tm) in enumerate(art.tables.items())}
    edges = [_edge_meta(ei, e, tensors) for ei, e in enumerate(art.edges)]
    meta = {
        "format": FORMAT, "version": VERSION, "schema": art.schema.to_json(indent=None), "preset": art.preset,
        "method": art.method, "settings": art.settings.to_dict(), "overrides": art.overrides, "tables": tables,
        "edges": edges, "attachment": art.attachment, "stats": art.stats,
    }
    torch.save({"meta": json.dumps(meta, default=_json_default), "tensors": tensors}, str(path))


def _table_meta(ti: int, tm: TableModel, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    m: dict[str, Any] = {"columns": tm.columns, "n_rows": tm.n_rows, "enc_dim": tm.enc_dim,
                         "label_edges": tm.label_edges, "cond_edges": tm.cond_edges, "encoder": None,
                         "encoder_arrays": [], "space": tm.space.state() if tm.space else None,
                         "denoiser": _net_meta(tm.denoiser, f"den.{ti}.", tensors),
                         "fixed": tm.fixed_rows is not None}
    if tm.fixed_rows is not None:
        tensors[f"fixed.{ti}"] = torch.from_numpy(tm.fixed_rows)
    if tm.encoder is not None:
        m["encoder"], arrays = tm.encoder.state()
        m["encoder_arrays"] = sorted(arrays)
        for name, a in arrays.items():
            tensors[f"enc.{ti}.{name}"] = torch.from_numpy(np.ascontiguousarray(a))
    if tm.denoiser is not None:
        tensors[f"lo.{ti}"] = tm.lo.cpu()
        tensors[f"hi.{ti}"] = tm.hi.cpu()
    return m


def _edge_meta(ei: int, e: EdgeModel, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    return {
        "parent": e.parent, "child": e.child, "fk": e.fk, "deferred": e.deferred, "nullable": e.nullable,
        "null_share": e.null_share, "sizes": e.sizes.state() if e.sizes else None, "n_labels": e.n_labels,
        "codec": e.codec.state() if e.codec else None, "label_dim": e.label_dim,
        "classifier": _net_meta(e.classifier, f"clf.{ei}.", tensors),
        "head": _net_meta(e.head, f"head.{ei}.", tensors), "agree_rate": e.agree_rate,
        "label_shares": e.label_shares, "fixed_sizes": e.fixed_sizes,
    }


def _net_meta(net: TimeMLP | None, prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    if net is None:
        return None
    for name, t in net.state_dict().items():
        tensors[prefix + name] = t.detach().cpu()
    return {"args": net.args, "prefix": prefix}


# -- read ----------------------------------------------------------------------------------------------

def load(path: str | os.PathLike, device: torch.device) -> Artifact:
    """Read a model file written by `save`; a file of another format or version is a ClavaError."""
    meta, tensors = _read(path)
    edges = [_edge(em, tensors, device) for em in meta["edges"]]
    tables = {key: _table(ti, key, m, tensors, device) for ti, (key, m) in enumerate(meta["tables"].items())}
    return Artifact(Schema.from_json(meta["schema"]), meta["preset"], meta["method"],
                    Settings.from_dict(meta["settings"]), meta["overrides"], tables, edges, meta["stats"],
                    meta["attachment"])


def _read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    retrain = "train a new model with `clavadb train SRC -o MODEL`"
    try:
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
        meta = json.loads(blob["meta"])
        tensors: dict[str, torch.Tensor] = blob["tensors"]
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise ClavaError(f"cannot read model file {path}: {exc}", retrain) from exc
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if isinstance(fmt, str) and fmt.startswith(FORMAT + "/"):  # version 1 named its version in the format
        raise ClavaError(f"{path} is a model file of an older clavadb (format version {fmt.split('/')[-1]}, "
                         f"this version reads {VERSION})", retrain)
    if fmt != FORMAT:
        raise ClavaError(f"{path} is not a clavadb model file ({fmt!r})", retrain)
    if meta.get("version") != VERSION:
        raise ClavaError(f"{path} has model file format version {meta.get('version')!r}; this clavadb reads "
                         f"version {VERSION}", f"use the clavadb that wrote it, or {retrain}")
    return meta, tensors


def _edge(em: dict[str, Any], tensors: dict[str, torch.Tensor], device: torch.device) -> EdgeModel:
    return EdgeModel(
        em["parent"], em["child"], em["fk"], em["deferred"], em["nullable"], em["null_share"],
        SizeDist.from_state(em["sizes"]) if em["sizes"] else None, em["n_labels"],
        LabelCodec.from_state(em["codec"]) if em["codec"] else None, em["label_dim"],
        classifier=_net(em["classifier"], tensors, device), head=_net(em["head"], tensors, device),
        agree_rate=em["agree_rate"], label_shares=em["label_shares"], fixed_sizes=em["fixed_sizes"])


def _table(ti: int, key: str, m: dict[str, Any], tensors: dict[str, torch.Tensor], device: torch.device
           ) -> TableModel:
    tm = TableModel(key, m["columns"], m["n_rows"], enc_dim=m["enc_dim"], label_edges=m["label_edges"],
                    cond_edges=m["cond_edges"], denoiser=_net(m["denoiser"], tensors, device))
    if m["fixed"]:
        tm.fixed_rows = tensors[f"fixed.{ti}"].numpy()
    if m["encoder"] is not None:
        tm.encoder = TableEncoder.from_state(
            m["encoder"], {name: tensors[f"enc.{ti}.{name}"].numpy() for name in m["encoder_arrays"]})
    if m["space"] is not None:
        tm.space = DiffusionSpace.from_state(m["space"])
    if tm.denoiser is not None:
        tm.lo, tm.hi = tensors[f"lo.{ti}"].to(device), tensors[f"hi.{ti}"].to(device)
    return tm


def _net(nm: dict[str, Any] | None, tensors: dict[str, torch.Tensor], device: torch.device) -> TimeMLP | None:
    if nm is None:
        return None
    net = TimeMLP(**nm["args"])
    prefix = nm["prefix"]
    net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    return net.to(device).eval()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-able: {type(o).__name__}")
