"""Open the published site in real headless Chromium: no console errors, main table
present, a hostile model name rendered as text, screenshots in test-artifacts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edgebench.report.site import publish, safe_name
from edgebench.store import Store
from tests.store.runfactory import RunSpec, make_run

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                        else None)
    if path is None:
        if os.environ.get("EDGEBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium not found and EDGEBENCH_REQUIRE_BROWSER=1 "
                        "(apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    store = Store(root / "s.db")
    for i, slow in enumerate((1.0, 1.5)):
        store.ingest_dir(make_run(root / "results", RunSpec(
            f"r{i}", seed=i, started_at=f"2026-11-2{i}T02:00:00.000+00:00",
            models={"mobilenet_v2": 1.0, XSS: 2.0},
            slow={("mobilenet_v2", "int8", "rpi4"): slow})))
    publish(store, root / "site")
    return root / "site"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.browser.cdp import Browser

    b = Browser(_chromium(), tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.quit()


@pytest.mark.parametrize("page", ["index.html", f"runs/{safe_name('r1')}.html",
                                  f"history/{safe_name(XSS)}.html"])
def test_page_renders_cleanly(site: Path, browser, page: str) -> None:  # type: ignore[no-untyped-def]
    browser.open((site / page).resolve().as_uri())
    state = browser.evaluate(
        "({title: document.title, rows: document.querySelectorAll('table#main tbody tr').length,"
        " imgs: document.images.length, svgs: document.querySelectorAll('svg').length,"
        " text: document.body.innerText})")
    assert browser.console_errors() == []
    assert state["rows"] > 0, f"no rows in the main table of {page}"
    assert state["imgs"] == 0  # the hostile name stayed text
    name = page.replace("/", "_").replace(".html", ".png")
    shot = browser.screenshot(ARTIFACTS / f"browser-{name}")
    assert shot.stat().st_size > 5000
    if page.startswith("runs/"):
        assert XSS in state["text"] and state["svgs"] >= 2
        assert "NOOP" in state["text"]
    if page == "index.html":
        assert "mobilenet_v2/int8 (onnx) on rpi4" in state["text"]  # the regression


def test_error_detection_is_not_vacuous(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """A page that does throw and violates CSP must be caught by the same checks."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><meta http-equiv='Content-Security-Policy' "
                    "content=\"default-src 'none'\"></head><body><table id='main'></table>"
                    "<script>throw new Error('boom')</script></body></html>")
    browser.open(page.as_uri())
    errors = browser.console_errors()
    assert errors and any("Content Security Policy" in e or "script" in e for e in errors)
    plain = tmp_path / "throws.html"
    plain.write_text("<!DOCTYPE html><html><body><script>console.error('bad'); "
                     "throw new Error('boom')</script></body></html>")
    browser.open(plain.as_uri())
    errors = browser.console_errors()
    assert any("boom" in e for e in errors) and any("console.error" in e for e in errors)
