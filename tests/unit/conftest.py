"""Shared set-up for the unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def current_event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Give each test a current event loop of its own.

    Pulumi's SDK (mocks, `@pulumi.runtime.test`) asks for the current loop;
    an `asyncio.run()` in an earlier test of the same process leaves none.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()
