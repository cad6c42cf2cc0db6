"""Metrics: one registry per instance, and the helpers land on the documented series."""

from __future__ import annotations

from connector.metrics import JOBS, Metrics


def lines(metrics: Metrics) -> list[str]:
    return metrics.render().decode().splitlines()


def test_instances_do_not_share_a_registry() -> None:
    first, second = Metrics(), Metrics()

    first.observe_webhook("meetmatch", 200, 0.01)

    assert 'meetbridge_webhook_requests_total{status="200",vendor="meetmatch"} 1.0' in lines(first)
    assert not any(line.startswith("meetbridge_webhook_requests_total{") for line in lines(second))


def test_helpers_update_their_series() -> None:
    metrics = Metrics()

    metrics.observe_webhook("meetergo", 413, 0.2)
    metrics.count_vendor_request("meetergo", 429)
    metrics.count_vendor_request("meetmatch", "timeout")
    metrics.count_rate_limited("meetergo")
    metrics.count_sync_action("meetergo", "create", 3)
    metrics.set_inbox_depth(7)
    metrics.set_dead_letters(2)
    metrics.mark_success("reconcile", at=1_700_000_000.0)

    rendered = lines(metrics)
    for line in (
        'meetbridge_webhook_requests_total{status="413",vendor="meetergo"} 1.0',
        'meetbridge_webhook_latency_seconds_bucket{le="0.25",vendor="meetergo"} 1.0',
        'meetbridge_webhook_latency_seconds_bucket{le="0.1",vendor="meetergo"} 0.0',
        'meetbridge_vendor_requests_total{status="429",vendor="meetergo"} 1.0',
        'meetbridge_vendor_requests_total{status="timeout",vendor="meetmatch"} 1.0',
        'meetbridge_rate_limited_total{vendor="meetergo"} 1.0',
        'meetbridge_sync_actions_total{action="create",side="meetergo"} 3.0',
        "meetbridge_inbox_depth 7.0",
        "meetbridge_dead_letters 2.0",
        'meetbridge_last_success_timestamp_seconds{job="reconcile"} 1.7e+09',
    ):
        assert line in rendered, line


def test_every_job_is_exported_before_its_first_success() -> None:
    rendered = lines(Metrics())

    for job in JOBS:
        assert f'meetbridge_last_success_timestamp_seconds{{job="{job}"}} 0.0' in rendered
    assert set(JOBS) == {"poll_meetmatch", "poll_meetergo", "reconcile", "dead_letters"}


def test_mark_success_defaults_to_now() -> None:
    metrics = Metrics()

    metrics.mark_success("poll_meetergo")

    [line] = [
        line
        for line in lines(metrics)
        if line.startswith('meetbridge_last_success_timestamp_seconds{job="poll_meetergo"}')
    ]
    assert float(line.split()[-1]) > 1_600_000_000
