"""The dead-man switch in each host's user data, executed by bash.

`shutdown` is replaced by a stand-in on PATH that records its arguments, so
the script runs exactly as cloud-init would run it, minus the power-off.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from fmbench_orch.infra.host import MIN_SHUTDOWN_MINUTES, dead_man_switch


def scheduled_shutdown(
    tmp_path: Path, expires_at: datetime, host_zone: str = "UTC"
) -> list[str]:
    """Run the user data; return the arguments it gave `shutdown`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorded = tmp_path / "shutdown-args"
    stand_in = bin_dir / "shutdown"
    stand_in.write_text(f'#!/bin/sh\necho "$@" > {recorded}\n')
    stand_in.chmod(0o755)
    script = tmp_path / "user-data"
    script.write_text(dead_man_switch(expires_at))

    subprocess.run(
        ["bash", str(script)],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TZ": host_zone},
        check=True,
        timeout=30,
    )

    return recorded.read_text().split()


def test_the_host_powers_off_when_the_campaigns_ttl_runs_out(tmp_path):
    expires_at = datetime.now(UTC) + timedelta(hours=3)

    args = scheduled_shutdown(tmp_path, expires_at)

    assert args[0] == "-P"
    # Whole minutes until the TTL, rounded down: the host never outlives it.
    assert args[1] in ("+179", "+180")


def test_a_host_booted_after_its_ttl_still_powers_off_within_a_minute(tmp_path):
    args = scheduled_shutdown(tmp_path, datetime.now(UTC) - timedelta(hours=1))

    assert args == ["-P", f"+{MIN_SHUTDOWN_MINUTES}"]


@pytest.mark.parametrize("host_zone", ["America/New_York", "Asia/Kolkata"])
def test_the_ttl_is_an_absolute_time_whatever_the_hosts_time_zone(tmp_path, host_zone):
    """An AMI set to another zone, or a TTL written with an offset, moves nothing."""
    in_tokyo = timezone(timedelta(hours=9))
    expires_at = (datetime.now(UTC) + timedelta(minutes=90)).astimezone(in_tokyo)

    args = scheduled_shutdown(tmp_path, expires_at, host_zone)

    assert args[1] in ("+89", "+90")
