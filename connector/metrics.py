"""Prometheus metrics of one meetbridge process, served by the receiver at `/metrics`.

Each `Metrics` owns its own registry instead of prometheus_client's global one: the global
registry refuses a second metric of the same name, so a process (or a test run) that builds more
than one receiver would fail. Callers use the small helpers below rather than the metric objects,
so label names and values stay consistent across the receiver, the clients and the scheduler.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# The text exposition format `render` produces (what Prometheus scrapers ask for by default).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Jobs whose last success is exported from the start (as 0, "never"), so an alert on the age of a
# success fires for a job that has not succeeded once, instead of finding no series at all.
JOBS = ("poll_meetmatch", "poll_meetergo", "reconcile", "dead_letters")


def _slug(vendor: str) -> str:
    """Label values are the vendors' slugs (`meetmatch`, `meetergo`), whoever names them."""
    return vendor.lower()


class Metrics:
    """The counters, gauges and histograms of meetbridge, on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhook_requests = Counter(
            "meetbridge_webhook_requests_total",
            "Webhook deliveries answered, by vendor and HTTP status.",
            ["vendor", "status"],
            registry=self.registry,
        )
        self.webhook_latency = Histogram(
            "meetbridge_webhook_latency_seconds",
            "Time from a webhook delivery's arrival to its answer.",
            ["vendor"],
            registry=self.registry,
        )
        self.vendor_requests = Counter(
            "meetbridge_vendor_requests_total",
            "Requests made to a vendor API, by vendor and HTTP status (or error kind).",
            ["vendor", "status"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "meetbridge_rate_limited_total",
            "429 answers received from a vendor API.",
            ["vendor"],
            registry=self.registry,
        )
        self.sync_actions = Counter(
            "meetbridge_sync_actions_total",
            "Sync actions applied, by the side written and the action.",
            ["side", "action"],
            registry=self.registry,
        )
        self.inbox_depth = Gauge(
            "meetbridge_inbox_depth",
            "Webhook deliveries stored and not yet applied.",
            registry=self.registry,
        )
        self.dead_letters = Gauge(
            "meetbridge_dead_letters",
            "Failed writes parked for replay.",
            registry=self.registry,
        )
        self.last_success = Gauge(
            "meetbridge_last_success_timestamp_seconds",
            "Unix time of the last successful run of a job (0: never).",
            ["job"],
            registry=self.registry,
        )
        for job in JOBS:
            self.last_success.labels(job=job)
        self.key_refused = Gauge(
            "meetbridge_vendor_key_refused",
            "1 while a vendor refuses the configured API key for reads or writes (401/403).",
            ["vendor", "access"],
            registry=self.registry,
        )
        for vendor in ("meetmatch", "meetergo"):
            for access in ("read", "write"):
                self.key_refused.labels(vendor=vendor, access=access)

    def observe_webhook(self, vendor: str, status: int, seconds: float) -> None:
        """Count one webhook answer and how long it took."""
        self.webhook_requests.labels(vendor=vendor, status=str(status)).inc()
        self.webhook_latency.labels(vendor=vendor).observe(seconds)

    def count_vendor_request(self, vendor: str, status: int | str) -> None:
        """Count one vendor API request; `status` is the HTTP status or a word like "timeout"."""
        self.vendor_requests.labels(vendor=_slug(vendor), status=str(status)).inc()

    def count_rate_limited(self, vendor: str) -> None:
        self.rate_limited.labels(vendor=_slug(vendor)).inc()

    def count_sync_action(self, side: str, action: str, n: int = 1) -> None:
        self.sync_actions.labels(side=side, action=action).inc(n)

    def set_inbox_depth(self, n: int) -> None:
        self.inbox_depth.set(n)

    def set_dead_letters(self, n: int) -> None:
        self.dead_letters.set(n)

    def set_key_refused(self, vendor: str, access: str, refused: bool) -> None:
        self.key_refused.labels(vendor=_slug(vendor), access=access).set(1 if refused else 0)

    def mark_success(self, job: str, at: float | None = None) -> None:
        """Record that `job` just succeeded (or did at Unix time `at`)."""
        self.last_success.labels(job=job).set(time.time() if at is None else at)

    def render(self) -> bytes:
        """Everything in the registry, in the Prometheus text format (see `CONTENT_TYPE`)."""
        return generate_latest(self.registry)
