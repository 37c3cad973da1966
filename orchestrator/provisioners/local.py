"""The local provider: every host of the spec is an SSH server on 127.0.0.1.

The servers live in a daemon process (`local_hosts`) started by `up`, so hosts
outlive the orchestrator exactly as EC2 instances do: `up` in one process,
`destroy` in another. Everything the daemon needs and writes lives in the
run's state directory, `run_dir/local-hosts/`:

- `spec.json`: the stack spec, the daemon's only input besides the key;
- `authorized_key.pub`: the run's public key, the one client key accepted;
- `hosts.json`: written by the daemon once every server listens (the
  readiness signal): daemon pid, and per host its port, user and host key;
- `daemon.log`: the daemon's stdout and stderr, kept after `destroy`;
- `<host name>/`: each host's home and working directory.

Every command a host runs carries `FMBENCH_LOCAL_HOSTS=<state dir>` in its
environment, so whatever it leaves behind can be found and stopped from any
process, even after the daemon itself was killed.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.keys import PRIVATE_KEY_NAME
from fmbench_orch.orchestrator.provisioners.local_processes import (
    PROCESS_STOP_GRACE,
    all_pids,
    command_line,
    descendants,
    is_running,
    marked_processes,
    signal_process,
    terminate_processes,
    wait_until,
)

logger = logging.getLogger(__name__)

STATE_DIR_NAME = "local-hosts"
KEYS_DIR_NAME = "keys"
SPEC_FILE = "spec.json"
HOSTS_FILE = "hosts.json"
AUTHORIZED_KEY_FILE = "authorized_key.pub"
DAEMON_LOG_FILE = "daemon.log"
STATE_FILES = (SPEC_FILE, HOSTS_FILE, AUTHORIZED_KEY_FILE, DAEMON_LOG_FILE)
DAEMON_MODULE = "fmbench_orch.orchestrator.provisioners.local_hosts"
HOST_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# How often `up` looks for hosts.json: 64 hosts are ready in well under a
# second, so a coarser poll would be most of the wait.
READY_POLL_INTERVAL = 0.02
# How long `up` waits for the daemon: it is ready in ~0.5 s here; a cold
# interpreter on a loaded 2-core CI runner can take several seconds.
READY_DEADLINE = 20.0
# How long `destroy` waits for the daemon after SIGTERM: it spends up to
# PROCESS_STOP_GRACE on its hosts' processes, then closes its servers.
DAEMON_STOP_DEADLINE = PROCESS_STOP_GRACE + 5.0
# How long a status probe waits for a host's port; it is on the loopback.
PORT_PROBE_TIMEOUT = 0.5
# How many lines of the daemon log an error carries.
LOG_TAIL_LINES = 20


class LocalHostsError(RuntimeError):
    """A local provider step failed; carries the phase, cause and daemon log."""

    def __init__(
        self,
        phase: str,
        cause: str,
        next_step: str,
        *,
        state_dir: Path,
        host: str | None = None,
        log_tail: str = "",
    ) -> None:
        self.phase = phase
        self.cause = cause
        self.state_dir = state_dir
        self.host = host
        self.log_tail = log_tail
        where = f" for host {host}" if host else ""
        message = f"local hosts: {phase}{where} failed: {cause}. {next_step}"
        if log_tail:
            message += f"\nLast lines of {state_dir / DAEMON_LOG_FILE}:\n{log_tail}"
        super().__init__(message)


@dataclass(frozen=True)
class HostsRecord:
    """What the daemon wrote to hosts.json once all its servers listened."""

    pid: int
    hosts: dict[str, dict[str, Any]]

    @classmethod
    def read(cls, state_dir: Path) -> HostsRecord | None:
        try:
            raw = json.loads((state_dir / HOSTS_FILE).read_text())
        except FileNotFoundError:
            return None
        return cls(pid=raw["pid"], hosts={h["name"]: h for h in raw["hosts"]})


def state_dir_of(run_dir: Path) -> Path:
    return run_dir.resolve() / STATE_DIR_NAME


class LocalProvisioner:
    """Provisioner (see `base.Provisioner`) of SSH hosts on 127.0.0.1."""

    def __init__(self) -> None:
        # Daemons this process started, so their exit status is collected
        # and they never linger as zombies of a long-lived orchestrator.
        self._daemons: dict[int, subprocess.Popen[bytes]] = {}

    def up(self, spec: StackSpec, run_dir: Path) -> list[Host]:
        state_dir = state_dir_of(run_dir)
        key_file = run_dir.resolve() / KEYS_DIR_NAME / PRIVATE_KEY_NAME
        _check_spec(spec, state_dir, key_file)

        record = HostsRecord.read(state_dir)
        if record is not None and self._daemon_alive(record.pid, state_dir):
            if set(record.hosts) != {host.name for host in spec.hosts}:
                raise LocalHostsError(
                    "up",
                    "the run already has local hosts, for a different host list",
                    "Run `destroy` for this run first, then `up` again.",
                    state_dir=state_dir,
                )
            return _hosts_from(spec, record, key_file)
        if state_dir.exists():
            self.destroy(spec, run_dir)

        started = time.monotonic()
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / SPEC_FILE).write_text(spec.model_dump_json())
        shutil.copyfile(key_file.with_suffix(".pub"), state_dir / AUTHORIZED_KEY_FILE)
        daemon = self._start_daemon(state_dir)
        try:
            record = self._wait_ready(daemon, state_dir)
        except BaseException:  # Ctrl-C included: leave no daemon behind
            self._stop_daemon(daemon.pid, state_dir)
            raise
        logger.info(
            "local hosts: %d up in %.2f s (daemon pid %d)",
            len(record.hosts),
            time.monotonic() - started,
            record.pid,
        )
        return _hosts_from(spec, record, key_file)

    def destroy(self, spec: StackSpec, run_dir: Path) -> None:
        state_dir = state_dir_of(run_dir)
        if not state_dir.exists():
            return

        for pid in self._daemon_pids(state_dir):
            self._stop_daemon(pid, state_dir)
        left = terminate_processes(lambda: marked_processes(state_dir))
        if left:
            logger.warning(
                "local hosts: processes %s outlived SIGKILL; stop them by hand",
                sorted(left),
            )

        for path in state_dir.iterdir():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.name in (HOSTS_FILE, AUTHORIZED_KEY_FILE):
                path.unlink()

    def status(self, spec: StackSpec, run_dir: Path) -> dict[str, str]:
        state_dir = state_dir_of(run_dir)
        record = HostsRecord.read(state_dir)
        alive = record is not None and self._daemon_alive(record.pid, state_dir)
        states = {}
        for host in spec.hosts:
            entry = record.hosts.get(host.name) if alive and record else None
            running = entry is not None and _port_open(entry["port"])
            states[host.name] = "running" if running else "gone"
        return states

    def _start_daemon(self, state_dir: Path) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", DAEMON_MODULE, str(state_dir)]
        with (state_dir / DAEMON_LOG_FILE).open("ab") as log:
            daemon = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=state_dir,
                start_new_session=True,
                close_fds=True,
            )
        self._daemons[daemon.pid] = daemon
        return daemon

    def _wait_ready(
        self, daemon: subprocess.Popen[bytes], state_dir: Path
    ) -> HostsRecord:
        deadline = time.monotonic() + READY_DEADLINE
        while time.monotonic() < deadline:
            record = HostsRecord.read(state_dir)
            if record is not None:
                return record
            if daemon.poll() is not None:
                raise LocalHostsError(
                    "up",
                    f"the local hosts daemon exited with {daemon.returncode} "
                    "before its hosts were ready",
                    "Fix what its log shows, then run `up` again.",
                    state_dir=state_dir,
                    log_tail=_log_tail(state_dir),
                )
            time.sleep(READY_POLL_INTERVAL)

        raise LocalHostsError(
            "up",
            f"the local hosts daemon was not ready after {READY_DEADLINE:.0f} s",
            "The machine may be overloaded; check its log, then run `up` again.",
            state_dir=state_dir,
            log_tail=_log_tail(state_dir),
        )

    def _daemon_pids(self, state_dir: Path) -> set[int]:
        pids = {pid for pid in all_pids() if _is_daemon_of(pid, state_dir)}
        record = HostsRecord.read(state_dir)
        if record is not None and self._daemon_alive(record.pid, state_dir):
            pids.add(record.pid)
        return pids

    def _daemon_alive(self, pid: int, state_dir: Path) -> bool:
        daemon = self._daemons.get(pid)
        if daemon is not None and daemon.poll() is not None:
            del self._daemons[pid]
            return False
        return _is_daemon_of(pid, state_dir)

    def _stop_daemon(self, pid: int, state_dir: Path) -> None:
        """SIGTERM the daemon; if it hangs, SIGKILL it and all it started."""
        if not self._daemon_alive(pid, state_dir):
            return  # its pid may already belong to someone else
        signal_process(pid, signal.SIGTERM)
        if wait_until(
            lambda: not self._daemon_alive(pid, state_dir), DAEMON_STOP_DEADLINE
        ):
            return

        logger.warning(
            "local hosts: daemon %d ignored SIGTERM for %.0f s; killing it",
            pid,
            DAEMON_STOP_DEADLINE,
        )
        # Its descendants are listed before it dies: afterwards they belong
        # to init and only their environment marker would still find them.
        tree = descendants(pid)
        signal_process(pid, signal.SIGKILL)
        for child in tree:
            signal_process(child, signal.SIGKILL)
        wait_until(lambda: not self._daemon_alive(pid, state_dir), 1.0)


def _check_spec(spec: StackSpec, state_dir: Path, key_file: Path) -> None:
    if not key_file.with_suffix(".pub").exists():
        raise LocalHostsError(
            "up",
            f"the run key {key_file.with_suffix('.pub')} does not exist",
            "Create it with keys.create_run_key(run_dir / 'keys', …) first.",
            state_dir=state_dir,
        )
    for host in spec.hosts:
        bad_name = not HOST_NAME_PATTERN.fullmatch(host.name)
        if bad_name or host.name in STATE_FILES:
            raise LocalHostsError(
                "up",
                f"host name {host.name!r} cannot name a directory",
                "Use letters, digits, '.', '_' and '-' in host names.",
                state_dir=state_dir,
                host=host.name,
            )
    if seconds_until(spec.expires_at) <= 0:
        raise LocalHostsError(
            "up",
            f"the spec expired at {spec.expires_at.isoformat()}",
            "Compile the campaign again for a new run.",
            state_dir=state_dir,
        )


def _hosts_from(spec: StackSpec, record: HostsRecord, key_file: Path) -> list[Host]:
    hosts = []
    for host in spec.hosts:
        entry = record.hosts[host.name]
        hosts.append(
            Host(
                name=host.name,
                address="127.0.0.1",
                port=entry["port"],
                user=entry["user"],
                key_file=key_file,
                host_key=entry["host_key"],
                instance_type=host.instance_type,
                region=host.region,
            )
        )
    return hosts


def seconds_until(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime.now(UTC)).total_seconds()


def _log_tail(state_dir: Path) -> str:
    try:
        lines = (state_dir / DAEMON_LOG_FILE).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), PORT_PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def _is_daemon_of(pid: int, state_dir: Path) -> bool:
    argv = command_line(pid)
    ours = DAEMON_MODULE.encode() in argv and str(state_dir).encode() in argv
    return ours and is_running(pid)
