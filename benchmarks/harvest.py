"""Section 2: harvest throughput against OpenSSH's own `ssh … tar c | tar x`.

A results directory of many small files and one large file sits on a
private OpenSSH sshd on 127.0.0.1. The project's harvest
(`transfer.harvest`, over one already-open connection, as the runner calls
it) copies it next to the baseline: the system `ssh` client piping a remote
`tar -c` into a local `tar -x`, a new connection each time. Trials are
interleaved and the fastest of each is compared: on a shared machine other
work only ever slows a trial down. Two diagnostic rows bound the gap: the
same tar stream read over the project's paramiko channel and thrown away
(the transport's ceiling), and `tar | tar` on this machine without SSH.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.report import SectionReport, Table, Target, median
from benchmarks.sshd import OpenSshServer, available
from fmbench_orch.orchestrator import transfer
from fmbench_orch.orchestrator.jobs import bash
from fmbench_orch.orchestrator.remote import READ_CHUNK, RemoteHost
from fmbench_orch.orchestrator.runner import write_known_hosts

TARGET_RATIO = 0.8
CONNECT_DEADLINE_S = 30.0
# Written as one repeated random block: SSH does not compress, so the bytes'
# entropy does not change the cost, and the setup stays quick.
BLOCK = 1 << 20
MIB = 1 << 20
RESULTS = "results"
SMALL_DIR = "small"
BIG_FILE = "big.bin"
SSH_TAR = "`ssh host tar c | tar x`"


@dataclass(frozen=True)
class HarvestSizes:
    small_files: int
    small_file_bytes: int
    big_file_mib: int
    trials: int


def run(workdir: Path, sizes: HarvestSizes) -> SectionReport:
    report = SectionReport("harvest", "2. Harvest throughput")
    missing = available()
    if missing:
        table = Table("Skipped", ["reason"], [[missing]])
        report.tables.append(table)
        return report

    if workdir.exists():
        shutil.rmtree(workdir)
    root = workdir / "remote"
    total = _make_results(root / RESULTS, sizes)
    with OpenSshServer(workdir / "sshd") as server:
        bench = _Bench(workdir, server, root)
        try:
            rows = bench.compare(sizes.trials, total, sizes)
        finally:
            bench.close()
    report.tables.append(rows.table)
    report.targets.append(
        Target(
            "harvest throughput vs `ssh … tar c | tar x`",
            rows.ratio,
            TARGET_RATIO,
            "×",
            floor=True,
        )
    )
    return report


@dataclass
class _Case:
    group: str
    label: str
    action: Callable[[], None]
    baseline: bool = False
    times: list[float] = field(default_factory=list)


@dataclass
class _Rows:
    table: Table
    ratio: float


class _Bench:
    def __init__(self, workdir: Path, server: OpenSshServer, root: Path) -> None:
        self.workdir = workdir
        self.server = server
        self.root = root
        self.host = server.host("harvest")
        self.known_hosts = workdir / "known_hosts"
        write_known_hosts(self.known_hosts, [self.host])
        self.remote = RemoteHost(self.host, self.known_hosts)
        self.remote.connect(CONNECT_DEADLINE_S)
        self.run_dir = workdir / "run"
        self.dest = self.run_dir / "artifacts"

    def close(self) -> None:
        self.remote.close()

    def compare(self, trials: int, total: int, sizes: HarvestSizes) -> _Rows:
        small = f"{RESULTS}/{SMALL_DIR}"
        big = f"{RESULTS}/{BIG_FILE}"
        small_bytes = sizes.small_files * sizes.small_file_bytes
        big_bytes = sizes.big_file_mib * MIB
        cases = [
            _Case("all", "harvest (`transfer.harvest`)", lambda: self.ours(RESULTS)),
            _Case("all", SSH_TAR, lambda: self.openssh(RESULTS), baseline=True),
            _Case("all", "diag: paramiko channel, bytes dropped", self.raw_channel),
            _Case("all", "diag: `tar c | tar x`, no SSH", self.local),
            _Case("small", "harvest", lambda: self.ours(small)),
            _Case("small", SSH_TAR, lambda: self.openssh(small), baseline=True),
            _Case("big", "harvest", lambda: self.ours(big)),
            _Case("big", SSH_TAR, lambda: self.openssh(big), baseline=True),
        ]
        group_bytes = {"all": total, "small": small_bytes, "big": big_bytes}
        group_names = {
            "all": "everything",
            "small": f"{sizes.small_files} small files",
            "big": f"the {sizes.big_file_mib} MiB file",
        }
        for _ in range(trials):
            for case in cases:
                case.times.append(self._timed(case.action))

        baseline = {case.group: min(case.times) for case in cases if case.baseline}
        table = Table(
            f"{sizes.small_files} files of {sizes.small_file_bytes} B + one "
            f"{sizes.big_file_mib} MiB file ({total / MIB:.0f} MiB) from OpenSSH "
            f"sshd on 127.0.0.1; fastest and median of {trials} interleaved trials",
            ["copies", "by", "fastest", "median", "MiB/s", "speed vs `ssh … tar`"],
        )
        for case in cases:
            best = min(case.times)
            table.rows.append(
                [
                    group_names[case.group],
                    case.label,
                    f"{best:.2f} s",
                    f"{median(case.times):.2f} s",
                    f"{group_bytes[case.group] / MIB / best:.0f}",
                    f"{baseline[case.group] / best:.2f}×",
                ]
            )
        table.notes.append(
            "The harvest reuses the run's open connection and hashes every byte "
            "(SHA-256) as it writes; `ssh` opens a new connection per copy. "
            f"Source and destination are under {self.workdir.parent.parent}."
        )
        ours = min(cases[0].times)
        return _Rows(table, baseline["all"] / ours)

    def _timed(self, action: Callable[[], None]) -> float:
        if self.dest.exists():
            shutil.rmtree(self.dest)
        started = time.perf_counter()
        action()
        return time.perf_counter() - started

    def ours(self, pattern: str) -> None:
        harvest = transfer.harvest(
            self.remote, str(self.root), [pattern], "", self.dest, self.run_dir
        )
        if not harvest.ok or harvest.refused:
            raise RuntimeError(f"harvest incomplete: {harvest.problems[:3]}")

    def openssh(self, pattern: str) -> None:
        self.dest.mkdir(parents=True)
        key = self.server.client_key
        ssh = [
            "ssh",
            *("-F", "/dev/null", "-i", str(key), "-p", str(self.server.port)),
            *("-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"),
            *("-o", f"UserKnownHostsFile={self.known_hosts}"),
            *("-o", "GlobalKnownHostsFile=/dev/null"),
            *("-o", "StrictHostKeyChecking=yes"),
            f"{self.host.user}@127.0.0.1",
            f"cd {shlex.quote(str(self.root))} && tar -cf - {shlex.quote(pattern)}",
        ]
        pipeline = f"{shlex.join(ssh)} | tar -xf - -C {shlex.quote(str(self.dest))}"
        subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], check=True)

    def raw_channel(self) -> None:
        command = bash(f"cd {shlex.quote(str(self.root))} && tar -cf - {RESULTS}")
        channel = self.remote.open_command(
            command, phase="harvest", combine_stderr=False
        )
        channel.settimeout(transfer.TRANSFER_STALL_S)
        try:
            while channel.recv(READ_CHUNK):
                pass
        finally:
            channel.close()

    def local(self) -> None:
        self.dest.mkdir(parents=True)
        pipeline = (
            f"tar -C {shlex.quote(str(self.root))} -cf - {RESULTS} "
            f"| tar -xf - -C {shlex.quote(str(self.dest))}"
        )
        subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], check=True)


def _make_results(results: Path, sizes: HarvestSizes) -> int:
    """Write the remote results directory; return its size in bytes."""
    small = results / SMALL_DIR
    small.mkdir(parents=True)
    for index in range(sizes.small_files):
        (small / f"result-{index:05d}.json").write_bytes(
            os.urandom(sizes.small_file_bytes)
        )
    block = os.urandom(BLOCK)
    with (results / BIG_FILE).open("wb") as big:
        for _ in range(sizes.big_file_mib):
            big.write(block)
    return sizes.small_files * sizes.small_file_bytes + sizes.big_file_mib * MIB
