"""Sustained mode: run inference without pause for ``duration_s`` and see what heat does.

A short benchmark measures a cool device at full clock ("burst"); a camera pipeline runs
for hours on a hot one.  Latency doubled under throttling in the field (MegaDetector issue
34) and a device's ranking at minute 1 differed from minute 30, so this mode records, per
time bin of ``bin_s``: latency statistics, the hottest thermal zone and the CPU clocks read
at the bin's end, and (on a Pi) the firmware's throttle bits.  The analysis -- burst p50
(the first bin), sustained p50 (the last minute), when latency first exceeded burst by
10 %, the throttle flags seen -- is made of pure functions over those bins, so it is tested
on constructed bins exactly; the loop takes its clock as an argument for the same reason.

Stdlib only (numpy is not needed: per-bin statistics sort a bin's runs once).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .probes.sysfs import Sysfs
from .probes.thermal import FREQ_SHORTFALL, policy_dirs, read_cur_freqs, read_throttled, read_zones, zone_dirs
from .stats import percentile, quantile_ci

#: Latency "exceeds burst" when a bin's p50 is above burst p50 by more than this factor.
ONSET_FACTOR = 1.10
#: ... for this many consecutive bins (or to the end of the run): one preempted bin on a
#: busy machine is not the start of throttling.
ONSET_PERSIST_BINS = 2
#: The sustained figure is the last minute; runs shorter than 4 minutes use their last
#: quarter instead, so a short (CI) run still has a burst and a sustained part apart.
SUSTAINED_WINDOW_S = 60.0

Env = Dict[str, Any]


class EnvReader:
    """Hottest zone temperature, per-policy current clock and Pi throttle bits, read at the
    end of each bin (a few small files: tens of microseconds between two inferences)."""

    def __init__(self, fs: Sysfs) -> None:
        self.fs = fs
        self._zones = zone_dirs(fs)
        self._policies = policy_dirs(fs)

    def __call__(self) -> Env:
        zones = read_zones(self.fs, self._zones)
        hottest = max(zones, key=lambda z: z.temp_c) if zones else None
        freqs = read_cur_freqs(self._policies)
        throttled, _why = read_throttled()
        return {"temp_c": hottest.temp_c if hottest else None,
                "zone": hottest.type if hottest else None,
                "freq_khz": freqs,
                "throttled_bits": throttled.value if throttled is not None else None}


def sustained_loop(infer: Callable[[], Any], duration_s: float, bin_s: float,
                   read_env: Callable[[], Env],
                   clock_ns: Callable[[], int] = time.perf_counter_ns
                   ) -> Tuple[List[int], List[Dict[str, Any]], Env]:
    """Run ``infer`` until ``duration_s`` has passed; return (latencies in ns, raw bins,
    the environment at the start).

    A run belongs to the bin in which it ends; bin edges lie on a fixed grid from the start
    (no drift), and a bin closes with the first run that ends past its edge, so its real
    start and end times (``t_start_s``, ``t_end_s``) are recorded, not the grid's.
    """
    perf = clock_ns
    latencies: List[int] = []
    append = latencies.append
    bins: List[Dict[str, Any]] = []
    env0 = read_env()
    start = perf()
    bin_ns = max(1, int(bin_s * 1e9))
    end = start + int(duration_s * 1e9)
    edge = start + bin_ns
    bin_start, first = start, 0
    while True:
        t0 = perf()
        infer()
        t1 = perf()
        append(t1 - t0)
        done = t1 >= end
        if t1 >= edge or done:
            bins.append({"t_start_s": (bin_start - start) / 1e9, "t_end_s": (t1 - start) / 1e9,
                         "first": first, "stop": len(latencies), "env": read_env()})
            first, bin_start = len(latencies), t1
            while edge <= t1:
                edge += bin_ns
        if done:
            return latencies, bins, env0


def bin_table(latencies_s: Sequence[float], raw_bins: Sequence[Dict[str, Any]]
              ) -> List[Dict[str, Any]]:
    """Per-bin statistics (p50 with its 99 % interval, p90, mean, min, max) and readings."""
    out: List[Dict[str, Any]] = []
    for i, raw in enumerate(raw_bins):
        values = sorted(latencies_s[raw["first"]:raw["stop"]])
        env = raw.get("env") or {}
        freqs = env.get("freq_khz") or {}
        ci = quantile_ci(values, 50) if values else None
        out.append({
            "index": i, "t_start_s": raw["t_start_s"], "t_end_s": raw["t_end_s"],
            "count": len(values),
            "p50_s": percentile(values, 50) if values else None,
            "p50_ci_low_s": ci["low_s"] if ci else None,
            "p50_ci_high_s": ci["high_s"] if ci else None,
            "p90_s": percentile(values, 90) if values else None,
            "mean_s": sum(values) / len(values) if values else None,
            "min_s": values[0] if values else None, "max_s": values[-1] if values else None,
            "temp_c": env.get("temp_c"),
            "freq_khz": dict(freqs),
            "min_freq_khz": min(freqs.values()) if freqs else None,
            "throttled_bits": env.get("throttled_bits"),
        })
    return out


def onset_s(bins: Sequence[Dict[str, Any]], burst_p50_s: Optional[float],
            factor: float = ONSET_FACTOR, persist_bins: int = ONSET_PERSIST_BINS
            ) -> Optional[float]:
    """Start time of the first bin whose p50 exceeds ``factor`` x burst p50 and stays above
    it for ``persist_bins`` bins (or until the run ends); None when latency never does."""
    if not burst_p50_s:
        return None
    limit = burst_p50_s * factor
    slow = [b["p50_s"] is not None and b["p50_s"] > limit for b in bins]
    for i in range(1, len(bins)):
        if all(slow[i:i + persist_bins]):
            return float(bins[i]["t_start_s"])
    return None


def sustained_window(bins: Sequence[Dict[str, Any]], duration_s: float) -> List[Dict[str, Any]]:
    """The bins of the sustained figure: those starting in the last minute (last quarter of
    a run shorter than 4 minutes); never the first bin, which is the burst."""
    if len(bins) < 2:
        return []
    window = SUSTAINED_WINDOW_S if duration_s >= 4 * SUSTAINED_WINDOW_S else duration_s / 4.0
    end = float(bins[-1]["t_end_s"])
    chosen = [b for b in bins[1:] if float(b["t_start_s"]) >= end - window - 1e-9]
    return chosen or [bins[-1]]


def throttle_flags(bins: Sequence[Dict[str, Any]], env0: Env) -> List[str]:
    """What the readings say happened: clocks below their start, throttle bits, heat.
    Times are those of the readings, taken at each bin's end."""
    flags: List[str] = []
    start_freqs = dict(env0.get("freq_khz") or {})
    if bins:  # the reference is the higher of the start and first-bin clocks (ondemand ramps up)
        for policy, khz in (bins[0].get("freq_khz") or {}).items():
            start_freqs[policy] = max(khz, start_freqs.get(policy, khz))
    for policy, ref in sorted(start_freqs.items()):
        for b in bins:
            cur = (b.get("freq_khz") or {}).get(policy)
            if cur is not None and cur < ref * (1.0 - FREQ_SHORTFALL):
                seen = [(bb.get("freq_khz") or {}).get(policy) for bb in bins]
                low = min([ref] + [int(k) for k in seen if k is not None])
                flags.append(f"{policy} clock fell from {ref} kHz to {cur} kHz by "
                             f"{float(b['t_end_s']):.2f} s (lowest {low} kHz)")
                break
    seen_bits = 0
    first_bits: Optional[Dict[str, Any]] = None
    for b in bins:
        bits = b.get("throttled_bits")
        if bits:
            seen_bits |= int(bits)
            first_bits = first_bits or b
    if seen_bits and first_bits is not None:
        flags.append(f"vcgencmd get_throttled=0x{seen_bits:x} seen by "
                     f"{float(first_bits['t_end_s']):.2f} s")
    temps = [b["temp_c"] for b in bins if b.get("temp_c") is not None]
    t0 = env0.get("temp_c")
    if temps and t0 is not None and max(temps) > t0:
        flags.append(f"hottest zone rose from {t0:.1f} C to {max(temps):.1f} C")
    return flags


def analyse(latencies_s: Sequence[float], raw_bins: Sequence[Dict[str, Any]], env0: Env,
            duration_s: float, bin_s: float) -> Dict[str, Any]:
    """The ``sustained`` block of a result."""
    bins = bin_table(latencies_s, raw_bins)
    burst = bins[0] if bins else None
    burst_p50 = burst["p50_s"] if burst else None
    window = sustained_window(bins, duration_s)
    pooled = sorted(v for b in window for v in latencies_s[raw_bins[b["index"]]["first"]:
                                                            raw_bins[b["index"]]["stop"]])
    sustained_p50 = percentile(pooled, 50) if pooled else None
    ci = quantile_ci(pooled, 50) if pooled else None
    onset = onset_s(bins, burst_p50)
    temps = [b["temp_c"] for b in bins if b["temp_c"] is not None]
    clocks = [b["min_freq_khz"] for b in bins if b["min_freq_khz"] is not None]
    return {
        "duration_s": duration_s, "bin_s": bin_s,
        "burst_p50_s": burst_p50,
        "burst_p50_ci_low_s": burst["p50_ci_low_s"] if burst else None,
        "burst_p50_ci_high_s": burst["p50_ci_high_s"] if burst else None,
        "sustained_p50_s": sustained_p50,
        "sustained_p50_ci_low_s": ci["low_s"] if ci else None,
        "sustained_p50_ci_high_s": ci["high_s"] if ci else None,
        "sustained_window_s": ((float(bins[-1]["t_end_s"]) - float(window[0]["t_start_s"]))
                               if window else None),
        "sustained_over_burst": sustained_p50 / burst_p50 if sustained_p50 and burst_p50 else None,
        "onset_s": onset, "onset_factor": ONSET_FACTOR, "onset_persist_bins": ONSET_PERSIST_BINS,
        "temp_start_c": env0.get("temp_c"), "temp_max_c": max(temps) if temps else None,
        "freq_start_khz": env0.get("freq_khz") or {},
        "freq_min_khz": min(clocks) if clocks else None,
        "throttle_flags": throttle_flags(bins, env0),
        "bins": bins,
    }
