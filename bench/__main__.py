"""Run the benchmarks against the sandbox: `python -m bench [--sizes 1000,10000,100000]`.

Prints every figure, writes them to bench/results.json and regenerates bench/RESULTS.md (the
tables and the verdict on each target; the notes at its end, below the marker, are kept).
`--quick` runs the small set CI checks (1,000 contacts) and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.backfill import BackfillFigures, measure_backfill
from bench.naive import measure_naive
from bench.report import render

HERE = Path(__file__).resolve().parent
# Budgets of the rate-floor runs: the vendors' limits scaled up 60 times so a run takes
# seconds (meetergo's 100/min and bulk 3/min; MeetMatch's configured 100/min pace).
SCALED_RPM = 6000.0
SCALED_BULK = 180.0


def _machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def _say(text: str) -> None:
    print(text, flush=True)


def _backfill_line(f: BackfillFigures) -> str:
    floor = f" floor {f.floor_seconds:.2f} s ratio {f.floor_ratio:.3f}" if f.floor_seconds else ""
    return (
        f"  {f.meetergo_contacts:>7} meetergo: {f.requests} requests (minimum {f.minimum}, "
        f"{f.efficiency:.3f}x), 429s {f.rate_limited}, run {f.run_seconds:.1f} s, "
        f"peak RSS {f.peak_rss_mb:.1f} MB, {f.statements_per_contact:.2f} statements/contact"
        f"{floor}"
    )


def run(
    sizes: list[int], floor_sizes: list[int], naive_sizes: list[int], live: bool
) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": _machine(), "scaled_rpm": SCALED_RPM}
    with tempfile.TemporaryDirectory(prefix="meetbridge-bench-") as scratch:
        work = Path(scratch)
        _say("backfill, unlimited budgets (requests, memory, scaling):")
        results["backfill"] = []
        for n in sizes:
            figures = measure_backfill(n, work)
            _say(_backfill_line(figures))
            results["backfill"].append(figures.as_dict())
        _say(f"backfill, budgets enforced at {SCALED_RPM:.0f}/min (rate floor):")
        results["rate_floor"] = []
        for n in floor_sizes:
            figures = measure_backfill(
                n,
                work,
                meetmatch_rpm=SCALED_RPM,
                meetergo_rpm=SCALED_RPM,
                bulk_per_minute=SCALED_BULK,
            )
            _say(_backfill_line(figures))
            results["rate_floor"].append(figures.as_dict())
        _say("naive baseline (two one-way automations):")
        results["naive"] = []
        for n in naive_sizes:
            naive = measure_naive(n)
            _say(
                f"  {n:>7} meetergo: {naive.requests} requests "
                f"({naive.requests_meetmatch} MeetMatch, {naive.requests_meetergo} meetergo), "
                f"{naive.meetergo_duplicates} duplicates"
            )
            results["naive"].append(
                {**naive.__dict__, "requests": naive.requests,
                 "floor_seconds_real_limits": naive.floor_seconds(120, 100)}
            )  # fmt: skip
        if live:
            from bench.live import format_live, measure_live

            _say("live latency:")
            # The stock sandbox (indexed_sandbox=False): its email search is the slower honest one.
            results["live"] = measure_live(workdir=work / "live", indexed_sandbox=False)
            _say(format_live(results["live"]))
            results["live_reconcile"] = measure_live(
                workdir=work / "live-reconcile", reconcile_contacts=100_000, indexed_sandbox=False
            )
            _say(format_live(results["live_reconcile"]))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000", help="meetergo contacts per run")
    parser.add_argument("--floor-sizes", default="1000,10000", help="rate-floor runs")
    parser.add_argument("--naive-sizes", default="1000,10000", help="baseline runs")
    parser.add_argument("--no-live", action="store_true", help="skip the live-latency runs")
    parser.add_argument("--quick", action="store_true", help="1,000 contacts; record nothing")
    args = parser.parse_args(argv)

    def sizes(text: str) -> list[int]:
        return [int(part) for part in text.split(",") if part]

    if args.quick:
        results = run([1000], [1000], [1000], live=False)
        checked = results["backfill"] + results["rate_floor"]
        ok = all(r["efficiency"] <= 1.05 and r["rate_limited_share"] <= 0.005 for r in checked)
        _say("request efficiency and 429 share: " + ("within targets" if ok else "OUT OF TARGET"))
        return 0 if ok else 1
    results = run(
        sizes(args.sizes), sizes(args.floor_sizes), sizes(args.naive_sizes), not args.no_live
    )
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    render(results, HERE / "RESULTS.md")
    _say(f"recorded in {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
