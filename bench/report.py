"""bench/RESULTS.md from the figures of a run: tables, and a verdict on every target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

NOTES_MARKER = "<!-- notes: written by hand, kept when the figures are regenerated -->"
# The vendors' budgets as meetbridge uses them by default: meetergo's documented 100/min and
# the pace configured for MeetMatch, which publishes no limit.
REAL_RPM = {"meetmatch": 120.0, "meetergo": 100.0}


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _by_size(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(r["meetergo_contacts"]): r for r in rows}


def _real_floor(requests_meetmatch: float, requests_meetergo: float) -> float:
    """Seconds meetbridge's backfill needs at the real budgets (its phases run in turn)."""
    return 60 * (
        requests_meetmatch / REAL_RPM["meetmatch"] + requests_meetergo / REAL_RPM["meetergo"]
    )


def _efficiency(results: dict[str, Any]) -> list[str]:
    rows = results["backfill"]
    lines = [
        "## 1. Request efficiency (target ≤ 1.05x the minimum)",
        "",
        "| meetergo contacts | MeetMatch requests | meetergo requests | total | minimum | ratio "
        "| verdict |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['meetergo_contacts']:,} | {r['requests_meetmatch']:,} | "
            f"{r['requests_meetergo']:,} | {r['requests']:,} | {r['minimum']:,} | "
            f"{r['efficiency']:.3f} | {_verdict(r['efficiency'] <= 1.05)} |"
        )
    lines += [
        "",
        "Minimum = 4 MeetMatch lists (contacts, appointments, deals, form submissions) + one "
        "meetergo page per 100 contacts + one bulk call per 1,000 new meetergo contacts + one "
        "re-read page per 100 of them (the bulk answer carries no ids) + one MeetMatch create "
        "per meetergo-only person (MeetMatch has no bulk). Data set: 100 MeetMatch contacts, "
        "50 of them also in meetergo.",
        "",
    ]
    return lines


def _rate_floor(results: dict[str, Any]) -> list[str]:
    rpm = results["scaled_rpm"]
    lines = [
        f"## 2. Rate-floor ratio (budgets enforced by the sandbox at {rpm:,.0f}/min; "
        "target ≤ 1.10x, 429s ≤ 0.5 %)",
        "",
        "| meetergo contacts | requests | floor (s) | run (s) | ratio | 429s | verdict |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results["rate_floor"]:
        ok = r["floor_ratio"] <= 1.10 and r["rate_limited_share"] <= 0.005
        lines.append(
            f"| {r['meetergo_contacts']:,} | {r['requests']:,} | {r['floor_seconds']:.2f} | "
            f"{r['run_seconds']:.2f} | {r['floor_ratio']:.3f} | {r['rate_limited']} "
            f"({r['rate_limited_share'] * 100:.2f} %) | {_verdict(ok)} |"
        )
    lines += [
        "",
        "Floor = MeetMatch requests / MeetMatch budget + meetergo requests / meetergo budget "
        "(the meetergo walk and the MeetMatch creates run one after the other). Run = the "
        "backfill's own run as recorded in the state (process start, imports and migrations, "
        "about a second, come on top and are no budget's doing).",
        "",
    ]
    return lines


def _live(results: dict[str, Any]) -> list[str]:
    if "live" not in results:
        return ["## 3. Live latency", "", "Not run (`--no-live`).", ""]
    lines = [
        "## 3. Live latency (delivery reaching the receiver → write on the other vendor)",
        "",
        "| case | deliveries | rate | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | lost "
        "| target p99 (ms) | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, name in (("live", "idle budget"), ("live_reconcile", "reconcile scan running")):
        r = results.get(key)
        if not r:
            continue
        ok = r["p99_ms"] <= r["target_p99_ms"] and r["lost"] == 0
        lines.append(
            f"| {name} | {r['count']:,} | {r['per_second']:g}/s | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['lost']} | "
            f"{r['target_p99_ms']:.0f} | {_verdict(ok)} |"
        )
    scan = results.get("live_reconcile", {}).get("reconcile")
    if scan:
        lines += [
            "",
            f"Reconcile case: {results['live_reconcile']['reconcile_contacts']:,} linked contacts, "
            f"meetergo budget {scan['budget_rpm']:,.0f}/min (one slot = {scan['slot_ms']:.0f} ms, "
            f"so the target is {scan['slot_ms']:.0f} + 150 ms). meetergo saw "
            f"{scan['achieved_rpm']:,.0f}/min ({scan['utilization'] * 100:.0f} % of the budget): "
            f"live {scan['live_rpm']:,.0f}/min, the scan {scan['background_rpm']:,.0f}/min "
            f"({scan['scan_pages']:,} pages); the scan ran the whole window: "
            f"{'yes' if scan['scan_ran_whole_window'] else 'no'}.",
        ]
    lines.append("")
    return lines


def _memory(results: dict[str, Any]) -> list[str]:
    rows = _by_size(results["backfill"])
    lines = [
        "## 4. Memory (peak RSS of the backfill process; target ≤ 150 MB at 100k, "
        "growth 10k → 100k ≤ 40 MB)",
        "",
        "| meetergo contacts | peak RSS (MB) | CPU (s) |",
        "|---:|---:|---:|",
    ]
    for n, r in sorted(rows.items()):
        lines.append(f"| {n:,} | {r['peak_rss_mb']:.1f} | {r['cpu_seconds']:.1f} |")
    if 10_000 in rows and 100_000 in rows:
        peak = rows[100_000]["peak_rss_mb"]
        growth = peak - rows[10_000]["peak_rss_mb"]
        lines += [
            "",
            f"At 100k: {peak:.1f} MB ({_verdict(peak <= 150)}); growth from 10k: "
            f"{growth:+.1f} MB ({_verdict(growth <= 40)}).",
        ]
    lines.append("")
    return lines


def _scaling(results: dict[str, Any]) -> list[str]:
    rows = _by_size(results["backfill"])
    lines = [
        "## 5. Scaling (unlimited budgets: the CPU-bound path; target 100k/10k time ≤ 11, "
        "state statements per contact constant)",
        "",
        "| meetergo contacts | run (s) | ms per contact | state statements | per contact |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n, r in sorted(rows.items()):
        contacts = n + r["meetmatch_contacts"]
        lines.append(
            f"| {n:,} | {r['run_seconds']:.1f} | {r['run_seconds'] * 1000 / contacts:.2f} | "
            f"{r['state_statements']:,} | {r['statements_per_contact']:.2f} |"
        )
    if 10_000 in rows and 100_000 in rows:
        small, big = rows[10_000], rows[100_000]
        ratio = big["run_seconds"] / small["run_seconds"]
        drift = big["statements_per_contact"] / small["statements_per_contact"]
        lines += [
            "",
            f"Time 100k / 10k: {ratio:.2f} ({_verdict(ratio <= 11)}). Statements per contact "
            f"100k / 10k: {drift:.3f} ({_verdict(abs(drift - 1) <= 0.05)}: constant within 5 %).",
        ]
    lines.append("")
    return lines


def _baseline(results: dict[str, Any]) -> list[str]:
    ours = _by_size(results["backfill"])
    lines = [
        "## 6. Baseline: two one-way automations (search, then create, per contact)",
        "",
        "| meetergo contacts | naive requests | meetbridge requests | ratio | naive at real "
        "budgets | meetbridge at real budgets | ratio | naive duplicates |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["naive"]:
        n = int(r["meetergo_contacts"])
        if n not in ours:
            continue
        mine = ours[n]
        naive_time = 60 * max(
            r["requests_meetmatch"] / REAL_RPM["meetmatch"],
            r["requests_meetergo"] / REAL_RPM["meetergo"],
        )
        my_time = _real_floor(mine["requests_meetmatch"], mine["requests_meetergo"])
        lines.append(
            f"| {n:,} | {r['requests']:,} | {mine['requests']:,} | "
            f"{r['requests'] / mine['requests']:.2f}x | {naive_time / 60:.0f} min | "
            f"{my_time / 60:.0f} min | {naive_time / my_time:.2f}x | {r['meetergo_duplicates']} |"
        )
    lines += [
        "",
        "Real budgets: meetergo 100/min, MeetMatch 120/min (meetbridge's default pace; MeetMatch "
        "publishes no limit). The two automations are given both budgets at once; meetbridge's "
        "phases run in turn.",
        "",
    ]
    return lines


def render(results: dict[str, Any], path: Path) -> None:
    """Write RESULTS.md from `results`, keeping the hand-written notes below the marker."""
    notes = ""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if NOTES_MARKER in text:
            notes = text.split(NOTES_MARKER, 1)[1].strip()
    machine = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {machine['date']} on {machine['cpus']} CPUs ({machine['processor']}, "
        f"{machine['platform']}), Python {machine['python']}, by `python -m bench`. The "
        "sandbox runs in its own process and meetbridge in another, over loopback HTTP, with "
        "no sandbox latency. Figures: `bench/results.json`.",
        "",
        *_efficiency(results),
        *_rate_floor(results),
        *_live(results),
        *_memory(results),
        *_scaling(results),
        *_baseline(results),
        NOTES_MARKER,
        "",
        notes,
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
