"""publish: a static site that works offline, escapes names and stays inside its folder."""

from __future__ import annotations

import re
from pathlib import Path

from edgebench.report.site import publish, safe_name
from edgebench.store import Store
from tests.store.runfactory import DEVICES, RunSpec, make_run

XSS = "<img src=x onerror=alert(1)>"
EVIL_DEVICE = "../../etc/passwd"


def test_site_escapes_and_sanitises(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    devices = {EVIL_DEVICE: 0.02, **DEVICES}
    for i, seed in enumerate((1, 2)):
        store.ingest_dir(make_run(tmp_path / "results", RunSpec(
            f"r{i}", seed=seed, models={XSS: 1.0, "resnet18": 2.5},
            devices=devices, started_at=f"2026-11-2{i}T02:00:00.000+00:00",
            failed={(XSS, "int8", "rpi4"): '<script>alert("e")</script>'})))
    site = tmp_path / "site"
    paths = publish(store, site)
    for path in paths:
        assert path.resolve().is_relative_to(site.resolve()), path
        assert not path.name.startswith(".")
    htmls = [p for p in paths if p.suffix == ".html"]
    assert len(htmls) == 2 + 2 + 1  # runs, history per model, index
    for path in htmls:
        text = path.read_text()
        assert "<img" not in text and "<script" not in text, path
        assert "onerror=alert(1)" not in text.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    run_page = (site / "runs" / f"{safe_name('r1')}.html").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in run_page
    assert "&lt;script&gt;alert(&quot;e&quot;)&lt;/script&gt;" in run_page
    assert "../../etc/passwd" in run_page.replace("&#x27;", "'")  # shown, escaped, as text


def test_links_resolve_offline(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    for i in range(2):
        store.ingest_dir(make_run(tmp_path / "results", RunSpec(
            f"r{i}", seed=i, started_at=f"2026-11-2{i}T02:00:00.000+00:00")))
    publish(store, tmp_path / "site")
    for page in (tmp_path / "site").rglob("*.html"):
        text = page.read_text()
        assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in text
        for href in re.findall(r'href="([^"]+)"', text):
            assert (page.parent / href).resolve().exists(), (page, href)


def test_safe_name() -> None:
    for name in ("../../etc/passwd", ".hidden", "a/b\\c", XSS, "", "..", "ok-name_1.0"):
        out = safe_name(name)
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{8}", out), out
        assert "/" not in out and ".." not in out.split("-")[0][:2]
    assert safe_name("a/b") != safe_name("a_b")  # no collisions after sanitising


def test_published_files_are_world_readable(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.ingest_dir(make_run(tmp_path / "results", RunSpec("r0")))
    for path in publish(store, tmp_path / "site"):
        assert path.stat().st_mode & 0o444 == 0o444, path
