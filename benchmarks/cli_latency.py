"""Section 3: how long the CLI takes to answer, as a user's shell sees it.

Each command runs as a fresh subprocess (interpreter start, imports, work,
exit); one untimed run first warms the page cache, then the median of the
timed runs is judged.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks.report import SectionReport, Table, Target, median
from benchmarks.sshd import REPOSITORY

TARGET_S = 0.35
QUICKSTART = REPOSITORY / "examples" / "quickstart.yml"


def cli_path() -> Path:
    """The installed `fmbench-orch` script beside this interpreter."""
    return Path(sys.executable).parent / "fmbench-orch"


def run(runs: int) -> SectionReport:
    report = SectionReport("cli", "3. CLI latency")
    table = Table(
        f"Wall time of a fresh process (median of {runs} runs after one warm-up)",
        ["command", "median", "min", "max", "target"],
    )
    commands = {
        "fmbench-orch --help": ["--help"],
        "fmbench-orch validate examples/quickstart.yml": ["validate", str(QUICKSTART)],
    }
    for label, args in commands.items():
        times = _timings([str(cli_path()), *args], runs)
        table.rows.append(
            [
                f"`{label}`",
                f"{median(times):.3f} s",
                f"{min(times):.3f} s",
                f"{max(times):.3f} s",
                f"≤ {TARGET_S:.2f} s",
            ]
        )
        report.targets.append(Target(label, median(times), TARGET_S, "s"))
    report.tables.append(table)
    return report


def _timings(argv: list[str], runs: int) -> list[float]:
    _run_once(argv)
    times = []
    for _ in range(runs):
        times.append(_run_once(argv))
    return times


def _run_once(argv: list[str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(
        argv, cwd=REPOSITORY, capture_output=True, check=False, stdin=subprocess.DEVNULL
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {completed.returncode}: "
            f"{completed.stderr.decode(errors='replace')[-500:]}"
        )
    return elapsed
