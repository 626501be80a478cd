"""edgebench.units: one unit system (s/ms/µs, decimal kB/MB/GB, J/mJ, ×) for the terminal
and the report alike."""

from __future__ import annotations

import math

from edgebench import units


def test_seconds_pick_the_largest_unit_at_least_one() -> None:
    assert units.seconds_unit(2.5) == (1.0, "s")
    assert units.seconds_unit(0.0123) == (1e3, "ms")
    assert units.seconds_unit(14.1e-6) == (1e6, "µs")
    assert units.fmt_seconds(14.1e-6) == "14.1 µs"
    assert units.fmt_seconds(0.0023456) == "2.35 ms"
    assert units.fmt_seconds(1.2) == "1.2 s"
    assert units.fmt_seconds(None) == units.MISSING == "–"
    assert units.fmt_seconds(math.nan, missing="-") == "-"
    assert units.fmt_seconds("", missing="-") == "-"


def test_terminal_seconds_have_fixed_decimals() -> None:
    assert units.terminal_seconds(0.0084) == "8.400 ms"
    assert units.terminal_seconds(171.54e-6) == "171.5 µs"
    assert units.terminal_seconds(2.0) == "2.000 s"
    assert units.terminal_seconds(None) == "-"
    assert units.fmt_signed_seconds(-0.0015) == "-1.500 ms"
    assert units.fmt_signed_seconds(12.3e-6) == "+12.3 µs"


def test_bytes_are_decimal() -> None:
    assert units.fmt_bytes(512) == "512 B"
    assert units.fmt_bytes(12_345) == "12.3 kB"
    assert units.fmt_bytes(4_567_890) == "4.57 MB"
    assert units.fmt_bytes(8 * 10**9) == "8 GB"
    assert units.fmt_bytes(2 * 10**12) == "2 TB"
    assert units.fmt_bytes(None, missing="-") == "-"
    assert units.bytes_in(12_345, "kB") == "12.3"
    assert units.bytes_in(50_000_000, "MB") == "50.0"
    assert units.bytes_in("", "MB", missing="-") == "-"


def test_energy_ratio_and_precision() -> None:
    assert units.fmt_joules(2.5) == "2.5 J" and units.fmt_joules(0.0123) == "12.3 mJ"
    assert units.fmt_ratio(4.2) == "4.2×" and units.fmt_ratio(None) == "–"
    assert units.fmt_pm(1e-3, 0.99e-3, 1.01e-3) == " ±1 %"
    assert units.fmt_pm(1e-3, None, 1.01e-3) == "" and units.fmt_pm(0, 0, 0) == ""


def test_terminal_and_report_share_the_units() -> None:
    from edgebench.commands.devices import _human_bytes
    from edgebench.progress import fmt_pm
    from edgebench.report import cells

    assert _human_bytes(8_000_000_000) == "8 GB" and _human_bytes(None) == "-"
    assert cells.fmt_p50({"latency_p50_s": 14.1e-6, "latency_p50_ci_low_s": 14.0e-6,
                          "latency_p50_ci_high_s": 14.2e-6}) == "14.1 µs ±0.71 %"
    assert fmt_pm({"latency_p50_s": 14.1e-6, "latency_p50_ci_low_s": 14.0e-6,
                   "latency_p50_ci_high_s": 14.2e-6}) == " ±0.71 %"
