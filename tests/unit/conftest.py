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


@pytest.fixture
def mocks():
    """Fresh Pulumi mocks and a fresh root stack in this (the test's) thread."""
    import pulumi
    from pulumi.runtime.settings import set_root_resource

    from fmbench_orch.infra.mocks import OfflineMocks

    mocks = OfflineMocks()
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # another test ended this thread's loop
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())
    set_root_resource(None)
    pulumi.runtime.set_mocks(
        mocks, project="fmbench-orchestrator", stack="test", preview=False
    )
    return mocks
