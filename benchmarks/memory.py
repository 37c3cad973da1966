"""Peak memory of the `run` process and of its local-hosts daemon, apart.

`ru_maxrss` from `wait4` mixes the two: a process's figure includes the
largest child it reaped, and `run` reaps the daemon at teardown. So each
process's own high-water mark (`VmHWM` in /proc/<pid>/status, the same
kernel counter `ru_maxrss` reports for a single process) is read while it
lives; the last reading before it exits is its peak.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

# Often enough to catch the daemon just before teardown stops it.
SAMPLE_INTERVAL_S = 0.05


class PeakSampler:
    """Follows the `run` process and, once it appears, the daemon's pid."""

    def __init__(self, run_pid: int, daemon_pid: Callable[[], int | None]) -> None:
        self.run_pid = run_pid
        self._find_daemon = daemon_pid
        self.daemon_pid: int | None = None
        self.run_kib: int | None = None
        self.daemon_kib: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.run_kib = high_water_kib(self.run_pid) or self.run_kib
            if self.daemon_pid is None:
                self.daemon_pid = self._find_daemon()
            if self.daemon_pid is not None:
                self.daemon_kib = high_water_kib(self.daemon_pid) or self.daemon_kib


def high_water_kib(pid: int) -> int | None:
    """The process's peak resident set (KiB), or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if "\nState:\tZ" in text:
        return None  # a zombie's counters are already gone
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None
