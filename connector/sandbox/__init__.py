"""Loopback simulators of the MeetMatch and meetergo APIs, for tests, demos and benchmarks.

A faithful, stateful fake: it behaves as the vendors document, quirks included, and where their
documentation is silent it picks the least convenient behaviour a real server could have.
See `Sandbox` (both vendors plus a control API in one ASGI app) and `python -m connector.sandbox`.
"""

from .app import Sandbox
from .deliveries import Deliverer, DeliveryAttempt
from .faults import Counters, Faults
from .limits import TokenBucket
from .meetergo import MeetergoState, meetergo_app
from .meetmatch import MeetMatchState, meetmatch_app
from .seed import seed_bulk, seed_demo

__all__ = [
    "Counters",
    "Deliverer",
    "DeliveryAttempt",
    "Faults",
    "MeetMatchState",
    "MeetergoState",
    "Sandbox",
    "TokenBucket",
    "meetergo_app",
    "meetmatch_app",
    "seed_bulk",
    "seed_demo",
]
