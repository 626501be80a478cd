"""A static site of the store: index (latest run per suite + its regressions), one page
per run, one history page per model with a chart per (variant, device).

Plain files with relative links, no scripts: open ``index.html`` from ``file://`` or
serve the folder from any web server / CI artifact store.  File names derived from run,
model or device names go through :func:`safe_name`, so a name can never escape the
output folder, and all text is escaped.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.quality import LATENCY_FACTOR
from edgebench.report.cells import Cell, Table
from edgebench.report.html import e, page, table_html
from edgebench.results.journal import write_atomic
from edgebench.units import fmt_seconds

if TYPE_CHECKING:
    from edgebench.store import Store


def safe_name(text: str, max_len: int = 60) -> str:
    """A file-name stem: [A-Za-z0-9._-] only, no leading dot, plus a hash of the original
    so distinct names never collide after sanitising."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._-")[:max_len] or "x"
    return f"{stem}-{hashlib.sha256(str(text).encode('utf-8')).hexdigest()[:8]}"


def run_href(run_id: str, prefix: str = "runs/") -> str:
    return f"{prefix}{safe_name(run_id)}.html"


def model_href(model: str, prefix: str = "history/") -> str:
    return f"{prefix}{safe_name(model)}.html"


def publish(store: "Store | str | Path | None", out_dir: Path, *,
            factor: float = LATENCY_FACTOR, metric: str = "p50") -> list[Path]:
    """Write the whole site into ``out_dir``; returns every file written."""
    from edgebench import results
    from edgebench.report import report_from_store
    from edgebench.report.compare import compare_runs
    from edgebench.report.html import report_html
    from edgebench.store import open_store

    st = open_store(store)
    out_dir = Path(out_dir)
    written: list[Path] = []
    runs = st.runs()
    regressions: dict[str, Any] = {}
    baselines: dict[str, str | None] = {}
    for info in runs:
        base = st.last_complete_run(info.suite, before=info.run_id)
        baselines[info.run_id] = base.run_id if base else None
        regressions[info.run_id] = (compare_runs(st, base.run_id, info.run_id, factor=factor,
                                                 metric=metric) if base else None)
    for info in runs:
        report = report_from_store(st, info.run_id, with_samples=False)
        cmp = regressions[info.run_id]
        if cmp is not None:
            report.regressions = [{"message": p.message()} for p in cmp.regressions]
        nav = [("../index.html", "index")] + [
            ("../" + model_href(m), f"history: {m}") for m in report.models]
        written.append(write_atomic(out_dir / run_href(info.run_id), report_html(report, nav)))

    frame = results.load(st)
    frame = frame[frame["status"].eq("ok")] if not frame.empty else frame
    models = list(dict.fromkeys(frame["model"])) if not frame.empty else []
    for model in models:
        written.append(write_atomic(out_dir / model_href(model),
                                    _history_page(model, frame[frame["model"].eq(model)])))
    written.append(write_atomic(out_dir / "index.html",
                                _index(runs, regressions, baselines, models)))
    return written


def _index(runs: list[Any], regressions: dict[str, Any], baselines: dict[str, str | None],
           models: list[str]) -> str:
    latest: dict[str, Any] = {}
    for info in runs:
        latest[str(info.suite)] = info
    rows = []
    bullets = []
    for suite, info in latest.items():
        cmp = regressions.get(info.run_id)
        n_reg = len(cmp.regressions) if cmp is not None else None
        rows.append([
            Cell(suite), Cell(info.run_id), Cell(info.started_at or "?"),
            Cell("yes" if info.complete else "NO", "ok" if info.complete else "bad"),
            Cell(f"{info.counts.get('ok', '?')} / {info.counts.get('failed', '?')} / "
                 f"{info.counts.get('skipped', '?')}"),
            Cell(baselines.get(info.run_id) or "none"),
            Cell("no baseline" if n_reg is None else str(n_reg), "bad" if n_reg else "ok")])
        if cmp is not None:
            bullets += [(info.run_id, p.message()) for p in cmp.regressions]
    latest_table = table_html(Table(
        ["suite", "latest run", "started", "complete", "ok / failed / skipped", "baseline",
         "regressions"], rows, table_id="main"))
    run_links = "".join(
        f'<li><a href="{e(run_href(i.run_id))}">{e(i.run_id)}</a> · suite {e(i.suite)}'
        f" · {e(i.started_at or '?')}{'' if i.complete else ' · incomplete'}</li>"
        for i in reversed(runs))
    reg_html = ("<ul>" + "".join(f'<li class="bad">{e(r)}: {e(m)}</li>' for r, m in bullets)
                + "</ul>") if bullets else "<p>No regressions in the latest runs.</p>"
    hist = "".join(f'<li><a href="{e(model_href(m, "history/"))}">{e(m)}</a></li>'
                   for m in models)
    latest_links = "".join(f'<li><a href="{e(run_href(i.run_id, "runs/"))}">{e(s)}: '
                           f"{e(i.run_id)}</a></li>" for s, i in latest.items())
    body = (f"<h2>Latest run per suite</h2>{latest_table}<ul>{latest_links}</ul>"
            f"<h2>Regressions (latest runs vs their baselines)</h2>{reg_html}"
            f"<h2>History per model</h2><ul>{hist}</ul>"
            f"<h2>All runs</h2><ul>{run_links}</ul>")
    return page("edgebench results", body)


def _history_page(model: str, frame: Any) -> str:
    from edgebench.report import svg

    charts, rows = [], []
    for (variant, device), g in frame.groupby(["variant", "device"], sort=False):
        series: dict[str, list[tuple[str, float]]] = {}
        for fmt, gf in g.groupby("format", sort=False):
            series[str(fmt)] = [(str(r), float(v)) for r, v in zip(gf["run_id"], gf["latency_p50_s"], strict=False)]
            for r, v, s in zip(gf["run_id"], gf["latency_p50_s"], gf["run_started_at"], strict=False):
                rows.append([Cell(str(variant)), Cell(str(device)), Cell(str(fmt)), Cell(str(r)),
                             Cell(str(s or "")), Cell(fmt_seconds(v))])
        charts.append(svg.lines(f"{model} / {variant} on {device}: p50 over runs", series))
    body = ("".join(charts) + "<h2>Values</h2>"
            + table_html(Table(["variant", "device", "format", "run", "started", "p50"], rows,
                               table_id="main")))
    return page(f"history: {model}", body, [("../index.html", "index")])
