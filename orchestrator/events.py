"""The run's event log: one JSON line per phase change of a host or benchmark.

`status`, the report and the benchmarks under `benchmarks/` read it back, so
every line carries the same keys: time, host, benchmark, phase, outcome,
duration (seconds, for phases that ended) and an optional detail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS_FILE = "events.jsonl"


class EventLog:
    """Append-only, thread-safe; each line is flushed as it is written."""

    def __init__(
        self,
        run_dir: Path,
        listener: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.path = run_dir / EVENTS_FILE
        self._lock = threading.Lock()
        self._listener = listener

    def emit(
        self,
        phase: str,
        outcome: str,
        *,
        host: str | None = None,
        benchmark: str | None = None,
        duration: float | None = None,
        detail: str | None = None,
    ) -> dict[str, Any]:
        event = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "host": host,
            "benchmark": benchmark,
            "phase": phase,
            "outcome": outcome,
            "duration": None if duration is None else round(duration, 3),
        }
        if detail is not None:
            event["detail"] = detail
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)
        if self._listener is not None:
            self._listener(event)
        return event


def read_events(run_dir: Path) -> Iterator[dict[str, Any]]:
    path = run_dir / EVENTS_FILE
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)
