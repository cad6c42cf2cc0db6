"""The person gate: one step per person at a time, re-entrant per task, nothing left behind."""

from __future__ import annotations

import asyncio

import pytest

from connector.sync.gate import PersonGate


async def test_one_person_one_step_at_a_time_others_go_by() -> None:
    gate = PersonGate()
    order: list[str] = []

    async def step(email: str, name: str, seconds: float) -> None:
        async with gate.hold(email):
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")

    first = asyncio.create_task(step("a@x.io", "a1", 0.05))
    await asyncio.sleep(0)
    await asyncio.gather(step("a@x.io", "a2", 0), step("b@x.io", "b", 0), first)
    # b did not wait for a1; a2 did.
    assert order.index("b out") < order.index("a1 out") < order.index("a2 in")
    assert len(gate) == 0  # no lock kept for people no step is about


async def test_a_task_passes_its_own_gate_again() -> None:
    gate = PersonGate()
    async with gate.hold("a@x.io"):
        assert gate.held_here("a@x.io")
        async with gate.hold("a@x.io", "b@x.io"):  # a again, and b too
            assert gate.held_here("b@x.io")
        assert not gate.held_here("b@x.io") and gate.held_here("a@x.io")

        async def other() -> bool:
            return gate.held_here("a@x.io")

        assert await asyncio.create_task(other()) is False
    assert len(gate) == 0 and not gate.held_here("a@x.io")


async def test_overlapping_sets_cannot_deadlock() -> None:
    gate = PersonGate()

    async def both(first: str, second: str) -> None:
        for _ in range(20):
            async with gate.hold(first, second):
                await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(both("a", "b"), both("b", "a")), timeout=2)
    assert len(gate) == 0


async def test_a_step_cancelled_while_waiting_leaves_nothing_behind() -> None:
    gate = PersonGate()
    entered = asyncio.Event()

    async def holder() -> None:
        async with gate.hold("a@x.io"):
            entered.set()
            await asyncio.sleep(0.1)

    async def waiter() -> None:
        async with gate.hold("a@x.io"):
            pytest.fail("a cancelled waiter must not get in")

    holding = asyncio.create_task(holder())
    await entered.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await holding
    assert len(gate) == 0
    async with gate.hold("a@x.io"):  # and the person is free again
        pass


async def test_no_email_no_gate() -> None:
    gate = PersonGate()
    async with gate.hold(None, ""):
        assert len(gate) == 0
    assert not gate.held_here(None)
