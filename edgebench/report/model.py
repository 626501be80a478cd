"""The report's data model: what :mod:`edgebench.report.tables` computes and every format
renders (recommendations, warnings, the whole report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgebench.quality import MAX_ACCURACY_DROP_PTS

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Recommendation:
    """The variant to ship for one model on one device, and why."""

    model: str
    device: str
    variant: str | None
    format: str | None
    objective: str
    runtime: str | None = None  # the runtime to ship it on (summary's runtime name)
    latency_p50_s: float | None = None
    latency_p50_ci_low_s: float | None = None
    latency_p50_ci_high_s: float | None = None
    speedup_vs_fp32: float | None = None
    size_ratio: float | None = None
    accuracy_change_pts: float | None = None
    reason: str = ""
    # variants whose p50 99 % interval overlaps the chosen one's: the data cannot rank them
    tied_with: list[str] = field(default_factory=list)


@dataclass
class ReportWarning:
    """One problem a reader must see; ``kind`` is fingerprint/throttled/governor/temperature/
    noop/journal/incomplete (comparability) or quality/slower (a variant worse than fp32)."""

    kind: str
    message: str
    model: str | None = None
    variant: str | None = None
    device: str | None = None


@dataclass
class ReportData:
    """Everything a report shows, in measured units; renderers only format it."""

    run_meta: dict[str, Any]
    rows: "pd.DataFrame"  # one per job + derived columns (see derive())
    recommendations: list[Recommendation]
    warnings: list[ReportWarning]
    environment: dict[str, dict[str, Any]]  # device -> machine info + fingerprint
    objective: str = "latency"
    max_accuracy_drop_pts: float = MAX_ACCURACY_DROP_PTS
    history: "pd.DataFrame | None" = None  # run_id, run_started_at, ident, latency_p50_s
    samples: dict[str, Any] = field(default_factory=dict)  # job_id -> latencies (s)
    sustained: dict[str, Any] = field(default_factory=dict)  # job_id -> the agent's sustained block
    regressions: list[dict[str, Any]] = field(default_factory=list)  # from a comparison
    # combination variants vs the product of their steps alone (edgebench.report.synergy)
    combinations: list[Any] = field(default_factory=list)
    profiles: dict[str, Any] = field(default_factory=dict)  # job_id -> the agent's profile block

    @property
    def run_id(self) -> str:
        return str(self.run_meta.get("run_id", ""))

    @property
    def devices(self) -> list[str]:
        listed = [str(d) for d in self.run_meta.get("devices") or []]
        seen = [d for d in self.rows["device"].dropna().unique() if d not in listed]
        return listed + sorted(str(d) for d in seen)

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(str(m) for m in self.rows["model"].dropna()))
