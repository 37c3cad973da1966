"""Drivers: what runs on a host for a benchmark and how its outcome is read.

The runner owns the mechanics (SSH, detached jobs, uploads, harvest); a
driver only says what to install, what to run, what to bring back and how to
judge it. Every script a driver returns is bash; the runner writes it to a
file on the host (never onto a command line) and runs it in the directory
named in each method's docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fmbench_orch.models.results import BenchmarkStatus
from fmbench_orch.models.spec import BenchmarkSpec


class DriverError(ValueError):
    """A benchmark cannot be run as specified; the message names the fix."""


@dataclass(frozen=True)
class Verdict:
    status: BenchmarkStatus
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


class Driver(Protocol):
    name: str
    # The longest the host's bootstrap for this driver may take.
    bootstrap_timeout_s: float
    # Whether the host's bootstrap log is harvested with each benchmark.
    harvest_bootstrap_log: bool

    def bootstrap_script(self, benchmarks: Sequence[BenchmarkSpec]) -> str:
        """Installs what `benchmarks` need, once per host; runs in the run's
        bootstrap directory (`.fmbench-orch/<run>/bootstrap`). Empty: nothing."""
        ...

    def run_script(self, benchmark: BenchmarkSpec, run_id: str) -> str:
        """The benchmark itself; runs in its directory (`work/` is inside)."""
        ...

    def uploads(self, benchmark: BenchmarkSpec) -> list[tuple[Path, str]]:
        """Local files to place in the benchmark directory before it starts."""
        ...

    def harvest_patterns(self, benchmark: BenchmarkSpec) -> list[str]:
        """What to bring back, relative to the benchmark directory (`*` globs)."""
        ...

    def check_script(self, benchmark: BenchmarkSpec) -> str | None:
        """Evidence for `judge`, gathered on the host after the benchmark ended;
        runs in the benchmark directory, its output goes to `judge`."""
        ...

    # The longest `cleanup_script` may take.
    cleanup_timeout_s: float

    def cleanup_script(self, benchmark: BenchmarkSpec, timed_out: bool) -> str | None:
        """Undoes what the benchmark left behind; runs in the benchmark directory
        after it ended or was killed (`timed_out`: killed at its timeout). A
        non-zero exit is reported with the script's last line of output."""
        ...

    def judge(
        self,
        benchmark: BenchmarkSpec,
        exit_code: int | None,
        check_output: str,
        artifacts: Path,
    ) -> Verdict:
        """Success or failure (with the reason) and the metrics read from the
        harvested `artifacts` (the benchmark directory's copy)."""
        ...


def driver_for(name: str) -> Driver:
    from fmbench_orch.orchestrator.drivers.command import CommandDriver
    from fmbench_orch.orchestrator.drivers.fmbench import FmbenchDriver

    drivers: dict[str, Driver] = {
        "command": CommandDriver(),
        "fmbench": FmbenchDriver(),
    }
    try:
        return drivers[name]
    except KeyError:
        raise DriverError(
            f"unknown driver {name!r}; use one of {', '.join(sorted(drivers))}"
        ) from None


def no_exit_code_verdict() -> Verdict:
    return Verdict(
        "failure",
        "the benchmark ended without an exit code (it was killed, or the host "
        "rebooted); see its log",
    )


def relative_path(kind: str, benchmark: BenchmarkSpec, path: str) -> str:
    """A user path inside the work directory; refuses ones that leave it."""
    cleaned = path.strip().removeprefix("./").rstrip("/")
    parts = cleaned.split("/")
    if not cleaned or cleaned.startswith("/") or ".." in parts:
        raise DriverError(
            f"benchmark {benchmark.name}: {kind} {path!r} must be a path inside "
            "the benchmark's working directory (relative, no '..')"
        )
    return cleaned
