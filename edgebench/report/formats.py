"""Writers for every report format: md, html, csv, parquet, json, pytest-benchmark.

csv/parquet/json carry the measured numbers whole (full float precision); md and html
format them for reading.  The pytest-benchmark file has the exact structure of
``pytest --benchmark-json`` so ``pytest-benchmark compare`` and its tooling read it.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from edgebench.errors import UsageError
from edgebench.report.cells import Table
from edgebench.report.tables import ReportData, as_jsonable
from edgebench.report.view import sections
from edgebench.results.journal import write_atomic

FORMATS = ("md", "html", "csv", "parquet", "json", "pytest-benchmark")
SUFFIX = {"md": "report.md", "html": "report.html", "csv": "report.csv",
          "parquet": "report.parquet", "json": "report.json",
          "pytest-benchmark": "report.benchmark.json"}


def parse_formats(text: str) -> list[str]:
    """'md,html' -> ['md', 'html'], refusing unknown names with the list of known ones."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in FORMATS]
    if bad:
        raise UsageError(f"unknown report format(s): {', '.join(bad)}",
                         hint=f"choose from {', '.join(FORMATS)}")
    return names


def _md_cell(text: str) -> str:
    # Markdown renderers pass HTML through: escape it, and pipes/newlines break tables.
    return escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in table.headers) + " |",
             "|" + "---|" * len(table.headers)]
    for row in table.rows:
        cells = []
        for c in row:
            text = _md_cell(c.text)
            cells.append(f"**{text}**" if c.cls in ("noop", "bad", "best") and text else text)
        lines.append("| " + " | ".join(cells) + " |")
    if table.caption:
        lines += ["", f"_{_md_cell(table.caption)}_"]
    return "\n".join(lines)


def to_markdown(report: ReportData) -> str:
    out = [f"# edgebench run {_md_cell(report.run_id)}", ""]
    for section in sections(report):
        out += [f"## {_md_cell(section.title)}", ""]
        out += [_md_cell(p) + "\n" for p in section.paragraphs]
        if section.bullets:
            out += [f"- {'**' + _md_cell(b.text) + '**' if b.cls in ('noop', 'bad') else _md_cell(b.text)}"
                    for b in section.bullets] + [""]
        for table in section.tables:
            out += [_md_table(table), ""]
        if section.plot_key in ("history", "sustained"):
            out += ["(charts in report.html)", ""]
    return "\n".join(out).rstrip() + "\n"


def to_frame(report: ReportData) -> Any:
    """The long table (one row per job, measured + derived columns) for csv/parquet."""
    return report.rows.drop(columns=["fingerprint_json"], errors="ignore")


def to_json(report: ReportData) -> str:
    return json.dumps(as_jsonable(report), indent=1, default=str, allow_nan=False)


def to_parquet_bytes(report: ReportData) -> bytes:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise UsageError("the parquet format needs pyarrow, which is not installed",
                         hint="pip install pyarrow, or use --format csv") from exc
    import io

    buf = io.BytesIO()
    frame = to_frame(report).copy()
    for col in frame.columns:  # object columns may mix None/str; make them strings
        if frame[col].dtype == object:
            frame[col] = frame[col].astype("string")
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _pb_stats(latencies: list[float]) -> dict[str, Any]:
    try:
        from pytest_benchmark.stats import Stats
    except ImportError as exc:
        raise UsageError("the pytest-benchmark format needs pytest-benchmark installed",
                         hint="pip install pytest-benchmark") from exc
    stats = Stats()
    for v in latencies:
        stats.update(float(v))
    out = stats.as_dict()
    out["data"] = [float(v) for v in latencies]
    out["iterations"] = 1
    return out


def to_pytest_benchmark(report: ReportData) -> dict[str, Any]:
    """``--benchmark-json`` structure: one benchmark per ok job that has raw samples."""
    try:
        from pytest_benchmark import __version__ as pb_version
    except ImportError:  # pragma: no cover - checked again in _pb_stats
        pb_version = "0"
    ctrl = report.run_meta.get("controller") or {}
    benchmarks = []
    for _, r in report.rows[report.rows["is_ok"]].iterrows():
        lat = report.samples.get(r["job_id"])
        if lat is None or len(lat) == 0:
            continue
        param = f"{r['variant']}-{r['format']}-{r['device']}"
        benchmarks.append({
            "group": f"{r['model']} on {r['device']}",
            "name": f"{r['model']}[{param}]",
            "fullname": f"edgebench::{r['model']}[{param}]",
            "params": {"variant": r["variant"], "format": r["format"], "device": r["device"]},
            "param": param,
            "extra_info": {"run_id": report.run_id, "job_id": r["job_id"],
                           "fingerprint": r["fingerprint"], "noop": bool(r["is_noop"])},
            "options": {"disable_gc": False, "timer": "on-device", "min_rounds": len(lat),
                        "max_time": 0, "min_time": 0, "warmup": True},
            "stats": _pb_stats(list(lat)),
        })
    return {
        "machine_info": {"node": ctrl.get("hostname", ""), "processor": "",
                         "machine": ctrl.get("platform", ""), "python_implementation": "CPython",
                         "python_version": ctrl.get("python", ""), "python_compiler": "",
                         "release": "", "system": "", "cpu": {}},
        "commit_info": {"id": ctrl.get("git_commit") or "", "time": None, "author_time": None,
                        "dirty": False, "project": "edgebench", "branch": None},
        "benchmarks": benchmarks,
        "datetime": report.run_meta.get("started_at") or "",
        "version": pb_version,
    }


def write_formats(report: ReportData, out_dir: Path, formats: list[str]) -> list[Path]:
    """Write each requested format into ``out_dir`` (atomically); returns the paths."""
    from edgebench.report.html import report_html

    written = []
    for fmt in formats:
        path = Path(out_dir) / SUFFIX[fmt]
        if fmt == "md":
            data: str | bytes = to_markdown(report)
        elif fmt == "html":
            data = report_html(report)
        elif fmt == "csv":
            data = to_frame(report).to_csv(index=False)
        elif fmt == "parquet":
            data = to_parquet_bytes(report)
        elif fmt == "json":
            data = to_json(report)
        else:
            data = json.dumps(to_pytest_benchmark(report), indent=1)
        written.append(write_atomic(path, data))
    return written
