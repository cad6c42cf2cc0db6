"""What the CLI prints: the backfill summary table, the plan of a dry run, `status`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from connector.sync.plans import Plan, Side, Summary

OUTCOMES = ("created", "updated", "linked", "unchanged", "failed")


def summary_table(summary: Summary, title: str = "backfill summary") -> Table:
    table = Table(title=title)
    table.add_column("outcome")
    for side in Side:
        table.add_column(side.label, justify="right")
    for outcome in OUTCOMES:
        table.add_row(outcome, *(str(summary.get(side, outcome)) for side in Side))
    reasons = sorted({reason for (_, reason) in summary.skipped})
    for reason in reasons:
        table.add_row(
            f"skipped: {reason}", *(str(summary.skipped[(side, reason)]) for side in Side)
        )
    return table


def print_plan(console: Console, plans: list[Plan], limit: int = 200) -> None:
    console.print(f"[bold]dry run[/bold]: {len(plans)} decisions, nothing written")
    for plan in plans[:limit]:
        console.print(f"  {plan.describe()}", markup=False, highlight=False)
    if len(plans) > limit:
        console.print(f"  … and {len(plans) - limit} more")


def status_tables(status: dict[str, Any]) -> list[Table]:
    links = Table(title="links")
    links.add_column("what")
    links.add_column("count", justify="right")
    for key, value in status["links"].items():
        links.add_row(key, str(value))
    skipped = Table(title="skipped records")
    for column in ("side", "reason", "count"):
        skipped.add_column(column)
    for row in status["skipped_by_reason"]:
        skipped.add_row(row["side"], row["reason"], str(row["count"]))
    dead = Table(title=f"dead letters ({len(status['dead_letters'])} open)")
    for column in ("id", "target", "operation", "source", "email", "attempts", "error"):
        dead.add_column(column)
    for letter in status["dead_letters"]:
        dead.add_row(
            str(letter["id"]),
            letter["target"],
            letter["operation"],
            f"{letter['source_side']} {letter['source_id']}",
            letter["email"] or "",
            str(letter["attempts"]),
            letter["error"][:120],
        )
    runs = Table(title="last runs")
    for column in ("kind", "status", "started", "finished"):
        runs.add_column(column)
    for kind, run in status["last_runs"].items():
        runs.add_row(kind, run["status"], run["started_at"] or "", run["finished_at"] or "")
    live = Table(title=f"live sync (inbox: {status['inbox_depth']} pending)")
    live.add_column("job")
    live.add_column("last success")
    for job, when in status["last_success"].items():
        live.add_row(job, when or "never")
    hooks = Table(title="webhook subscriptions")
    for column in ("vendor", "event", "id", "target"):
        hooks.add_column(column)
    for sub in status["subscriptions"]:
        hooks.add_row(sub["vendor"], sub["event"], sub["remote_id"], sub["target_url"])
    return [links, skipped, dead, runs, live, hooks]
