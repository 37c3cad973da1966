"""Runs a run's benchmarks: every host in parallel, each host's in order.

`run_benchmarks` starts one thread per host and waits for them with a
deadline each; one host's failure or hang never holds up another. Each
result is written to `run_dir/results/<host>/<benchmark>.json` as soon as it
is known, so calling `run_benchmarks` again on the same run directory (what
`resume` does) skips recorded benchmarks and reattaches to running ones.

Follow mechanism (why it is cheap for 64 hosts on 2 cores): each running
benchmark has one SSH channel carrying a remote `tail -f` of its log, which
ends by itself right after the benchmark does (a remote watcher polls the
pid every `jobs.FOLLOW_POLL_S`). Nothing crosses the network while a
benchmark is quiet, and the operator's side only wakes on output or on a
`READ_TICK_S` read timeout to look at the deadline and the stop event.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.models.spec import BenchmarkSpec, HostSpec, StackSpec
from fmbench_orch.orchestrator.benchmark_run import CHECK_TIMEOUT_S
from fmbench_orch.orchestrator.drivers import driver_for
from fmbench_orch.orchestrator.events import EventLog
from fmbench_orch.orchestrator.host_run import (
    CLOUD_INIT_WAIT_S,
    HostRun,
    Progress,
    RunnerLimits,
    result_for,
)
from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.jobs import KILL_GRACE_S, KILL_VERIFY_S
from fmbench_orch.orchestrator.layout import RunLayout
from fmbench_orch.orchestrator.remote import RECONNECT_DEADLINE_S
from fmbench_orch.orchestrator.transfer import TRANSFER_DEADLINE_S

__all__ = [
    "Progress",
    "RunnerLimits",
    "known_hosts_line",
    "run_benchmarks",
    "write_known_hosts",
]

log = logging.getLogger(__name__)

# A host's bootstrap may take this long at most (FMBench's install dominates).
BOOTSTRAP_BUDGET_S = CLOUD_INIT_WAIT_S + 3600.0
# Per benchmark, beyond its own timeout and its driver's cleanup: a reconnect,
# a kill, the post-run check and two harvests of large results.
BENCHMARK_OVERHEAD_S = (
    RECONNECT_DEADLINE_S
    + KILL_GRACE_S
    + KILL_VERIFY_S
    + CHECK_TIMEOUT_S
    + TRANSFER_DEADLINE_S
)
# After `stop`, how long hosts get to kill their benchmarks and return: the
# kill's own grace and verification plus the SSH round trips.
STOP_DEADLINE_S = KILL_GRACE_S + KILL_VERIFY_S + 30.0
# How often the waiting thread looks at `stop` while hosts run.
JOIN_TICK_S = 0.5


@dataclass
class _HostThread:
    run: HostRun
    thread: threading.Thread
    budget: float
    pending: list[BenchmarkSpec]


def run_benchmarks(
    spec: StackSpec,
    hosts: list[Host],
    run_dir: Path,
    events: EventLog,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    *,
    limits: RunnerLimits | None = None,
    rerun: Callable[[BenchmarkResult], bool] | None = None,
    explain: Callable[[Host], str | None] | None = None,
) -> list[BenchmarkResult]:
    """Run every benchmark of `spec` on `hosts`; return the results, spec order.

    `progress` (see `host_run.Progress`) is called from host threads on each
    phase change and as output arrives. Setting `stop` stops starting
    benchmarks, kills running ones' process groups and returns what is known
    (killed benchmarks come back as failures and are not recorded, so a
    resume reruns them). Recorded results are reused, but for those `rerun`
    picks, which run again. `explain` (the provisioner's `why_lost`) says
    why a host that stopped answering is gone, for the results' reason.
    """
    layout = RunLayout(run_dir)
    stop = stop or threading.Event()
    limits = limits or RunnerLimits()
    by_name = {host.name: host for host in hosts}
    write_known_hosts(layout.known_hosts, hosts)

    results: dict[tuple[str, str], BenchmarkResult] = {}
    threads: list[_HostThread] = []
    for host_spec in spec.hosts:
        pending = []
        for benchmark in host_spec.benchmarks:
            recorded = _recorded(layout, host_spec.name, benchmark.name)
            if recorded is None or (rerun is not None and rerun(recorded)):
                pending.append(benchmark)
            else:
                results[(host_spec.name, benchmark.name)] = recorded
        if not pending:
            continue
        host = by_name.get(host_spec.name)
        problem = _host_problem(host)
        if problem is not None:
            for result in _unreachable(host_spec, pending, problem, layout, events):
                results[(host_spec.name, result.benchmark)] = result
            continue
        run = HostRun(
            run_id=spec.run_id,
            spec=host_spec,
            host=host,
            layout=layout,
            events=events,
            progress=progress,
            stop=stop,
            limits=limits,
            record=lambda result: _record(layout, result),
            explain=explain,
        )
        budget = (
            limits.connect_deadline_s
            + BOOTSTRAP_BUDGET_S
            + sum(
                b.timeout_seconds
                + BENCHMARK_OVERHEAD_S
                + driver_for(b.driver).cleanup_timeout_s
                for b in pending
            )
        )
        thread = threading.Thread(
            target=run.run, args=(pending,), name=f"runner-{run.name}", daemon=True
        )
        threads.append(_HostThread(run, thread, budget, pending))

    for entry in threads:
        entry.thread.start()
    _wait_for_hosts(threads, stop)

    for entry in threads:
        if entry.thread.is_alive():
            entry.run.fail_unfinished(
                entry.pending,
                f"{entry.run.name}: the host's runner did not finish by its "
                "deadline; see the log",
            )
        for result in list(entry.run.results.values()):
            results[(entry.run.name, result.benchmark)] = result
    return [
        results[(host.name, benchmark.name)]
        for host in spec.hosts
        for benchmark in host.benchmarks
        if (host.name, benchmark.name) in results
    ]


def _wait_for_hosts(threads: list[_HostThread], stop: threading.Event) -> None:
    """Join each host's thread by its budget, or soon after `stop` is set."""
    started = time.monotonic()
    stop_seen: float | None = None
    for entry in threads:
        while entry.thread.is_alive():
            if stop_seen is None and stop.is_set():
                stop_seen = time.monotonic()
            deadline = started + entry.budget
            if stop_seen is not None:
                deadline = min(deadline, stop_seen + STOP_DEADLINE_S)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning(
                    "%s: runner still busy at its deadline; giving up on it",
                    entry.run.name,
                )
                break
            entry.thread.join(min(JOIN_TICK_S, remaining))


def _unreachable(
    host_spec: HostSpec,
    pending: list[BenchmarkSpec],
    problem: str,
    layout: RunLayout,
    events: EventLog,
) -> list[BenchmarkResult]:
    """Failures for a host that cannot even be dialled."""
    events.emit("connect", "failed", host=host_spec.name, detail=problem)
    failures = []
    for benchmark in pending:
        reason = f"{host_spec.name}: connect failed: {problem}"
        result = result_for(host_spec, benchmark, "failure", reason=reason)
        _record(layout, result)
        failures.append(result)
    return failures


def known_hosts_line(host: Host) -> str:
    """The host's known_hosts entry (`[address]:port type key`); checks the key."""
    fields = (host.host_key or "").split()
    if len(fields) < 2:
        raise ValueError("host_key is not an OpenSSH public key line (`type base64`)")
    key_type, blob = fields[0], fields[1]
    try:
        paramiko.PKey.from_type_string(key_type, base64.b64decode(blob, validate=True))
    except (binascii.Error, ValueError, paramiko.SSHException) as exc:
        raise ValueError(f"host_key is not a valid {key_type} key: {exc}") from None
    return f"{host.known_hosts_name} {key_type} {blob}"


def _host_problem(host: Host | None) -> str | None:
    if host is None:
        return "the provisioner returned no such host"
    if host.host_key is None:
        return None
    try:
        known_hosts_line(host)
    except ValueError as exc:
        return f"{exc}; fix the host's host_key"
    return None


def write_known_hosts(path: Path, hosts: list[Host]) -> None:
    """The run's known_hosts: one line per host whose provisioner gave a key."""
    lines = []
    for host in hosts:
        if host.host_key is not None and _host_problem(host) is None:
            lines.append(known_hosts_line(host) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, "".join(lines))


def _recorded(layout: RunLayout, host: str, benchmark: str) -> BenchmarkResult | None:
    path = layout.result(host, benchmark)
    if not path.is_file():
        return None
    try:
        return BenchmarkResult.model_validate_json(path.read_text())
    except ValueError:
        log.warning(
            "%s: %s: unreadable result %s; running it again", host, benchmark, path
        )
        return None


def _record(layout: RunLayout, result: BenchmarkResult) -> None:
    path = layout.result(result.host, result.benchmark)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, result.model_dump_json(indent=2) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    partial.write_text(text)
    os.replace(partial, path)
