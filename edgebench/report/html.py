"""Self-contained HTML: inline CSS and SVG, no scripts, every user string escaped.

A Content-Security-Policy meta tag forbids scripts and remote loads outright, so even a
name that slipped past escaping could not run or phone home; pages work from ``file://``.
"""

from __future__ import annotations

from html import escape
from typing import Any, Iterable

from edgebench.report import svg
from edgebench.report.cells import Section, Table
from edgebench.report.tables import ReportData
from edgebench.report.view import sections

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}caption{caption-side:bottom;font-size:12px;color:#666;text-align:left}
.ok{background:#e6f4ea}.bad{background:#fde7e9;color:#a50e0e;font-weight:600}
.warn{background:#fff4e5}.noop{background:#ffe0b2;color:#8a4b00;font-weight:700}
.best{background:#e6f4ea;font-weight:700}.pareto{font-weight:700}
svg.chart{font:11px system-ui,sans-serif;background:#fff;border:1px solid #eee;margin:.3em}
svg .g{stroke:#eee}svg .t{font-weight:600}nav a{margin-right:1em}
.wrap{overflow-x:auto}
"""
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")


def e(text: object) -> str:
    return escape(str(text), quote=True)


def page(title: str, body: str, nav: Iterable[tuple[str, str]] = ()) -> str:
    """A whole HTML document; ``nav`` is (href, label) pairs, hrefs already safe."""
    links = "".join(f'<a href="{e(href)}">{e(label)}</a>' for href, label in nav)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
            + (f"<nav>{links}</nav>" if links else "")
            + f"<h1>{e(title)}</h1>{body}</body></html>\n")


def table_html(table: Table) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in table.headers)
    body = []
    for row in table.rows:
        cells = "".join(f'<td class="{e(c.cls)}">{e(c.text)}</td>' if c.cls
                        else f"<td>{e(c.text)}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    ident = f' id="{e(table.table_id)}"' if table.table_id else ""
    cap = f"<caption>{e(table.caption)}</caption>" if table.caption else ""
    return (f'<div class="wrap"><table{ident}>{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _label(r: Any) -> str:
    """variant/format, and the runtime where some format ran on several (runtime_label)."""
    rt = r.get("runtime_label") if hasattr(r, "get") else None
    return f"{r['variant']}/{r['format']}" + (f":{rt}" if isinstance(rt, str) and rt else "")


def _model_plots(report: ReportData, model: str) -> str:
    rows = report.rows[report.rows["model"].eq(model) & report.rows["is_ok"]]
    devices = [d for d in report.devices if d in set(rows["device"])]
    series = list(dict.fromkeys(_label(r) for _, r in rows.iterrows()))
    values = {(r["device"], _label(r)): float(r["latency_p50_s"])
              for _, r in rows.iterrows() if r["latency_p50_s"] == r["latency_p50_s"]}
    out = [svg.grouped_bars(f"{model}: p50 latency per device", devices, series, values)]
    for device in devices:
        sub = rows[rows["device"].eq(device) & ~rows["is_noop"]]
        pts = [(_label(r), float(r["latency_p50_s"]),
                float(r["accuracy_eff"]), bool(r["pareto_latency"]))
               for _, r in sub.iterrows()
               if r["accuracy_eff"] == r["accuracy_eff"] and r["latency_p50_s"] == r["latency_p50_s"]]
        if pts:
            out.append(svg.scatter(f"{model} on {device}: Pareto (latency vs accuracy)", pts))
    return "".join(out)


def history_plots(history: Any, title_prefix: str = "") -> str:
    """One line chart per (model, device): a line per variant/format over runs."""
    out = []
    for (model, device), group in history.groupby(["model", "device"], sort=False):
        series: dict[str, list[tuple[str, float]]] = {}
        for (variant, fmt), g in group.groupby(["variant", "format"], sort=False):
            series[f"{variant}/{fmt}"] = [(str(r), float(v)) for r, v in
                                          zip(g["run_id"], g["latency_p50_s"], strict=False)]
        out.append(svg.lines(f"{title_prefix}{model} on {device}: p50 over runs", series))
    return "".join(out)


def sustained_plots(report: ReportData) -> str:
    """One latency-and-temperature chart per sustained job (bins from the run's journal)."""
    from edgebench.report import sustained_svg

    return "".join(sustained_svg.plot(f"{job_id}: p50 and temperature over time",
                                      block.get("bins") or [], block.get("onset_s"))
                   for job_id, block in report.sustained.items())


def section_html(report: ReportData, section: Section) -> str:
    parts = [f'<h2 id="{e(section.anchor)}">{e(section.title)}</h2>']
    parts += [f"<p>{e(p)}</p>" for p in section.paragraphs]
    if section.bullets:
        parts.append("<ul>" + "".join(
            f'<li class="{e(b.cls)}">{e(b.text)}</li>' for b in section.bullets) + "</ul>")
    parts += [table_html(t) for t in section.tables]
    if section.plot_key == "model":
        parts.append(_model_plots(report, section.plot_arg))
    elif section.plot_key == "history" and report.history is not None:
        parts.append(history_plots(report.history))
    elif section.plot_key == "sustained":
        parts.append(sustained_plots(report))
    return "".join(parts)


def report_html(report: ReportData, nav: Iterable[tuple[str, str]] = ()) -> str:
    body = "".join(section_html(report, s) for s in sections(report))
    return page(f"edgebench run {report.run_id}", body, nav)
