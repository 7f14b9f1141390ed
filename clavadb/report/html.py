"""The HTML report: one self-contained file (inline CSS and SVG) rendered from a ReportResult."""

from __future__ import annotations

from html import escape

import networkx as nx

from clavadb.schema import Schema

from . import svg
from .privacy_metrics import UNIQUE_SHARE
from .result import ReportResult, score_label

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1360px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px} .sub{color:#666;margin-bottom:14px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{border-radius:8px;padding:10px 16px;min-width:120px;text-align:center;border:1px solid #bbb}
.card .v{font-size:28px;font-weight:700} .card .l{font-size:12px;color:#333}
table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:12px} .fig{border:1px solid #e3e3e3;border-radius:6px;padding:6px}
.fig .t{font-size:12px;font-weight:600;margin-bottom:2px} .bad{color:#b00;font-weight:700} .ok{color:#070}
.sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:middle}
.note{color:#555;font-size:12px} .run{font-size:12px;color:#444;margin:0 0 10px}
.findings{border:2px solid #b00;border-radius:6px;padding:6px 14px;margin:10px 0;background:#fff5f5}
.findings.none{border-color:#070;background:#f4fff4} .tag{font-size:11px;padding:1px 6px;border-radius:8px;background:#e3e3e3}
"""


def render(result: ReportResult, schema: Schema, title: str = "clavadb report") -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>Synthetic database report</h1><div class='sub'>{escape(title)} &middot; "
             f"computed in {result.seconds:.1f} s</div>", _run_info(result),
             _summary(result), _findings(result), _privacy(result), _detection(result), _graph(result, schema),
             _tables(result), _validity(result), _cardinality(result), _columns(result), _pairs(result),
             _notes(result),
             "</body></html>"]
    return "\n".join(parts)


def _card(label: str, value: float | None, extra: str = "") -> str:
    shown = "n/a" if value is None else f"{value:.1f}"
    return (f"<div class='card' style='background:{svg.score_color(value)}'><div class='v'>{shown}</div>"
            f"<div class='l'>{escape(label)}{extra}</div></div>")


def _run_info(r: ReportResult) -> str:
    """What produced the copy and this page: clavadb version, date, preset, method, seed, column plan."""
    labels = {"clavadb": "clavadb", "date": "report date", "preset": "preset", "method": "method",
              "model_seed": "model seed", "sample_seed": "sampling seed", "model_file": "model file",
              "column_plan": "column plan"}
    items = [f"<b>{escape(lab)}</b> {escape(str(r.run.get(k, 'unknown')))}" for k, lab in labels.items()
             if k in r.run or k in ("preset", "model_seed")]
    return f"<div class='run'>{' &middot; '.join(items)}</div>"


def _summary(r: ReportResult) -> str:
    cards = "".join(_card(score_label(k), v, f" &middot; {r.counts.get(k, 0)}") for k, v in r.scores.items())
    tot = r.validity_totals()
    bad = sum(v for k, v in tot.items() if k != "not_evaluated")
    vcls = "bad" if bad else "ok"
    gen = sum(len(t.get("generated_columns", {})) for t in r.tables.values())
    kept = [k for k, t in r.tables.items() if t.get("kept")]
    left = (f" Left out of the scores: {gen} generated columns (see Per table)"
            + (f" and the kept lookup tables {escape(', '.join(kept))}" if kept else "") + "." if gen or kept else "")
    return (f"<h2>Summary</h2><div>Scores 0-100; 100 = the synthetic data matches the real data on that measure. "
            f"The small number counts the FKs, columns or column pairs averaged.{left}</div>"
            f"<div class='cards'>{cards}</div>"
            f"<div class='{vcls}'>Validity: {bad} constraint violations in the synthetic database "
            f"({tot['not_evaluated']} constraints not evaluated).</div>")


def _findings(r: ReportResult) -> str:
    lines = r.privacy_findings()
    if len(lines) == 1:
        return f"<div class='findings none'><b>Privacy:</b> {escape(lines[0].split(': ', 1)[1])}.</div>"
    items = "".join(f"<li>{escape(x.strip())}</li>" for x in lines[1:])
    return f"<div class='findings'><b>Privacy findings</b><ul>{items}</ul></div>"


def _acc(d: dict | None) -> str:
    if not d:
        return "<td>&ndash;</td><td></td>"
    a = d["accuracy"]
    # 0.5 green, 0.75 and above red (the target ceiling); copy-like always red
    color = svg.score_color(100 - 100 * max(0.0, a - 0.5)) if not d["copy_like"] else svg.score_color(0)
    label = " copy-like" if d["copy_like"] else ""
    return (f"<td style='background:{color}'>{a:.3f} &plusmn; {d['se']:.3f}{label}</td>"
            f"<td>{d['p_detect']:.2g} / {d['p_copy']:.2g}</td>")


def _detection(r: ReportResult) -> str:
    if not r.detection and not any(t.get("kept") for t in r.tables.values()):
        return ""
    rows, figs = [], []
    for k, t in r.tables.items():
        if t.get("kept"):
            rows.append(f"<tr><td class='l'>{escape(k)}</td><td colspan='4' class='l'><span class='tag'>kept</span> "
                        "copied as is: not a synthetic table</td><td class='l'></td></tr>")
            continue
        det = r.detection.get(k)
        if det is None:
            continue
        dda, c2st = det.get("dda"), det.get("c2st")
        top = (dda or c2st or {}).get("top_features", [])
        tops = ", ".join(f"{f['feature']} ({f['importance']:.3f})" for f in top[:4])
        rows.append(f"<tr><td class='l'>{escape(k)}</td>{_acc(dda)}{_acc(c2st)}<td class='l'>{escape(tops)}</td></tr>")
        if top:
            figs.append(_fig(f"{escape(k)}: what gives the copy away ({'DDA' if dda else 'C2ST'})",
                             svg.hbars([f["feature"] for f in top], [f["importance"] for f in top])))
    return ("<h2>Discriminators</h2><div class='note'>Accuracy of a gradient-boosted classifier telling synthetic "
            "rows from real ones (5-fold stratified CV, both sides balanced): 0.5 = indistinguishable, higher = the "
            "copy is told apart. DDA: each parent row with, per child table, the number of children, the distinct "
            "values of each categorical child column and the mean of each numerical one. C2ST: the table's own "
            "columns. Accuracy well below 0.5 is not a good score: the copy repeats real rows (flagged copy-like). "
            "p: binomial p-values of accuracy &gt; 0.5 / &lt; 0.5. The features are those whose shuffling costs the "
            "classifier most accuracy (permutation importance on the held-out folds): what to fix first.</div>"
            "<table><tr><th class='l'>table</th><th>DDA</th><th>p</th><th>C2ST</th><th>p</th>"
            f"<th class='l'>features that give it away</th></tr>{''.join(rows)}</table>"
            f"<div class='grid'>{''.join(figs)}</div>")


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    if v is None:
        return "<td>&ndash;</td>"
    return f"<td style='background:{svg.score_color(v)}'>{fmt.format(v)}</td>"


def _graph(r: ReportResult, schema: Schema) -> str:
    tables = list(r.tables)
    dag = nx.DiGraph()
    dag.add_nodes_from(tables)
    dag.add_edges_from((p, c) for p, c, _ in schema.graph().edges() if p in r.tables and c in r.tables)
    scores = {k: t["scores"].get("avg_2way") for k, t in r.tables.items()}
    return ("<h2>Foreign-key graph</h2><div class='note'>Arrows go from parent to child; boxes are coloured by the "
            "table's avg 2-way score.</div>" + svg.fk_graph(tables, r.fk_edges, scores, dag))


def _tables(r: ReportResult) -> str:
    keys = [k for k in r.scores if k != "avg_2way"] + ["avg_2way"]
    head = "".join(f"<th>{score_label(k)}</th>" for k in keys)
    rows = []
    for k, t in r.tables.items():
        v = r.validity.get(k)
        viol = v.violations if v else 0
        name = escape(k) + (" <span class='tag'>kept</span>" if t.get("kept") else "")
        rows.append(f"<tr><td class='l'>{name}</td><td>{t['rows_real']:,}</td><td>{t['rows_synthetic']:,}</td>"
                    + "".join(_num(t["scores"].get(s)) for s in keys)
                    + f"<td class='{'bad' if viol else 'ok'}'>{viol}</td>"
                    + f"<td class='l'>{escape(', '.join(f'{c} ({why})' for c, why in t['skipped_columns'].items()))}"
                    + "</td></tr>")
    return ("<h2>Per table</h2><div class='note'>k-hop scores are listed under the child table of the pair; "
            "cardinality under the child of the FK. Generated columns (names, e-mails, free text: the copy fills "
            "them with made-up values, never modeled) are listed with their generator and not scored; a kept "
            "table is a lookup table copied as is: its own columns are not scored.</div>"
            f"<table><tr><th class='l'>table</th><th>rows real</th><th>rows synthetic</th>{head}"
            f"<th>violations</th><th class='l'>columns not scored</th></tr>{''.join(rows)}</table>")


def _validity(r: ReportResult) -> str:
    rows = []
    for k, v in r.validity.items():
        def fmt(d: dict[str, int]) -> str:
            return escape(", ".join(f"{n}: {c}" for n, c in d.items() if c)) or "0"
        rows.append(f"<tr><td class='l'>{escape(k)}</td><td>{v.pk_duplicates}</td><td>{v.pk_nulls}</td>"
                    f"<td class='l'>{fmt(v.fk_orphans)}</td><td class='l'>{fmt(v.unique_duplicates)}</td>"
                    f"<td class='l'>{fmt(v.not_null)}</td><td class='l'>{fmt(v.checks)}</td>"
                    f"<td class='l'>{fmt(v.too_long)}</td><td class='l'>{escape(', '.join(v.not_evaluated))}</td></tr>")
    return ("<h2>Validity of the synthetic database</h2><table><tr><th class='l'>table</th><th>PK duplicates</th>"
            "<th>PK NULLs</th><th class='l'>FK orphans</th><th class='l'>UNIQUE duplicates</th>"
            "<th class='l'>NOT NULL</th><th class='l'>CHECK</th><th class='l'>too long</th>"
            f"<th class='l'>not evaluated</th></tr>{''.join(rows)}</table>")


def _fig(title: str, body: str) -> str:
    return f"<div class='fig'><div class='t'>{title}</div>{body}</div>"


def _cardinality(r: ReportResult) -> str:
    figs = []
    for c in r.cardinality:
        p = c["plot"]
        if not p:
            continue
        score = "n/a" if c["score"] is None else f"{c['score']:.1f}"
        figs.append(_fig(f"{escape(c['child'])} per {escape(c['parent'])} &middot; {score}"
                         f"<div class='note'>mean {c['real_mean']:.2f} real, "
                         f"{(c['synthetic_mean'] or 0):.2f} synthetic</div>",
                         svg.hist_bars(p["edges"], p["real"], p["synthetic"], "count", w=320, h=140)))
    return ("<h2>Children per parent</h2><div class='note'>Share of parents with n children, per FK "
            f"(parents without children included; the last bar holds the tail). {svg.legend()}</div>"
            f"<div class='grid'>{''.join(figs)}</div>")


def _columns(r: ReportResult) -> str:
    out = [f"<h2>Column distributions</h2><div class='note'>{svg.legend()}</div>"]
    for k in r.tables:
        figs = []
        for c in (c for c in r.columns if c["table"] == k):
            p = c["plot"]
            if not p:
                continue
            score = "n/a" if c["score"] is None else f"{c['score']:.1f}"
            title = f"{escape(c['column'])} &middot; {c['metric'][:2]} {score}"
            if p["kind"] == "bars":
                figs.append(_fig(title, svg.paired_bars(p["labels"], p["real"], p["synthetic"], rotate=True)))
            else:
                figs.append(_fig(title, svg.hist_bars(p["edges"], p["real"], p["synthetic"], p.get("axis", "float"))))
        if figs:
            out.append(f"<h3>{escape(k)}</h3><div class='grid'>{''.join(figs)}</div>")
    return "".join(out)


def _pairs(r: ReportResult) -> str:
    out = ["<h2>Column-pair trends</h2><div class='note'>Each cell is the score of a column pair "
           "(CorrelationSimilarity for two numerical columns, ContingencySimilarity otherwise): 100 = the pair "
           "relates as in the real data; red cells show where the synthetic data loses a dependency. "
           "0-hop: within a table; k-hop: a table's columns against its ancestor k FKs up.</div>"]
    groups: dict[tuple, list[dict]] = {}
    for p in r.pairs:
        groups.setdefault((p["table"], p["other"], p["hops"], tuple(p["via"])), []).append(p)
    paths_to: dict[tuple, int] = {}
    for t, o, h, _ in groups:
        paths_to[(t, o, h)] = paths_to.get((t, o, h), 0) + 1
    figs = []
    for (t, o, h, via), ps in groups.items():
        rows = list(dict.fromkeys(p["column_a"] for p in ps))
        cols = list(dict.fromkeys(p["column_b"] for p in ps))
        cells = {(rows.index(p["column_a"]), cols.index(p["column_b"])): p["score"] for p in ps}
        if h == 0:  # symmetric: fill both halves
            names = list(dict.fromkeys(rows + cols))
            cells = {}
            for p in ps:
                i, j = names.index(p["column_a"]), names.index(p["column_b"])
                cells[(i, j)] = cells[(j, i)] = p["score"]
            rows = cols = names
        mean = sum(p["score"] for p in ps) / len(ps)
        label = f"{escape(t)} (0-hop)" if h == 0 else f"{escape(t)} &times; {escape(o)} ({h}-hop)"
        if paths_to[(t, o, h)] > 1:  # several FK paths lead to the same table: name this one
            label += f"<div class='note'>via {escape(' / '.join(via))}</div>"
        figs.append(_fig(f"{label} &middot; {mean:.1f}", svg.heatmap(rows, cols, cells)))
    out.append(f"<div class='grid'>{''.join(figs)}</div>")
    return "".join(out)


def _privacy(r: ReportResult) -> str:
    dcr = r.privacy.get("dcr", {})
    out = ["<h2>Privacy</h2>",
           f"<div class='note'>Distance to closest record (DCR): {escape(r.privacy.get('dcr_method', ''))}. "
           "Synthetic rows should not lie closer to the real rows than real rows lie to each other "
           "(holdout: a fifth of the real sample against the other four fifths). Red: a table whose real rows are "
           f"at least {100 * UNIQUE_SHARE:.0f}% unique (where an equal row can identify someone) and whose copy is "
           "closer, or more often equal, to the real rows than the holdout is. Singled out by categories: the "
           "share of rows whose combination of categorical columns (a quasi-identifier) is one real row's alone; "
           "red where the copy's share is above the holdout's. "
           f"{svg.legend().replace('real', 'real holdout', 1)}</div>"]
    rows = []
    figs = []
    for k, d in dcr.items():
        unique = d["real_unique_share"] >= UNIQUE_SHARE
        close = unique and d["median"] < d["holdout_median"]
        copied = unique and d["exact_copies"] > d["holdout_exact_copies"]
        qi, qi_hold = d.get("qi_unique_share"), d.get("holdout_qi_unique_share")
        singles = qi is not None and qi_hold is not None and qi > qi_hold
        qi_cells = (f"<td class='{'bad' if singles else ''}'>{100 * qi:.1f}%</td><td>{100 * qi_hold:.1f}%</td>"
                    if qi is not None and qi_hold is not None else "<td>-</td><td>-</td>")
        rows.append(f"<tr><td class='l'>{escape(k)}</td><td>{100 * d['real_unique_share']:.0f}%</td>"
                    f"<td class='{'bad' if close else ''}'>{d['median']:.3f}</td><td>{d['holdout_median']:.3f}</td>"
                    f"<td>{d['p5']:.3f}</td><td>{d['holdout_p5']:.3f}</td>"
                    f"<td class='{'bad' if copied else ''}'>{100 * d['exact_copies']:.1f}%</td>"
                    f"<td>{100 * d['holdout_exact_copies']:.1f}%</td>{qi_cells}<td>{d['synthetic_rows']:,} / "
                    f"{d['reference_rows']:,}</td></tr>")
        figs.append(_fig(f"DCR {escape(k)}", svg.hist_bars(
            d["hist_edges"], _share(d["hist_holdout"]), _share(d["hist_synthetic"]), w=300, h=130)))
    for k, t in r.tables.items():
        if t.get("kept"):
            rows.append(f"<tr><td class='l'>{escape(k)} <span class='tag'>kept</span></td>"
                        "<td colspan='10' class='l'>a lookup table copied as is: its rows are the real ones by "
                        "design, left out of the privacy measures</td></tr>")
    out.append("<table><tr><th class='l'>table</th><th>unique real rows</th><th>median DCR</th><th>holdout median</th><th>5th pct</th>"
               "<th>holdout 5th pct</th><th>exact copies</th><th>holdout exact</th><th>singled out by categories</th>"
               "<th>holdout singled out</th><th>rows compared / reference</th>"
               f"</tr>{''.join(rows)}</table><div class='grid'>{''.join(figs)}</div>")
    pii = r.privacy.get("pii", [])
    if pii:
        prow = "".join(
            f"<tr><td class='l'>{escape(p['table'])}.{escape(p['column'])}</td><td class='l'>{escape(p['generator'])}"
            f"</td><td>{p['distinct_values']:,}</td>"
            f"<td class='{'bad' if p['copied_values'] else 'ok'}'>{p['copied_values']:,}</td>"
            f"<td>{p['copied_rows']:,} / {p['rows']:,}</td></tr>" for p in pii)
        out.append("<h3>Generated columns</h3><div class='note'>Columns the copy fills with made-up values "
                   "(personal data and free text, as clavadb's detector classified them): synthetic values that "
                   "also occur in the real column (case-insensitive) should be none, or common words only.</div>"
                   "<table><tr><th class='l'>column</th><th class='l'>generator</th><th>distinct synthetic values</th><th>found in real</th>"
                   f"<th>rows with a real value</th></tr>{prow}</table>")
    return "".join(out)


def _share(xs: list[int]) -> list[float]:
    tot = sum(xs) or 1
    return [x / tot for x in xs]


def _notes(r: ReportResult) -> str:
    items = "".join(f"<li>{escape(n)}</li>" for n in r.notes)
    rule = ("Columns scored: keys, identity columns, generated and left-out columns, uuid/json/bytes/array columns, UNIQUE text and "
            "high-cardinality text are skipped; text, bool, enum columns and int/decimal/date columns with at most 20 distinct real values "
            "are categorical (TVComplement); other numbers and dates are numerical (KSComplement). Numbers are "
            "cut at the real deciles when paired with a category.")
    return f"<h2>Notes</h2><ul><li>{rule}</li>{items}</ul>"
