"""A finished run read back from its run directory, as a critical path.

The run's events.jsonl gives each phase's end time and duration, the result
files give when the runner noticed each benchmark's end (`finished_at`), and
the harvested payload timestamps give when each payload really ended on its
host. All are wall-clock times of this one machine, so they compare
directly. Milestones are the latest host's: the run is as late as its
slowest host, so the segments between them add up to the run's wall time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.campaigns import BEGAN_FILE, ENDED_FILE, RESULTS_DIR
from fmbench_orch.orchestrator.events import read_events

PAYLOAD = "payload"
# How a phase that went well is logged (older run directories said `success`).
GOOD_OUTCOMES = ("ok", "success")


@dataclass(frozen=True)
class HostTimes:
    host: str
    began: float  # the payload's own first timestamp, on the host
    ended: float  # the payload's own last timestamp, on the host
    noticed: float  # the result's finished_at: the runner knew it had ended
    exit_event: float  # when the `exit` event was written (after the kill check)


@dataclass(frozen=True)
class Timeline:
    provision_began: float
    provisioned: float
    connected: float  # the last host's `connect ok`
    started: float  # the last payload's own start timestamp
    payload_ended: float  # the last payload's own end timestamp
    noticed: float  # the last `finished_at`
    harvested: float  # the last `harvest ok`
    teardown_began: float
    torn_down: float
    hosts: list[HostTimes]

    @property
    def notice_latencies(self) -> list[float]:
        return [host.noticed - host.ended for host in self.hosts]

    @property
    def exit_event_latencies(self) -> list[float]:
        return [host.exit_event - host.ended for host in self.hosts]


def read_timeline(run_dir: Path) -> Timeline:
    events = list(read_events(run_dir))
    provision = _only(events, "provision")
    teardown = _only(events, "teardown")
    hosts = [_host_times(run_dir, host, events) for host in _hosts(events)]
    provisioned = _at(provision)
    torn_down = _at(teardown)
    return Timeline(
        provision_began=provisioned - provision["duration"],
        provisioned=provisioned,
        connected=_latest(events, "connect"),
        started=max(host.began for host in hosts),
        payload_ended=max(host.ended for host in hosts),
        noticed=max(host.noticed for host in hosts),
        harvested=_latest(events, "harvest"),
        teardown_began=torn_down - teardown["duration"],
        torn_down=torn_down,
        hosts=hosts,
    )


def _host_times(run_dir: Path, host: str, events: list[dict[str, Any]]) -> HostTimes:
    result = json.loads((run_dir / "results" / host / f"{PAYLOAD}.json").read_text())
    work = run_dir / "artifacts" / host / PAYLOAD / "work" / RESULTS_DIR
    exits = [
        _at(event)
        for event in events
        if event["host"] == host and event["phase"] == "exit"
    ]
    return HostTimes(
        host=host,
        began=float((work / BEGAN_FILE).read_text()),
        ended=float((work / ENDED_FILE).read_text()),
        noticed=_parse(result["finished_at"]),
        exit_event=max(exits),
    )


def _hosts(events: list[dict[str, Any]]) -> list[str]:
    return sorted({event["host"] for event in events if event["host"] is not None})


def _good(events: list[dict[str, Any]], phase: str) -> list[dict[str, Any]]:
    return [e for e in events if e["phase"] == phase and e["outcome"] in GOOD_OUTCOMES]


def _only(events: list[dict[str, Any]], phase: str) -> dict[str, Any]:
    found = _good(events, phase)
    if len(found) != 1:
        raise ValueError(f"expected one good {phase} event, found {len(found)}")
    return found[0]


def _latest(events: list[dict[str, Any]], phase: str) -> float:
    times = [_at(event) for event in _good(events, phase)]
    if not times:
        raise ValueError(f"no good {phase} event in the run")
    return max(times)


def _at(event: dict[str, Any]) -> float:
    return _parse(event["time"])


def _parse(moment: str) -> float:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()
