"""Sections 1 and 5: what orchestration costs beyond the payload, and its memory.

For each host count N, side by side in one process:

1. the floor — a fresh local-hosts daemon for the same campaign (the
   provider's own `up`), a plain paramiko `ssh host true` fan-out to its N
   hosts, then `destroy`; and the same fan-out of N connections to one
   OpenSSH sshd, for reference;
2. the real thing — `fmbench-orch run` of that campaign in a subprocess,
   whose benchmark is `sleep <payload>` bracketed by its own timestamps.

The run's wall time minus the payload is the overhead; its run directory
splits it into phases (see `timeline`). The legacy orchestrator is modelled
from its source: a fixed 60 s sleep after launching instances, then a
completion-flag check every 60 s over a new SSH connection, which notices an
end 30 s late on average (0–60 s) — its other steps are credited with this
run's own times.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import sshd
from benchmarks.campaigns import overhead_campaign
from benchmarks.cli_latency import cli_path
from benchmarks.fanout import copies, fan_out
from benchmarks.memory import PeakSampler
from benchmarks.report import SectionReport, Table, Target, mebibytes, median
from benchmarks.timeline import Timeline, read_timeline
from fmbench_orch.orchestrator.lifecycle import create_run
from fmbench_orch.orchestrator.provisioners.local import (
    HOSTS_FILE,
    STATE_DIR_NAME,
    LocalProvisioner,
)

# The targets: overhead within 1.2 × the fan-out floor + 1 s at 64 hosts, and
# every end noticed within 1 s of the payload's own end.
TARGET_HOSTS = 64
FLOOR_FACTOR = 1.2
FLOOR_ALLOWANCE_S = 1.0
NOTICE_TARGET_S = 1.0
# The legacy orchestrator's fixed waits (its main.py and constants.py).
LEGACY_LAUNCH_SLEEP_S = 60.0
LEGACY_POLL_S = 60.0


@dataclass(frozen=True)
class OverheadSizes:
    hosts: Sequence[int]
    payload_seconds: float


@dataclass(frozen=True)
class OverheadRun:
    hosts: int
    payload: float
    launched: float
    exited: float
    timeline: Timeline
    floor_local: float
    floor_cpu: float
    floor_openssh: float | None
    cpu: float  # user + sys of `run` and all it reaped: daemon, host commands
    run_kib: int | None
    daemon_kib: int | None
    wait4_kib: int

    @property
    def wall(self) -> float:
        return self.exited - self.launched

    @property
    def overhead(self) -> float:
        return self.wall - self.payload

    @property
    def floor_limit(self) -> float:
        return _limit(self.floor_local)

    def segments(self) -> dict[str, float]:
        """The overhead along the critical path; `rest` closes the sum."""
        t = self.timeline
        parts = {
            "startup": t.provision_began - self.launched,
            "provision": t.provisioned - t.provision_began,
            "connect": t.connected - t.provisioned,
            "bootstrap + start": t.started - t.connected,
            "notice": t.noticed - t.payload_ended,
            "harvest": t.harvested - t.noticed,
            "teardown": t.torn_down - t.teardown_began,
            "exit": self.exited - t.torn_down,
        }
        parts["rest"] = self.overhead - sum(parts.values())
        return parts

    @property
    def legacy_overhead(self) -> float:
        """This run with the legacy fixed waits and its average notice delay."""
        return (
            self.overhead
            - self.segments()["notice"]
            + LEGACY_LAUNCH_SLEEP_S
            + LEGACY_POLL_S / 2
        )


def _limit(floor: float) -> float:
    return FLOOR_FACTOR * floor + FLOOR_ALLOWANCE_S


def measure(workdir: Path, sizes: OverheadSizes) -> list[OverheadRun]:
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        server = None
        if sshd.available() is None:
            server = stack.enter_context(sshd.OpenSshServer(workdir / "sshd"))
        return [
            _measure_one(workdir / f"hosts-{hosts}", hosts, sizes, server)
            for hosts in sizes.hosts
        ]


def _measure_one(
    workdir: Path,
    hosts: int,
    sizes: OverheadSizes,
    server: sshd.OpenSshServer | None,
) -> OverheadRun:
    workdir.mkdir(parents=True)
    campaign = overhead_campaign(workdir / "campaign.yml", hosts, sizes.payload_seconds)
    floor_local, floor_cpu = _local_floor(campaign, workdir / "floor-runs")
    floor_openssh = None
    if server is not None:
        floor_openssh = fan_out(copies(server.host(), hosts))

    runs_root = workdir / "runs"
    stdout = workdir / "run.stdout"
    stderr = workdir / "run.stderr"
    argv = [str(cli_path()), "run", str(campaign), "--runs-dir", str(runs_root)]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        launched = time.time()
        process = subprocess.Popen(
            [*argv, "--json"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=workdir,
        )
        with PeakSampler(process.pid, lambda: _daemon_pid(runs_root)) as sampler:
            _, status, usage = os.wait4(process.pid, 0)
        exited = time.time()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(argv)}` exited {process.returncode}: "
            f"{stderr.read_text(errors='replace')[-2000:]}"
        )
    summary = json.loads(stdout.read_text().strip().splitlines()[-1])
    return OverheadRun(
        hosts=hosts,
        payload=sizes.payload_seconds,
        launched=launched,
        exited=exited,
        timeline=read_timeline(Path(summary["run_dir"])),
        floor_local=floor_local,
        floor_cpu=floor_cpu,
        floor_openssh=floor_openssh,
        cpu=usage.ru_utime + usage.ru_stime,
        run_kib=sampler.run_kib,
        daemon_kib=sampler.daemon_kib,
        wait4_kib=usage.ru_maxrss,
    )


def _local_floor(campaign: Path, runs_root: Path) -> tuple[float, float]:
    """The fan-out to a fresh set of the same campaign's local hosts: its wall
    time, and the CPU seconds it cost this process and the daemon."""
    run_dir, spec = create_run(campaign, runs_root)
    provisioner = LocalProvisioner()
    hosts = provisioner.up(spec, run_dir.path)
    try:
        daemon = _daemon_pid(runs_root)
        before = _cpu_seconds(daemon) + _own_cpu_seconds()
        elapsed = fan_out(hosts)
        return elapsed, _cpu_seconds(daemon) + _own_cpu_seconds() - before
    finally:
        provisioner.destroy(spec, run_dir.path)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_seconds(pid: int | None) -> float:
    """user + sys of a live process, from /proc/<pid>/stat."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat, 12 and 13 after the `)`.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _daemon_pid(runs_root: Path) -> int | None:
    for hosts_file in runs_root.glob(f"*/*/{STATE_DIR_NAME}/{HOSTS_FILE}"):
        try:
            return int(json.loads(hosts_file.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None  # being written; the next sample reads it
    return None


def overhead_report(runs: Sequence[OverheadRun]) -> SectionReport:
    report = SectionReport("overhead", "1. Orchestration overhead")
    if not runs:
        return report
    names = list(runs[0].segments())
    split = Table(
        "Where the time goes (seconds; milestones of the latest host, so the "
        "columns from startup to rest add up to the overhead)",
        ["hosts", "wall", "payload", "overhead", *names],
    )
    against = Table(
        "Overhead against the SSH fan-out floor and the legacy design (seconds)",
        [
            "hosts",
            "overhead",
            "floor: local hosts",
            "floor: OpenSSH",
            "1.2 × local floor + 1",
            "CPU s: run / floor",
            "notice median / max",
            "`exit` event max",
            "legacy (modelled) overhead",
            "legacy notice",
        ],
    )
    for run in runs:
        parts = run.segments()
        split.rows.append(
            [
                str(run.hosts),
                f"{run.wall:.2f}",
                f"{run.payload:g}",
                f"{run.overhead:.2f}",
                *(f"{parts[name]:.2f}" for name in names),
            ]
        )
        notices = run.timeline.notice_latencies
        against.rows.append(
            [
                str(run.hosts),
                f"{run.overhead:.2f}",
                f"{run.floor_local:.2f}",
                "–" if run.floor_openssh is None else f"{run.floor_openssh:.2f}",
                f"{run.floor_limit:.2f}",
                f"{run.cpu:.1f} / {run.floor_cpu:.2f}",
                f"{median(notices):.2f} / {max(notices):.2f}",
                f"{max(run.timeline.exit_event_latencies):.2f}",
                f"{run.legacy_overhead:.1f}",
                f"{LEGACY_POLL_S / 2:.0f} (0–{LEGACY_POLL_S:.0f})",
            ]
        )
        if run.hosts == TARGET_HOSTS:
            report.targets.append(
                Target(
                    f"overhead at {run.hosts} hosts, floor: same local hosts",
                    run.overhead,
                    run.floor_limit,
                    "s",
                )
            )
            if run.floor_openssh is not None:
                report.targets.append(
                    Target(
                        f"overhead at {run.hosts} hosts, floor: OpenSSH",
                        run.overhead,
                        _limit(run.floor_openssh),
                        "s",
                    )
                )
        report.targets.append(
            Target(
                f"completion noticed, worst of {run.hosts} host(s)",
                max(notices),
                NOTICE_TARGET_S,
                "s",
            )
        )
    split.notes.extend(_split_notes())
    against.notes.extend(_against_notes())
    report.tables.extend([split, against])
    return report


def memory_report(runs: Sequence[OverheadRun]) -> SectionReport:
    report = SectionReport("memory", "5. Peak memory")
    table = Table(
        "Peak resident memory (VmHWM, i.e. the process's own ru_maxrss)",
        ["hosts", "`run` process", "local-hosts daemon", "wait4 ru_maxrss of `run`"],
    )
    for run in runs:
        table.rows.append(
            [
                str(run.hosts),
                mebibytes(run.run_kib),
                mebibytes(run.daemon_kib),
                mebibytes(run.wait4_kib),
            ]
        )
    table.notes.append(
        "wait4's figure is the larger of `run` and the daemon it reaps at "
        "teardown, which is why each process is also sampled on its own."
    )
    report.tables.append(table)
    return report


def _split_notes() -> list[str]:
    return [
        "startup: interpreter, imports, validate, compile, run directory and key, "
        "until provisioning begins.",
        "connect: provisioned → the last host's SSH session is up; "
        "bootstrap + start: → the last payload's own start timestamp.",
        "notice: the last payload's own end timestamp → the runner's "
        "`finished_at` for it; harvest: → the last harvest is done.",
        "exit: teardown done → the process has exited (manifest, summary, "
        "interpreter exit); rest: the payload's start skew and the step from "
        "the last harvest to teardown.",
    ]


def _against_notes() -> list[str]:
    return [
        "floor: one thread and one paramiko connection per host running `true` "
        "(key exchange, host key check, auth, exec, close); local hosts are a "
        "fresh daemon of the same campaign, OpenSSH is N connections to one sshd.",
        "CPU s: user + sys of `run` and everything it reaped (the daemon and the "
        "hosts' commands), against the local fan-out's own (client + daemon); "
        "a 2-core machine cannot finish the work faster than CPU s / 2.",
        "notice: per host, `finished_at` minus the payload's own `date +%s.%N` "
        "end; the `exit` event comes one kill-check round trip later.",
        f"legacy: this run's overhead with its notice delay replaced by "
        f"{LEGACY_POLL_S / 2:.0f} s (a {LEGACY_POLL_S:.0f} s completion poll) "
        f"plus the fixed {LEGACY_LAUNCH_SLEEP_S:.0f} s sleep after launch.",
    ]
