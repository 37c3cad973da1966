"""What a finished `fmbench-orch run` may have left behind, as a user checks it."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path


def last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


# The local-hosts daemon logs each host's port; its log outlives teardown.
LISTENS = re.compile(r" listens on 127\.0\.0\.1:(\d+)$", re.M)


def listening_ports_of(run_dir: Path) -> list[int]:
    """The run's host ports that still accept a connection."""
    log = run_dir / "local-hosts" / "daemon.log"
    ports = [int(port) for port in LISTENS.findall(log.read_text())]
    assert ports, f"{log} names no port: the check would prove nothing"
    open_ports = []
    for port in ports:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                open_ports.append(port)
    return open_ports


def processes_under(path: Path) -> list[int]:
    """Pids whose working directory lies under `path` (benchmarks, daemons)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(path)):
            found.append(int(entry.name))
    return found


def write_campaign(directory: Path, body: str) -> Path:
    path = directory / "campaign.yml"
    path.write_text(body)
    return path
