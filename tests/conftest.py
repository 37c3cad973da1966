"""Set-up shared by every test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def own_state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> Path:
    """Keep the live-run registry, Pulumi state and stack keys out of ~.

    Subprocesses the tests start inherit it through the environment.
    """
    home = tmp_path_factory.mktemp("fmbench-orch-home")
    monkeypatch.setenv("FMBENCH_ORCH_HOME", str(home))
    return home
