"""Finding and stopping the processes a run's local hosts started.

Linux /proc is the source. A process belongs to a run when it descends from
the run's daemon (a child subreaper, so even double-forked processes stay in
its tree) or when its environment carries the run's marker,
`FMBENCH_LOCAL_HOSTS=<state dir>`, which every host command gets and which
still finds them after the daemon itself was killed. Working directories are
deliberately not a criterion: an operator's shell sitting in a host's
directory is not the host's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

MARKER_ENV = "FMBENCH_LOCAL_HOSTS"

# How long a process may take to exit after SIGTERM before it gets SIGKILL:
# enough for a benchmark to flush its log, short enough for a brisk teardown.
PROCESS_STOP_GRACE = 2.0
# How often a stop looks again at what is still running.
STOP_POLL_INTERVAL = 0.02
# How many SIGKILL rounds a sweep makes: each catches what forked meanwhile.
KILL_ROUNDS = 5
# How long one SIGKILL round waits for the kernel to finish the kills.
KILL_ROUND_WAIT = 1.0

# Limitation: a process that both left the daemon's tree (the daemon was
# SIGKILLed) and cleared its environment (`env -i`) is not found — matters
# only when a benchmark scrubs its environment and the daemon was killed.
# Limitation: Linux only (/proc, prctl) — matters for running the local
# provider on macOS.


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def process_stat(pid: int) -> tuple[str, int] | None:
    """The state letter and parent pid of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0].decode(), int(fields[1])


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    stat = process_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def command_line(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []


def descendants(root: int) -> set[int]:
    """Every running process below `root` in the process tree."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        stat = process_stat(pid)
        if stat is not None and stat[0] not in ("Z", "X"):
            children.setdefault(stat[1], []).append(pid)
    found: set[int] = set()
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def zombie_children(parent: int) -> set[int]:
    """Exited children of `parent` that nobody has collected yet."""
    found = set()
    for pid in all_pids():
        stat = process_stat(pid)
        if stat is not None and stat[0] == "Z" and stat[1] == parent:
            found.add(pid)
    return found


def marked_processes(state_dir: Path) -> set[int]:
    """Running processes whose environment names this run's state dir."""
    marker = f"{MARKER_ENV}={state_dir}".encode()
    uid = os.getuid()
    found = set()
    for pid in all_pids():
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            with open(f"/proc/{pid}/environ", "rb") as environ:
                variables = environ.read().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if marker in variables and is_running(pid):
            found.add(pid)
    found.discard(os.getpid())
    return found


def terminate_processes(find: Callable[[], set[int]]) -> set[int]:
    """SIGTERM what `find` returns, SIGKILL what is left; return survivors."""
    for pid in find():
        signal_process(pid, signal.SIGTERM)
    wait_until(lambda: not find(), PROCESS_STOP_GRACE)

    for _ in range(KILL_ROUNDS):
        survivors = find()
        if not survivors:
            return set()
        for pid in survivors:
            signal_process(pid, signal.SIGKILL)
        wait_until(lambda: not find(), KILL_ROUND_WAIT)
    return find()


def signal_process(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(STOP_POLL_INTERVAL)
    return True
