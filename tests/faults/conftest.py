"""The fault suite runs real processes: the sandbox server fixture comes from the e2e suite."""

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import sandbox_server
from tests.faults.harness import kill_leftovers

__all__ = ["sandbox_server"]


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    """Whatever a test started and left running (it failed midway) dies with the test."""
    yield
    kill_leftovers()
