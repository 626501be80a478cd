"""``edgebench profile SUITE|RUN_ID``: where the time goes, operator by operator.

With a run id: print the operator profiles its jobs recorded (suites with
``benchmark: {profile: true}``).  With a suite file: run it with ``profile: true`` (on
``local`` unless ``--device`` says otherwise) and print the same tables.  The profile is
taken after each job's timed loop in a separate session (docs/profile.md), so the run's
headline figures are the ones an unprofiled run gives.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from edgebench.units import terminal_seconds

HELP = """\
Per job: the profiled mean inference, the sum of its kernels, the sum of the node spans
(kernel + the executor's dispatch gap before it) and the profiler's measured cost; per op
type: nodes, kernel and span time per inference, their shares of the inference, and the
provider that ran it (ONNX Runtime).  LiteRT jobs: which ops the delegate (XNNPACK) took.  A variant
slower than fp32 on the same device and runtime gets the op types that account for it.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("profile", help="per-operator profile of a run's jobs, or of a suite",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="SUITE|RUN_ID",
                   help="a suite YAML (run it with profile: true) or a run id under --out")
    p.add_argument("--model", action="append", metavar="NAME", dest="models",
                   help="only this model (repeatable)")
    p.add_argument("--device", action="append", metavar="NAME", dest="device_names",
                   help="only this device (repeatable; a suite runs on local by default)")
    p.add_argument("--devices", metavar="FILE", help="device registry (suite runs)")
    p.add_argument("--out", "--results", metavar="DIR", dest="results", default="results",
                   help="results root (default: results; --results is the same)")
    p.add_argument("--store", metavar="URL", help="results database a suite run is stored in "
                   "(default: sqlite at OUT/edgebench.db; any SQLAlchemy URL)")
    p.add_argument("--no-store", action="store_true", help="do not ingest a suite run")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from edgebench.results.journal import latest_records, parse_journal

    target = Path(args.target)
    if target.suffix in (".yaml", ".yml") and target.is_file():
        run_dir = _run_suite(args, target)
    else:
        from edgebench.errors import UsageError
        from edgebench.results.journal import validate_run_id

        run_dir = Path(args.results) / validate_run_id(args.target)
        if not (run_dir / "results.jsonl").exists():
            raise UsageError(f"no run {args.target!r} under {args.results} and no suite file "
                             f"of that name", hint="give a run id or a suite .yaml")
    records = latest_records(parse_journal(run_dir / "results.jsonl", keep_samples=False).records)
    records = [r for r in records
               if (not args.models or r.get("model") in args.models)
               and (not args.device_names or r.get("device") in args.device_names)]
    return print_profiles(records, sys.stdout)


def _run_suite(args: argparse.Namespace, suite: Path) -> Path:
    """Run the suite with profile: true; the toolchains' output goes to toolchain.log."""
    from edgebench.progress import ConsoleProgress
    from edgebench.results.sink import LiveSink
    from edgebench.run import run_suite
    from edgebench.toolchain_log import ToolchainCapture

    out = Path(args.results)
    progress = ConsoleProgress(quiet=False)
    # stored like any run, so `edgebench report RUN_ID` and publish show its profiles
    sink = None if args.no_store else LiveSink(
        args.store, out, lambda text: print(text, file=sys.stderr)).open()
    try:
        with ToolchainCapture(out, enabled=True) as capture:
            progress.stream, progress.on_run_dir = capture.terminal, capture.place
            outcome = run_suite(suite, devices_path=args.devices,
                                device_names=args.device_names or ["local"], out_dir=out,
                                models=args.models, benchmark_overrides={"profile": True},
                                on_record=sink, progress=progress)
        if sink is not None:
            sink.finish(Path(outcome.run_dir))
    finally:
        if sink is not None:
            sink.close()
    print(f"run {outcome.run_id}: {outcome.run_dir}")
    return Path(outcome.run_dir)


def print_profiles(records: list[dict[str, Any]], stream: TextIO) -> int:
    """The operator tables of these journal records; 1 when none carries a profile."""
    from edgebench.explain import delegation_text, explain, has_timings
    from edgebench.textsafe import printable

    def ident(rec: dict[str, Any]) -> tuple[str, str, str, str]:
        return (rec.get("model") or "", rec.get("format") or "", rec.get("device") or "",
                rec.get("variant") or "")

    profiles = {ident(r): ((r.get("result") or {}).get("profile")) for r in records
                if r.get("status") == "ok"}
    summaries = {ident(r): (r.get("summary") or {}) for r in records if r.get("status") == "ok"}
    shown = 0
    for key in sorted(profiles):
        prof = profiles[key]
        if not isinstance(prof, dict):
            continue
        shown += 1
        model, fmt, device, variant = (printable(k) for k in key)
        print(f"\n{model}/{variant} ({fmt}) on {device}", file=stream)
        if "error" in prof:
            print(f"  profile failed: {printable(str(prof['error']))}", file=stream)
        elif has_timings(prof):
            slow = prof.get("runs_excluded_slow")
            left_out = (f" ({slow} slower than {prof.get('slow_run_factor')}x the median left out)"
                        if slow else "")
            _print_totals(prof, left_out, stream)
            print(f"  {'op type':<24} {'nodes':>5} {'kernel':>10} {'share':>7} {'span':>10} "
                  f"{'share':>7}  ran on", file=stream)
            for t in prof["by_op_type"]:
                span = t.get("span_mean_s")  # absent in profiles recorded before spans
                span_cells = (f"{terminal_seconds(span):>10} {t['span_share'] * 100:>6.1f} %" if span is not None
                              else f"{'-':>10} {'-':>8}")
                print(f"  {printable(str(t['op_type'])):<24} {t['nodes']:>5} {terminal_seconds(t['mean_s']):>10} "
                      f"{t['share'] * 100:>6.1f} % {span_cells}  "
                      f"{', '.join(t.get('providers') or [])}", file=stream)
            base = (key[0], key[1], key[2], "fp32")
            ratio = _slower(summaries.get(key) or {}, summaries.get(base)) if key[3] != "fp32" else None
            why = explain(prof, profiles.get(base)) if ratio is not None else None
            if why is not None:  # only where the headline p50 says slower (edgebench.quality)
                print(f"  SLOWER THAN FP32 ({ratio:.2f}x p50): {why.text()}", file=stream)
        else:
            print(f"  {delegation_text(prof)}", file=stream)
            if prof.get("timing_note"):
                print(f"  ({prof['timing_note']})", file=stream)
    if not shown:
        print("edgebench: no job of this selection has an operator profile (set "
              "benchmark: {profile: true} in the suite, or run: edgebench profile SUITE)",
              file=sys.stderr)
        return 1
    return 0


def _print_totals(prof: dict[str, Any], left_out: str, stream: TextIO) -> None:
    """The job's lines: profiled inference, kernels, spans, the run's own work, and what
    the profiler cost (profiled vs unprofiled calls, timed alike)."""
    print(f"  {prof['runs']} profiled inferences{left_out}, mean "
          f"{terminal_seconds(prof['inference_mean_s'])}, median {terminal_seconds(prof.get('inference_p50_s') or 0)}; "
          f"kernels {terminal_seconds(prof['kernel_sum_mean_s'])} = {prof['kernel_coverage'] * 100:.1f} %, "
          f"outside kernels {terminal_seconds(prof['outside_kernels_mean_s'])}", file=stream)
    if prof.get("span_sum_mean_s") is not None:
        print(f"  spans (kernel + dispatch gap before it) {terminal_seconds(prof['span_sum_mean_s'])} = "
              f"{prof['span_coverage'] * 100:.1f} %; after the last kernel "
              f"{terminal_seconds(prof['after_last_kernel_mean_s'])}", file=stream)
    if prof.get("profiler_slowdown_p50") is not None:
        print(f"  profiler cost: call p50 {terminal_seconds(prof['profiled_call_p50_s'])} profiled vs "
              f"{terminal_seconds(prof['unprofiled_call_p50_s'])} unprofiled "
              f"({prof['profiler_slowdown_p50']:.2f}x)", file=stream)


def _slower(summary: dict[str, Any], fp32: dict[str, Any] | None) -> float | None:
    """The p50 ratio when the variant is slower than fp32 by the report's rule, else None."""
    from edgebench.quality import interval, slowdown

    if not fp32:
        return None
    return slowdown(summary.get("latency_p50_s"), fp32.get("latency_p50_s"),
                    ci=interval(summary.get("latency_p50_ci_low_s"), summary.get("latency_p50_ci_high_s")),
                    fp32_ci=interval(fp32.get("latency_p50_ci_low_s"), fp32.get("latency_p50_ci_high_s")))


