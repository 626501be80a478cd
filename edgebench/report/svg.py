"""Hand-written inline SVG charts: no JavaScript, no CDN, readable from ``file://``.

Each function returns one ``<svg>`` string; every label passes through ``html.escape``
because model, variant and device names are user input.
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 300, 64, 150, 24, 48


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _nice_max(v: float) -> float:
    if v <= 0 or not math.isfinite(v):
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    for step in (1, 2, 2.5, 5, 10):
        if step * mag >= v:
            return step * mag
    return 10 * mag


def _frame(title: str, body: list[str], x_label: str, y_label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'viewBox="0 0 {W} {H}" width="{W}" height="{H}"><title>{_e(title)}</title>'
            f'<text x="{PAD_L}" y="16" class="t">{_e(title)}</text>'
            f'<text x="{PAD_L + (W - PAD_L - PAD_R) / 2}" y="{H - 8}" text-anchor="middle">'
            f'{_e(x_label)}</text>'
            f'<text x="14" y="{PAD_T + (H - PAD_T - PAD_B) / 2}" text-anchor="middle" '
            f'transform="rotate(-90 14 {PAD_T + (H - PAD_T - PAD_B) / 2})">{_e(y_label)}</text>'
            + "".join(body) + "</svg>")


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = PAD_T + 14 * i + 8
        out.append(f'<rect x="{W - PAD_R + 10}" y="{y - 8}" width="10" height="10" '
                   f'fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{W - PAD_R + 24}" y="{y + 1}">{_e(name[:22])}</text>')
    return out


def _y_axis(y_max: float, scale: float, unit: str) -> list[str]:
    out = []
    plot_h = H - PAD_T - PAD_B
    for i in range(5):
        v = y_max * i / 4
        y = H - PAD_B - plot_h * i / 4
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="g"/>'
                   f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{v * scale:.3g}{_e(unit)}</text>')
    return out


def grouped_bars(title: str, groups: Sequence[str], series: Sequence[str],
                 values: dict[tuple[str, str], float], y_label: str = "p50 latency (ms)",
                 scale: float = 1e3) -> str:
    """Bars of values[(group, series)], one cluster per group (device)."""
    finite = [v for v in values.values() if v is not None and math.isfinite(v)]
    y_max = _nice_max(max(finite) if finite else 1.0)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    body = _y_axis(y_max, scale, "")
    gw = plot_w / max(len(groups), 1)
    bw = gw * 0.8 / max(len(series), 1)
    for gi, g in enumerate(groups):
        x0 = PAD_L + gi * gw + gw * 0.1
        body.append(f'<text x="{x0 + gw * 0.4:.1f}" y="{H - PAD_B + 14}" text-anchor="middle">'
                    f'{_e(g[:24])}</text>')
        for si, s in enumerate(series):
            v = values.get((g, s))
            if v is None or not math.isfinite(v):
                continue
            h = plot_h * v / y_max
            body.append(f'<rect x="{x0 + si * bw:.1f}" y="{H - PAD_B - h:.1f}" width="{bw * 0.9:.1f}" '
                        f'height="{h:.1f}" fill="{PALETTE[si % len(PALETTE)]}">'
                        f'<title>{_e(s)} on {_e(g)}: {v * scale:.4g}</title></rect>')
    return _frame(title, body + _legend(series), "device", y_label)


def scatter(title: str, points: Sequence[tuple[str, float, float, bool]],
            x_label: str = "p50 latency (ms)", y_label: str = "accuracy (%)",
            x_scale: float = 1e3, y_scale: float = 1.0) -> str:
    """(label, x, y, on_front) points; the Pareto front is joined by a line."""
    pts = [p for p in points if all(math.isfinite(v) for v in (p[1], p[2]))]
    if not pts:
        return _frame(title, ['<text x="200" y="150">no points with both values</text>'],
                      x_label, y_label)
    xs, ys = [p[1] for p in pts], [p[2] for p in pts]
    x_max = _nice_max(max(xs))
    y_lo, y_hi = min(ys), max(ys)
    span = (y_hi - y_lo) or abs(y_hi) * 0.01 or 1.0
    y_lo, y_hi = y_lo - span * 0.15, y_hi + span * 0.15
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def px(x: float) -> float:
        return PAD_L + plot_w * x / x_max

    def py(y: float) -> float:
        return H - PAD_B - plot_h * (y - y_lo) / (y_hi - y_lo)

    body = []
    for i in range(5):
        y = y_lo + (y_hi - y_lo) * i / 4
        body.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{py(y):.1f}" y2="{py(y):.1f}" class="g"/>'
                    f'<text x="{PAD_L - 4}" y="{py(y) + 4:.1f}" text-anchor="end">{y * y_scale:.4g}</text>')
        x = x_max * i / 4
        body.append(f'<text x="{px(x):.1f}" y="{H - PAD_B + 14}" text-anchor="middle">{x * x_scale:.3g}</text>')
    front = sorted((p for p in pts if p[3]), key=lambda p: p[1])
    if len(front) > 1:
        path = " ".join(f"{px(p[1]):.1f},{py(p[2]):.1f}" for p in front)
        body.append(f'<polyline points="{path}" fill="none" stroke="#59a14f" stroke-dasharray="4 3"/>')
    for label, x, y, on_front in pts:
        body.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="{6 if on_front else 4}" '
                    f'fill="{"#59a14f" if on_front else "#bab0ac"}"><title>{_e(label)}: '
                    f'{x * x_scale:.4g}, {y * y_scale:.4g}</title></circle>'
                    f'<text x="{px(x) + 7:.1f}" y="{py(y) - 5:.1f}">{_e(label[:20])}</text>')
    return _frame(title, body, x_label, y_label)


def lines(title: str, series: dict[str, list[tuple[str, float]]],
          y_label: str = "p50 latency (ms)", scale: float = 1e3) -> str:
    """One line per series over run order; x labels are run ids (first and last shown)."""
    xs = list(dict.fromkeys(x for pts in series.values() for x, _ in pts))
    finite = [v for pts in series.values() for _, v in pts if math.isfinite(v)]
    y_max = _nice_max(max(finite) if finite else 1.0)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    body = _y_axis(y_max, scale, "")
    step = plot_w / max(len(xs) - 1, 1)
    pos = {x: PAD_L + i * step for i, x in enumerate(xs)}
    if xs:
        body.append(f'<text x="{PAD_L}" y="{H - PAD_B + 14}">{_e(xs[0][:28])}</text>')
        if len(xs) > 1:
            body.append(f'<text x="{W - PAD_R}" y="{H - PAD_B + 14}" text-anchor="end">'
                        f'{_e(xs[-1][:28])}</text>')
    for si, (name, pts) in enumerate(series.items()):
        color = PALETTE[si % len(PALETTE)]
        coords = [(pos[x], H - PAD_B - plot_h * v / y_max, x, v) for x, v in pts if math.isfinite(v)]
        if len(coords) > 1:
            body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                        + " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy, _, _ in coords) + '"/>')
        for cx, cy, x, v in coords:
            body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{color}">'
                        f'<title>{_e(name)} @ {_e(x)}: {v * scale:.4g}</title></circle>')
    return _frame(title, body + _legend(list(series)), "run", y_label)
