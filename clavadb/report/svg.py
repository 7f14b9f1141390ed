"""Small inline-SVG charts for the HTML report: paired bars, heatmaps, the FK graph. No plotting library."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

import networkx as nx
import numpy as np

REAL = "#3b6fb6"
SYNTH = "#e8892b"


def _svg(w: int, h: int, body: str) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">{body}</svg>'


def score_color(score: float | None) -> str:
    """Green at 100, yellow near 90, red at 75 and below."""
    if score is None:
        return "#ddd"
    t = max(0.0, min(1.0, (score - 75.0) / 25.0))
    if t > 0.6:
        u = (t - 0.6) / 0.4
        r, g, b = 250 - 160 * u, 220 - 10 * u, 110 - 10 * u
    else:
        u = t / 0.6
        r, g, b = 220 + 30 * u, 70 + 150 * u, 70 + 40 * u
    return f"rgb({r:.0f},{g:.0f},{b:.0f})"


def short(label: str, n: int = 14) -> str:
    """A label cut to n characters, keeping its end (labels sharing a long prefix stay apart)."""
    return label if len(label) <= n else label[: n - 5] + "\u2026" + label[-4:]


def paired_bars(labels: list[str], real: list[float], synth: list[float], *, w: int = 300, h: int = 150,
                rotate: bool = False) -> str:
    """Real (blue) and synthetic (orange) frequencies side by side per category label. Rotated labels
    get room on the left and below, so none is cut off; each bar's full label is in its tooltip."""
    n = max(len(labels), 1)
    top = max([*real, *synth, 1e-9])
    texts = [short(str(lab)) for lab in labels]
    longest = max([len(t) for t in texts] + [1])
    pad_b = int(12 + 4.3 * longest) if rotate else 16  # a rotated label's drop at 9px per ~5.4px glyph
    pad_l = int(4 + 4.1 * longest) if rotate else 4  # and its reach to the left of its bar
    h = h + max(0, pad_b - 46)
    ph = h - pad_b - 6
    bw = (w - pad_l - 4) / n
    body = [f'<line x1="{pad_l}" y1="{h - pad_b}" x2="{w - 4}" y2="{h - pad_b}" stroke="#999"/>']
    for i, (lab, r, s) in enumerate(zip(labels, real, synth, strict=False)):
        x = pad_l + i * bw
        for j, (v, col) in enumerate(((r, REAL), (s, SYNTH))):
            bh = ph * v / top
            body.append(f'<rect x="{x + bw * (0.1 + 0.4 * j):.1f}" y="{h - pad_b - bh:.1f}" width="{bw * 0.4:.1f}" '
                        f'height="{bh:.1f}" fill="{col}"><title>{escape(str(lab))}: '
                        f'{"real" if j == 0 else "synthetic"} {v:.3f}</title></rect>')
        text = escape(texts[i])
        if rotate:
            body.append(f'<text x="{x + bw / 2:.1f}" y="{h - pad_b + 10}" font-size="9" text-anchor="end" '
                        f'transform="rotate(-40 {x + bw / 2:.1f} {h - pad_b + 10})">{text}</text>')
        elif n * 5.5 * longest <= w or i % max(1, round(n * 5.5 * longest / w)) == 0:
            body.append(f'<text x="{x + bw / 2:.1f}" y="{h - 3}" font-size="9" text-anchor="middle">{text}</text>')
    return _svg(w, h, "".join(body))


def _compact(value: float) -> str:
    """A number in at most ~6 characters: 44.2k, 1.29M, 0.00123."""
    a = abs(value)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e4, "k")):
        if a >= div:
            return f"{value / (div if suffix != 'k' else 1e3):.3g}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def axis_label(value: float, axis: str, span: float) -> str:
    """A tick of a numeric axis: epoch seconds of a date/time column as a date (or a time of day), other
    numbers compact (44.2k, 1.29M)."""
    if axis in ("date", "timestamp", "timestamptz"):
        when = datetime.fromtimestamp(value, tz=UTC)
        # years alone once the axis spans years: a full date per tick would not fit
        return when.strftime("%Y-%m-%d" if span < 3 * 365 * 86400 else "%Y-%m" if span < 20 * 365 * 86400 else "%Y")
    if axis == "time":
        return f"{int(value // 3600):02d}:{int(value % 3600 // 60):02d}"
    return _compact(value)


def hist_bars(edges: list[float], real: list[float], synth: list[float], axis: str = "float", *,
              w: int = 300, h: int = 150) -> str:
    """A histogram of both sides (bars per bin) with a few readable ticks at bin edges: as many as fit
    the width without overlapping, formatted for the column's kind (dates as dates)."""
    n = max(len(real), 1)
    top = max([*real, *synth, 1e-9])
    span = (edges[-1] - edges[0]) if len(edges) > 1 else 0.0
    if axis == "count":  # bins of children counts: label the bins' integer centres
        texts = [f"{(edges[i] + edges[i + 1]) / 2:.0f}" for i in range(n)]
    else:
        texts = [axis_label(e, axis, span) for e in edges[: n + 1]]
    label_w = 5.6 * max([len(t) for t in texts] + [1])  # a tick's text at 9px
    x0 = max(8.0, label_w / 2 + 2)  # room for the outer ticks' text, centred on them
    pad_b, ph = 18, h - 24
    bw = (w - 2 * x0) / n
    body = [f'<line x1="{x0:.1f}" y1="{h - pad_b}" x2="{w - x0:.1f}" y2="{h - pad_b}" stroke="#999"/>']
    for i, (r, s) in enumerate(zip(real, synth, strict=False)):
        x = x0 + i * bw
        lo, hi = axis_label(edges[i], axis, span), axis_label(edges[i + 1], axis, span)
        for j, (v, col) in enumerate(((r, REAL), (s, SYNTH))):
            bh = ph * v / top
            body.append(f'<rect x="{x + bw * (0.08 + 0.42 * j):.1f}" y="{h - pad_b - bh:.1f}" width="{bw * 0.42:.1f}" '
                        f'height="{bh:.1f}" fill="{col}"><title>{escape(lo)} .. {escape(hi)}: '
                        f'{"real" if j == 0 else "synthetic"} {v:.3f}</title></rect>')
    xs = [x0 + (i + 0.5) * bw for i in range(n)] if axis == "count" else [x0 + i * bw for i in range(n + 1)]
    step = max(1, int(np.ceil((label_w + 8) / bw)))  # ticks at least a label and a gap apart
    for i in range(0, len(xs), step):
        body.append(f'<line x1="{xs[i]:.1f}" y1="{h - pad_b}" x2="{xs[i]:.1f}" y2="{h - pad_b + 3}" stroke="#999"/>'
                    f'<text x="{xs[i]:.1f}" y="{h - 4}" font-size="9" text-anchor="middle">{escape(texts[i])}</text>')
    return _svg(w, h, "".join(body))


def hbars(labels: list[str], values: list[float], *, w: int = 420, row: int = 16) -> str:
    """Horizontal bars (feature importances), the label left of each bar, the value after it."""
    texts = [short(str(lab), 44) for lab in labels]
    lab_w = int(6 + 5.4 * max([len(t) for t in texts] + [1]))
    top = max([*values, 1e-9])
    h = row * len(labels) + 6
    body = []
    for i, (lab, t, v) in enumerate(zip(labels, texts, values, strict=False)):
        y = 3 + i * row
        bw = (w - lab_w - 50) * v / top
        body.append(f'<text x="{lab_w - 4}" y="{y + row * 0.7:.1f}" font-size="10" text-anchor="end">'
                    f'<title>{escape(str(lab))}</title>{escape(t)}</text>'
                    f'<rect x="{lab_w}" y="{y + 2}" width="{bw:.1f}" height="{row - 5}" fill="{SYNTH}"/>'
                    f'<text x="{lab_w + bw + 4:.1f}" y="{y + row * 0.7:.1f}" font-size="10">{v:.3f}</text>')
    return _svg(w, h, "".join(body))


def heatmap(rows: list[str], cols: list[str], cells: dict[tuple[int, int], float], *, cell: int = 26) -> str:
    """Pair scores (0-100) as coloured cells, the value written inside; missing cells left blank."""
    lab = 8 + 6 * max([len(r[:18]) for r in rows] + [1])
    top = 8 + 6 * max([len(c[:18]) for c in cols] + [1])
    w, h = lab + cell * len(cols) + int(0.65 * top) + 4, top + cell * len(rows) + 4  # room for slanted labels
    body = []
    for j, c in enumerate(cols):
        x = lab + j * cell + cell / 2
        body.append(f'<text x="{x}" y="{top - 4}" font-size="10" transform="rotate(-50 {x} {top - 4})">'
                    f'{escape(c[:18])}</text>')
    for i, r in enumerate(rows):
        y = top + i * cell
        body.append(f'<text x="{lab - 4}" y="{y + cell * 0.65}" font-size="10" text-anchor="end">{escape(r[:18])}</text>')
        for j in range(len(cols)):
            v = cells.get((i, j))
            if v is None:
                continue
            x = lab + j * cell
            body.append(f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{score_color(v)}">'
                        f'<title>{escape(r)} x {escape(cols[j])}: {v:.1f}</title></rect>'
                        f'<text x="{x + cell / 2 - 0.5}" y="{y + cell * 0.62}" font-size="8.5" '
                        f'text-anchor="middle">{v:.0f}</text>')
    return _svg(w, h, "".join(body))


def fk_graph(tables: list[str], edges: list[dict[str, str]], scores: dict[str, float | None],
             dag: nx.DiGraph) -> str:
    """Tables as boxes in layers (parents above children, layers from the acyclic FK graph `dag`),
    FK edges as arrows parent -> child; each box coloured by the table's score."""
    level = {t: 0 for t in tables}
    for t in nx.topological_sort(dag):
        for c in dag.successors(t):
            if t in level and c in level:
                level[c] = max(level[c], level[t] + 1)
    layers: dict[int, list[str]] = {}
    for t in tables:
        layers.setdefault(level[t], []).append(t)
    bw, bh, gx, gy = 150, 40, 24, 60
    width = max(len(v) for v in layers.values()) * (bw + gx) + gx if layers else 200
    height = len(layers) * (bh + gy) + gy // 2
    pos = {}
    for lv, ts in layers.items():
        off = (width - len(ts) * (bw + gx) + gx) / 2
        for i, t in enumerate(ts):
            pos[t] = (off + i * (bw + gx), 20 + lv * (bh + gy))
    body = ['<defs><marker id="arr" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
            '<path d="M0,0 L8,4 L0,8 z" fill="#777"/></marker></defs>']
    for e in edges:
        (px, py), (cx, cy) = pos[e["parent"]], pos[e["child"]]
        if e["parent"] == e["child"]:
            body.append(f'<path d="M{px + bw - 20},{py} C{px + bw + 30},{py - 25} {px + bw + 30},{py + bh + 25} '
                        f'{px + bw - 2},{py + bh - 6}" fill="none" stroke="#777" marker-end="url(#arr)"/>')
            continue
        body.append(f'<line x1="{px + bw / 2}" y1="{py + bh}" x2="{cx + bw / 2}" y2="{cy - 2}" stroke="#777" '
                    f'marker-end="url(#arr)"><title>{escape(e["fk"])}</title></line>')
    for t, (x, y) in pos.items():
        s = scores.get(t)
        body.append(f'<rect x="{x}" y="{y}" width="{bw}" height="{bh}" rx="6" fill="{score_color(s)}" stroke="#555"/>'
                    f'<text x="{x + bw / 2}" y="{y + 17}" font-size="12" font-weight="bold" text-anchor="middle">'
                    f'{escape(t[:22])}</text><text x="{x + bw / 2}" y="{y + 32}" font-size="10" text-anchor="middle">'
                    f'{"n/a" if s is None else f"{s:.1f}"}</text>')
    return _svg(int(width), int(height), "".join(body))


def legend() -> str:
    return (f'<span class="sw" style="background:{REAL}"></span>real '
            f'<span class="sw" style="background:{SYNTH}"></span>synthetic')
