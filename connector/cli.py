"""The `meetbridge` command line: parse, run, print, and turn errors into exit codes.

Exit codes: 0 ok; 1 something failed (dead-lettered); 2 bad configuration; 3 a vendor refused a
key; 4 the state database failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connector import commands
from connector.commands import redact_target
from connector.errors import AuthError, ConfigError, MeetbridgeError, StoreError
from connector.logs import setup_logging
from connector.report import print_plan, status_tables, summary_table
from connector.runtime import Runtime, open_runtime
from connector.settings import ALL_DIRECTIONS, Settings, load_settings
from connector.store.inbox import Subscriptions
from connector.store.lock import writer_lock
from connector.sync.backfill import BackfillHooks, BackfillReport

T = TypeVar("T")

app = typer.Typer(
    help="Keep MeetMatch and meetergo contacts in step, both ways.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
# soft_wrap: messages name files, keys and URLs, which must not be broken across lines.
err = Console(stderr=True, soft_wrap=True)

ConfigOption = typer.Option(
    None,
    "--config",
    "-c",
    envvar="MEETBRIDGE_CONFIG",
    show_envvar=True,
    help="TOML config file (see config.example.toml). Without it: environment variables "
    "MEETBRIDGE_<SECTION>__<KEY> and defaults only.",
)
# Where the image's CMD reads its config; the healthcheck looks there too, if it exists.
IMAGE_CONFIG = Path("/config/meetbridge.toml")


def _fail(code: int, message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def _settings(path: Path | None) -> Settings:
    """The merged settings; no path means the environment and defaults only (a path that is
    given but missing is an error naming it)."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        _fail(2, str(exc))


def _exit_code_of(work: Coroutine[Any, Any, T]) -> T:
    """Run the coroutine; meetbridge's errors become their exit codes with the message."""
    try:
        return asyncio.run(work)
    except ConfigError as exc:
        _fail(2, str(exc))
    except AuthError as exc:
        _fail(3, str(exc))
    except StoreError as exc:
        _fail(4, f"{exc}\nFix: check state.url and that the database is reachable")
    except MeetbridgeError as exc:  # AlreadyRunningError, VendorError and the rest
        _fail(1, str(exc))


def _run(
    settings: Settings, work: Callable[[Runtime], Awaitable[T]], *, exclusive: bool = False
) -> T:
    """Open the runtime, do the work, and map meetbridge's errors to exit codes.

    `exclusive`: the work writes to the vendors, so it holds the state database's writer lock.
    """

    async def main() -> T:
        async with contextlib.AsyncExitStack() as stack:
            if exclusive:
                await stack.enter_async_context(writer_lock(settings.state.url))
            rt = await stack.enter_async_context(open_runtime(settings))
            return await work(rt)

    return _exit_code_of(main())


class _ProgressHooks(BackfillHooks):
    """A progress bar on a terminal, plain lines otherwise (logs, CI)."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._task: Any = None
        self._name = ""
        self._done = 0
        self._total = 0
        super().__init__(phase=self._phase, advance=self._advance)

    def _phase(self, name: str, total: int) -> None:
        self._name, self._done, self._total = name, 0, total
        if self._progress is None:
            err.print(f"{name}: {total} to go", highlight=False)
            return
        if self._task is not None:
            self._progress.update(self._task, visible=False)
        self._task = self._progress.add_task(name, total=total or None)

    def _advance(self, n: int) -> None:
        self._done += n
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)
        elif self._total and self._done % 500 < n:
            err.print(f"{self._name}: {self._done}/{self._total}", highlight=False)


@app.command()
def backfill(
    config: Path | None = ConfigOption,
    direction: list[str] = typer.Option(
        None,
        "--direction",
        help="Only this direction (repeatable): " + ", ".join(ALL_DIRECTIONS),
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; write nothing."),
    log_level: str = typer.Option("WARNING", "--log-level"),
) -> None:
    """One-shot full sync, both ways (or one). Safe to rerun; resumes after a crash."""
    setup_logging(log_level)
    for name in direction or []:
        if name not in ALL_DIRECTIONS:
            _fail(2, f"--direction {name!r}: use one of {', '.join(ALL_DIRECTIONS)}")
    settings = _settings(config)
    bar = (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        )
        if err.is_terminal
        else None
    )
    hooks = _ProgressHooks(bar)

    directions = list(direction or [])

    async def work(rt: Runtime) -> BackfillReport:
        return await commands.backfill(rt, directions=directions, hooks=hooks)

    def go() -> BackfillReport:
        if dry_run:
            # Its own runtime: opening the configured state would migrate it.
            return _exit_code_of(
                commands.dry_run_backfill(settings, directions=directions, hooks=hooks)
            )
        return _run(settings, work, exclusive=True)

    with bar if bar is not None else contextlib.nullcontext():
        report = go()
    if dry_run:
        print_plan(console, report.plans)
    console.print(summary_table(report.summary, "dry run" if dry_run else "backfill summary"))
    if report.summary.failed:
        err.print(
            f"{report.summary.failed} write(s) failed; they are in the dead-letter table: "
            "see `meetbridge status`, retry with `meetbridge replay`",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
def status(
    config: Path | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Links, skipped records by reason, dead letters, last runs."""
    setup_logging("WARNING")
    facts = _run(_settings(config), commands.status)
    if as_json:
        sys.stdout.write(json.dumps(facts, indent=2, default=str) + "\n")
        return
    for table in status_tables(facts):
        console.print(table)
    ambiguous = [s for s in facts["skipped"] if s["reason"] == "ambiguous_match"]
    for skip in ambiguous:
        console.print(
            f"ambiguous: {skip['side']} {skip['record_id']} <{skip['email']}>: {skip['detail']}",
            highlight=False,
        )


@app.command()
def replay(
    ids: list[int] = typer.Argument(None, help="Dead-letter ids; none: every open one."),
    config: Path | None = ConfigOption,
) -> None:
    """Re-run dead letters."""
    setup_logging("WARNING")
    result = _run(
        _settings(config), lambda rt: commands.replay(rt, list(ids or [])), exclusive=True
    )
    for letter_id in result.replayed:
        console.print(f"replayed dead letter {letter_id}")
    for letter_id, why in result.failed.items():
        err.print(f"dead letter {letter_id} failed again: {why}", highlight=False)
    if not result.replayed and not result.failed:
        console.print("no open dead letters")
    if result.failed:
        raise typer.Exit(1)


@app.command()
def check(config: Path | None = ConfigOption) -> None:
    """Verify both keys, the state database and the config (exit 2 bad config, 3 auth)."""
    setup_logging("WARNING")
    results = _run(_settings(config), commands.check)
    for name, verdict in results.items():
        console.print(f"{name}: {verdict}", highlight=False)


@app.command()
def run(
    config: Path | None = ConfigOption,
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """The daemon: registers webhooks, serves the receiver, polls, reconciles, retries."""
    from connector.daemon import serve

    setup_logging(log_level)
    raise typer.Exit(_exit_code_of(serve(_settings(config))))


hooks_app = typer.Typer(help="Webhook subscriptions on both vendors.", no_args_is_help=True)
app.add_typer(hooks_app, name="hooks")


def _print_subscriptions(subs: list[Any]) -> None:
    for sub in subs:
        console.print(
            f"{sub.vendor:10} {sub.event:24} {sub.remote_id}  {redact_target(sub.target_url)}",
            highlight=False,
        )
    if not subs:
        console.print("no subscriptions")


@hooks_app.command("list")
def hooks_list(config: Path | None = ConfigOption) -> None:
    """The subscriptions meetbridge made (as remembered in the state database)."""
    setup_logging("WARNING")
    _print_subscriptions(_run(_settings(config), lambda rt: Subscriptions(rt.store).all()))


@hooks_app.command("sync")
def hooks_sync(config: Path | None = ConfigOption) -> None:
    """Make sure every consumed event has one subscription (what `run` does at start)."""
    from connector.daemon import check_daemon_settings
    from connector.hooks import ensure_subscriptions

    setup_logging("WARNING")
    settings = _settings(config)
    try:
        check_daemon_settings(settings)
    except ConfigError as exc:
        _fail(2, str(exc))
    _print_subscriptions(_run(settings, ensure_subscriptions))


@hooks_app.command("remove")
def hooks_remove(config: Path | None = ConfigOption) -> None:
    """Delete every subscription meetbridge made, on both vendors."""
    from connector.hooks import remove_subscriptions

    setup_logging("WARNING")
    removed = _run(_settings(config), remove_subscriptions)
    console.print(f"removed {len(removed)} subscription(s)")


@app.command("migrate-state")
def migrate_state(
    to: str = typer.Option(..., "--to", help="Target database URL, e.g. postgresql+psycopg://…"),
    config: Path | None = ConfigOption,
) -> None:
    """Copy links, skips, dead letters, inbox and history to another (empty) database."""
    from connector.store.copy_state import copy_state

    setup_logging("WARNING")
    copied = _run(_settings(config), lambda rt: copy_state(rt.store, to), exclusive=True)
    for table, rows in copied.items():
        console.print(f"{table}: {rows} row(s)", highlight=False)
    console.print("copied; now set state.url to the new database", highlight=False)


def _probe_address(host: str) -> str:
    """Where a process beside the daemon reaches a receiver bound to `host`."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


@app.command()
def healthcheck(
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="MEETBRIDGE_CONFIG",
        show_envvar=True,
        help=f"The daemon's config file (default {IMAGE_CONFIG} when it exists, as the "
        "image's CMD uses; otherwise environment variables only).",
    ),
    url: str = typer.Option(
        "",
        "--url",
        help="Default: http://<receiver.host>:<receiver.port>/healthz (0.0.0.0: 127.0.0.1)",
    ),
    timeout: float = typer.Option(3.0, "--timeout"),
) -> None:
    """Exit 0 when the daemon's receiver answers /healthz (the container's HEALTHCHECK).

    The port comes from the same merged settings `run` reads (file, then environment), so a
    port set only in the config file is probed correctly. Every failure exits 1: Docker
    reserves 2.
    """
    import urllib.error
    import urllib.request

    target = url
    if not target:
        path = config if config is not None else (IMAGE_CONFIG if IMAGE_CONFIG.is_file() else None)
        try:
            receiver = load_settings(path).receiver
        except ConfigError as exc:
            _fail(1, f"cannot tell where the receiver listens: {exc}")
        target = f"http://{_probe_address(receiver.host)}:{receiver.port}/healthz"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as answer:
            healthy = answer.status == 200
    except (urllib.error.URLError, OSError) as exc:
        _fail(1, f"{target}: {exc}")
    if not healthy:
        _fail(1, f"{target}: not healthy")
    console.print("healthy")


@app.command()
def demo(
    meetergo_contacts: int = typer.Option(300, "--meetergo", help="Seeded meetergo contacts."),
    meetmatch_contacts: int = typer.Option(200, "--meetmatch", help="Seeded MeetMatch contacts."),
) -> None:
    """Start the bundled sandbox with seeded data, run a backfill, print the summary."""
    from connector.demo import run_demo

    setup_logging("WARNING")
    code = asyncio.run(run_demo(console, meetergo_contacts, meetmatch_contacts))
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
