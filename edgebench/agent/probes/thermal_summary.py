"""Turn thermal/clock readings into the flags and warnings a report shows.

Kept apart from the readers so the rules (what counts as throttled, when a governor
deserves a warning) can be tested on hand-made snapshots.
"""

from __future__ import annotations

from typing import Dict, List, Optional, cast

from .thermal import FREQ_SHORTFALL, STEADY_GOVERNORS, TURBO_DRIVERS, CpuPolicy, ThermalSnapshot


def _clock_shortfalls(policies: List[CpuPolicy], during_min_khz: Dict[str, int], when: str) -> List[str]:
    """Policies under a steady governor whose clock sat below the policy maximum."""
    found: List[str] = []
    for policy in policies:
        if policy.governor not in STEADY_GOVERNORS or policy.driver in TURBO_DRIVERS:
            continue
        max_khz = policy.scaling_max_freq_khz
        cur_khz = during_min_khz.get(policy.policy) if when == "during" else policy.cur_freq_khz
        if max_khz and cur_khz is not None and cur_khz < max_khz * (1.0 - FREQ_SHORTFALL):
            found.append(
                f"{policy.policy} ran at {cur_khz} kHz {when} the job, below its maximum "
                f"{max_khz} kHz under the '{policy.governor}' governor (thermal or power capping)"
            )
    return found


def summarize(
    before: Optional[ThermalSnapshot],
    during: Optional[Dict[str, object]],
    after: Optional[ThermalSnapshot],
    *,
    temp_rise_warn_c: float,
    cooldown_wait_s: Optional[float] = None,
    cooldown_reached: Optional[bool] = None,
    cooldown_below_c: Optional[float] = None,
) -> Dict[str, object]:
    """The ``thermal`` block of a result: snapshots, flags and human-readable warnings."""
    warnings: List[str] = []
    reasons: List[str] = []
    snaps = [s for s in (before, after) if s is not None]

    # Throttle bits (Pi): any 'now' or 'has occurred' bit makes the run suspect.
    for label, snap in (("before", before), ("after", after)):
        if snap is not None and snap.throttled is not None and snap.throttled.value:
            reasons.append(f"vcgencmd get_throttled={snap.throttled.raw} {label} the job: "
                           + ", ".join(snap.throttled.active))
    if before is not None and after is not None and before.throttled and after.throttled:
        new_bits = after.throttled.value & ~before.throttled.value
        if new_bits:
            warnings.append(f"throttle bits 0x{new_bits:x} appeared during the job")

    # Clocks held under the maximum with a governor that should hold it.
    first = before or after
    policies = first.cpufreq if first is not None else []
    during_min = (during or {}).get("min_freq_khz") or {}
    for label, snap in (("before", before), ("after", after)):
        if snap is not None:
            reasons.extend(_clock_shortfalls(snap.cpufreq, {}, label))
    reasons.extend(_clock_shortfalls(policies, during_min, "during"))  # type: ignore[arg-type]

    governors = sorted({p.governor for s in snaps for p in s.cpufreq if p.governor})
    for governor in governors:
        if governor not in STEADY_GOVERNORS:
            warnings.append(f"CPU governor '{governor}': clocks follow load, so latency varies; "
                            "set 'performance' for stable figures")
    for policy in policies:
        if policy.scaling_max_freq_khz and policy.cpuinfo_max_freq_khz and \
                policy.scaling_max_freq_khz < policy.cpuinfo_max_freq_khz and policy.driver not in TURBO_DRIVERS:
            warnings.append(f"{policy.policy} limited to {policy.scaling_max_freq_khz} kHz by scaling_max_freq "
                            f"(hardware maximum {policy.cpuinfo_max_freq_khz} kHz)")

    hottest_before = before.hottest_c if before else None
    during_hottest = cast(Optional[float], (during or {}).get("hottest_c"))
    peaks = [t for t in (during_hottest, after.hottest_c if after else None) if t is not None]
    hottest_during = max(peaks) if peaks else None
    temp_rise_c = hottest_during - hottest_before if hottest_during is not None and hottest_before is not None else None
    if temp_rise_c is not None and temp_rise_c > temp_rise_warn_c:
        warnings.append(f"hottest zone rose {temp_rise_c:.1f} C during the job "
                        f"(from {hottest_before:.1f} C to {hottest_during:.1f} C; "
                        f"warning above {temp_rise_warn_c:g} C)")
    if cooldown_below_c is not None and cooldown_reached is False:
        warnings.append(f"cooldown: hottest zone still at or above {cooldown_below_c:g} C after "
                        f"{cooldown_wait_s or 0.0:.1f} s (or no thermal zone to read)")

    throttled = bool(reasons)
    return {
        "throttled": throttled,
        "throttle_reasons": reasons,
        "temp_rise_c": temp_rise_c,
        "hottest_before_c": hottest_before,
        "hottest_during_c": hottest_during,
        "governors": governors,
        "power_mode": next((s.power_mode for s in snaps if s.power_mode), None),
        "warnings": (["throttled: " + r for r in reasons]) + warnings,
        "cooldown_wait_s": cooldown_wait_s,
        "before": before.to_dict() if before else None,
        "during": during,
        "after": after.to_dict() if after else None,
    }
