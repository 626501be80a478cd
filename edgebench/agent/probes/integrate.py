"""Energy arithmetic: trapezoids over exactly the timed window, and counter deltas.

Samples never line up with the window edges, so the power at each edge is
interpolated between its neighbours; outside the sampled span the nearest sample is
held (the only honest guess).  Pure functions on plain lists: exact tests are easy.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Optional, Sequence


def interpolate(times_s: Sequence[float], values: Sequence[float], at_s: float) -> float:
    """Linear interpolation at ``at_s``; the first/last value outside the samples."""
    if not times_s:
        raise ValueError("no samples to interpolate")
    if at_s <= times_s[0]:
        return float(values[0])
    if at_s >= times_s[-1]:
        return float(values[-1])
    right = bisect_right(times_s, at_s)
    left = right - 1
    t0, t1 = times_s[left], times_s[right]
    if t1 == t0:
        return float(values[right])
    frac = (at_s - t0) / (t1 - t0)
    return float(values[left]) + frac * (float(values[right]) - float(values[left]))


def trapezoid_energy_j(
    times_s: Sequence[float], power_w: Sequence[float], start_s: float, end_s: float
) -> float:
    """Integral of power over [start_s, end_s] with trapezoids, edges interpolated.

    ``times_s`` must be sorted.  A sample set that does not reach an edge is extended
    flat to it, so a window shorter than one sample interval still gets a figure.
    """
    if len(times_s) != len(power_w):
        raise ValueError("times_s and power_w differ in length")
    if end_s < start_s:
        raise ValueError("window ends before it starts")
    if not times_s:
        raise ValueError("no power samples")
    inner_lo = bisect_right(times_s, start_s)
    inner_hi = bisect_left(times_s, end_s)
    points_t = [start_s] + list(times_s[inner_lo:inner_hi]) + [end_s]
    points_p = (
        [interpolate(times_s, power_w, start_s)]
        + [float(p) for p in power_w[inner_lo:inner_hi]]
        + [interpolate(times_s, power_w, end_s)]
    )
    energy_j = 0.0
    for i in range(1, len(points_t)):
        energy_j += (points_t[i] - points_t[i - 1]) * (points_p[i] + points_p[i - 1]) / 2.0
    return energy_j


def cumulative_delta_j(
    times_s: Sequence[float], cumulative_j: Sequence[float], start_s: float, end_s: float
) -> float:
    """Energy between two instants from a cumulative (unwrapped counter) series."""
    return interpolate(times_s, cumulative_j, end_s) - interpolate(times_s, cumulative_j, start_s)


def counter_delta(previous: int, current: int, max_range: Optional[int]) -> int:
    """Counter increase between two reads, adding the range once when it wrapped.

    RAPL's ``energy_uj`` restarts at 0 after ``max_energy_range_uj``; reads must be
    frequent enough that it wraps at most once between two of them (the sampler
    reads every few tens of ms, a package needs minutes to wrap).
    """
    if current >= previous:
        return current - previous
    if not max_range:
        raise ValueError(
            f"energy counter went backwards ({previous} -> {current}) and has no known range"
        )
    return current + max_range - previous


def count_in_window(times_s: Sequence[float], start_s: float, end_s: float) -> int:
    """Samples with start_s <= t <= end_s."""
    return bisect_right(times_s, end_s) - bisect_left(times_s, start_s)
