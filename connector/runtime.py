"""Wiring: from settings to a store and two clients that share one HTTP connection pool.

Every command opens the same runtime, so tests and the demo get exactly what production gets;
only the transport differs (the sandbox's ASGI app instead of the network).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from connector.clients.meetergo import MeetergoClient
from connector.clients.meetmatch import MeetMatchClient
from connector.clients.retry import RetryPolicy
from connector.clients.transport import RequestCounter
from connector.settings import Settings
from connector.store.state import Store
from connector.sync.planner import PlannerConfig
from mappings import MappingOptions


@dataclass
class Runtime:
    settings: Settings
    store: Store
    meetmatch: MeetMatchClient
    meetergo: MeetergoClient
    planner: PlannerConfig
    counter: RequestCounter


def mapping_options(settings: Settings) -> MappingOptions:
    return MappingOptions(
        meetergo_tags=tuple(settings.sync.meetergo_tags),
        lead_source=settings.sync.lead_source,
        field_renames=dict(settings.sync.field_renames),
        default_region=settings.sync.default_phone_region or None,
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    r = settings.retry
    return RetryPolicy(r.attempts, r.max_seconds, r.initial_wait_seconds, r.max_wait_seconds)


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> AsyncIterator[Runtime]:
    """Open the state store (migrating it) and both clients; close everything on exit."""
    store = await Store.open(settings.state.url)
    counter = RequestCounter()
    policy = retry or retry_policy(settings)
    limits = httpx.Limits(max_connections=settings.sync.concurrency * 2)
    try:
        async with httpx.AsyncClient(transport=transport, limits=limits) as http:
            yield Runtime(
                settings=settings,
                store=store,
                meetmatch=MeetMatchClient(http, settings.meetmatch, policy, counter),
                meetergo=MeetergoClient(http, settings.meetergo, policy, counter),
                planner=PlannerConfig(
                    options=mapping_options(settings),
                    policy=settings.sync.conflict,
                    directions=frozenset(settings.sync.directions),
                    on_meetergo_delete=settings.sync.on_meetergo_delete,
                ),
                counter=counter,
            )
    finally:
        await store.close()
