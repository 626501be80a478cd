"""The sustained-mode chart: p50 latency and SoC temperature per time bin, hand-written SVG.

Drawn on the controller from the agent's per-bin records (the device never draws); no
JavaScript, no plotting library, readable from ``file://``, every label escaped.  Latency
uses the left axis, temperature the right one; a dashed line marks when latency first
exceeded burst by 10 %, and each point's tooltip also gives the bin's lowest CPU clock.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Optional, Sequence

from edgebench.units import seconds_unit

W, H = 720, 320
PAD_L, PAD_R, PAD_T, PAD_B = 70, 70, 30, 48
LATENCY_COLOR, TEMP_COLOR, ONSET_COLOR = "#4e79a7", "#e15759", "#59a14f"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _nice(lo: float, hi: float) -> tuple[float, float]:
    """An axis range that holds [lo, hi] with round ends."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    span = hi - lo
    step = 10 ** math.floor(math.log10(span / 4))
    for mult in (1, 2, 2.5, 5, 10):
        if span / (step * mult) <= 5:
            step *= mult
            break
    return math.floor(lo / step) * step, math.ceil(hi / step) * step


def plot(title: str, bins: Sequence[dict[str, Any]], onset_s: Optional[float] = None) -> str:
    """One ``<svg>``: p50 per bin (left axis) and hottest-zone temperature (right axis)."""
    pts = [b for b in bins if b.get("p50_s") is not None]
    if not pts:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} 60" '
                f'width="{W}" height="60"><title>{_e(title)}</title><text x="10" y="30">'
                f'{_e(title)}: no bins</text></svg>')
    mid = [(float(b["t_start_s"]) + float(b["t_end_s"])) / 2 for b in pts]
    x_hi = max(float(b["t_end_s"]) for b in pts)
    lat = [float(b["p50_s"]) for b in pts]
    scale, unit = seconds_unit(max(lat))
    y_lo, y_hi = _nice(0.0, max(lat) * scale * 1.05)
    temps = [(m, float(b["temp_c"])) for m, b in zip(mid, pts, strict=False) if b.get("temp_c") is not None]
    t_lo, t_hi = _nice(min(t for _, t in temps) - 1, max(t for _, t in temps) + 1) if temps else (0.0, 1.0)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def px(t: float) -> float:
        return PAD_L + plot_w * t / (x_hi or 1.0)

    def py(v: float) -> float:
        return H - PAD_B - plot_h * (v * scale - y_lo) / (y_hi - y_lo)

    def pt(c: float) -> float:
        return H - PAD_B - plot_h * (c - t_lo) / (t_hi - t_lo)

    body = []
    for i in range(5):
        frac = i / 4
        y = H - PAD_B - plot_h * frac
        body.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="g"/>'
                    f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{LATENCY_COLOR}">'
                    f'{y_lo + (y_hi - y_lo) * frac:.3g}</text>')
        if temps:
            body.append(f'<text x="{W - PAD_R + 4}" y="{y + 4:.1f}" fill="{TEMP_COLOR}">'
                        f'{t_lo + (t_hi - t_lo) * frac:.3g}</text>')
        x_val = x_hi * frac
        body.append(f'<text x="{px(x_val):.1f}" y="{H - PAD_B + 14}" text-anchor="middle">'
                    f'{x_val:.3g}</text>')
    if onset_s is not None:
        body.append(f'<line x1="{px(onset_s):.1f}" x2="{px(onset_s):.1f}" y1="{PAD_T}" '
                    f'y2="{H - PAD_B}" stroke="{ONSET_COLOR}" stroke-dasharray="5 3"/>'
                    f'<text x="{px(onset_s) + 4:.1f}" y="{PAD_T + 10}" fill="{ONSET_COLOR}">'
                    f'+10 % at {onset_s:.3g} s</text>')
    line = " ".join(f"{px(m):.1f},{py(v):.1f}" for m, v in zip(mid, lat, strict=False))
    body.append(f'<polyline fill="none" stroke="{LATENCY_COLOR}" stroke-width="2" points="{line}"/>')
    for m, b in zip(mid, pts, strict=False):
        clock = b.get("min_freq_khz")
        tip = (f"{float(b['t_start_s']):.3g}–{float(b['t_end_s']):.3g} s: p50 "
               f"{float(b['p50_s']) * scale:.4g} {unit}, {b.get('count')} runs"
               + (f", {float(b['temp_c']):.1f} °C" if b.get("temp_c") is not None else "")
               + (f", clock {int(clock)} kHz" if clock is not None else ""))
        body.append(f'<circle cx="{px(m):.1f}" cy="{py(float(b["p50_s"])):.1f}" r="2.5" '
                    f'fill="{LATENCY_COLOR}"><title>{_e(tip)}</title></circle>')
    if temps:
        tline = " ".join(f"{px(m):.1f},{pt(c):.1f}" for m, c in temps)
        body.append(f'<polyline fill="none" stroke="{TEMP_COLOR}" stroke-width="1.5" '
                    f'stroke-dasharray="2 2" points="{tline}"/>')
    mid_y = PAD_T + plot_h / 2
    labels = (f'<text x="{PAD_L + plot_w / 2}" y="{H - 8}" text-anchor="middle">time (s)</text>'
              f'<text x="14" y="{mid_y}" text-anchor="middle" fill="{LATENCY_COLOR}" '
              f'transform="rotate(-90 14 {mid_y})">p50 latency per bin ({unit})</text>')
    if temps:
        labels += (f'<text x="{W - 12}" y="{mid_y}" text-anchor="middle" fill="{TEMP_COLOR}" '
                   f'transform="rotate(90 {W - 12} {mid_y})">hottest zone (°C)</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'viewBox="0 0 {W} {H}" width="{W}" height="{H}"><title>{_e(title)}</title>'
            f'<text x="{PAD_L}" y="18" class="t">{_e(title)}</text>{labels}'
            + "".join(body) + "</svg>")
