"""The sandbox: both simulated vendors and the control API in one ASGI app.

One app on one port keeps test setup to a single server (or a single in-process transport):
MeetMatch under /meetmatch, meetergo under /meetergo, the control API under /_sandbox.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from .control import control_app
from .meetergo import MeetergoState, meetergo_app
from .meetmatch import MeetMatchState, meetmatch_app


class Sandbox:
    """Holds one MeetMatch organization and one meetergo company, and serves both.

    Pass pre-built states to configure keys, limits, clocks or delivery transports; each is
    created with its defaults otherwise.
    """

    def __init__(
        self,
        meetmatch: MeetMatchState | None = None,
        meetergo: MeetergoState | None = None,
    ) -> None:
        self.meetmatch = meetmatch if meetmatch is not None else MeetMatchState()
        self.meetergo = meetergo if meetergo is not None else MeetergoState()
        self.app = Starlette(
            routes=[
                Mount("/meetmatch", app=meetmatch_app(self.meetmatch)),
                Mount("/meetergo", app=meetergo_app(self.meetergo)),
                Mount("/_sandbox", app=control_app(self)),
            ]
        )

    def reset_counters(self) -> None:
        """Zero both vendors' counters, e.g. after seeding or between phases of a test."""
        self.meetmatch.reset_counters()
        self.meetergo.reset_counters()

    def stats(self) -> dict[str, Any]:
        """Both vendors' counters (and current faults and pending deliveries) as JSON."""
        return {
            state.vendor: {
                **state.counters.as_dict(),
                "faults": state.faults.as_dict(),
                "pending_deliveries": state.deliverer.pending,
            }
            for state in (self.meetmatch, self.meetergo)
        }

    async def drain_deliveries(self) -> None:
        """Wait until neither vendor has a webhook delivery in flight."""
        await asyncio.gather(self.meetmatch.drain_deliveries(), self.meetergo.drain_deliveries())
