"""The local hosts daemon: one embedded SSH server per host of a stack spec.

`python -m fmbench_orch.orchestrator.provisioners.local_hosts <state dir>`
(the local provider's `up` runs it) reads `spec.json` and
`authorized_key.pub` from the state dir, starts every host's server on
127.0.0.1 in one event loop, writes `hosts.json` and serves until SIGTERM,
SIGINT or the spec's `expires_at` — the local twin of the EC2 dead-man
switch. On the way out it stops every process its hosts started.

A host has its own ed25519 host key and accepts only the run's key for the
spec's `ssh_user`. A session runs `bash -c <command>` (or `bash` reading
stdin when no command is given) in a new session, with HOME and cwd at the
host's directory; SFTP is rooted at that directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
from functools import partial
from pathlib import Path
from typing import Any

import asyncssh

from fmbench_orch.models.spec import HostSpec, StackSpec
from fmbench_orch.orchestrator.provisioners.local import (
    AUTHORIZED_KEY_FILE,
    HOSTS_FILE,
    SPEC_FILE,
    seconds_until,
)
from fmbench_orch.orchestrator.provisioners.local_processes import (
    MARKER_ENV,
    PROCESS_STOP_GRACE,
    descendants,
    marked_processes,
    terminate_processes,
    zombie_children,
)

logger = logging.getLogger(__name__)

# How often the daemon collects exited orphans (it is their subreaper): often
# enough that a chatty benchmark leaves no pile of zombies, rarely enough to
# cost nothing.
ORPHAN_REAP_INTERVAL = 1.0
# Bytes moved per read between a command's pipes and its channel: the Linux
# pipe buffer size, so one read usually empties the pipe.
READ_CHUNK = 64 * 1024
# Variables a command inherits from the daemon; the rest of the operator's
# environment (credentials included) stays out, as it would on EC2.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")
# prctl option that makes orphaned descendants reparent to this process.
PR_SET_CHILD_SUBREAPER = 36

# Limitation: commands run as the operator's own OS user with the operator's
# file access; the host directory is a working directory, not a jail, and
# `ssh_user` is only the login name — matters if a campaign runs untrusted
# commands on the local provider.


class HostServer(asyncssh.SSHServer):
    """Lets in one user with one key; refuses everything else."""

    def __init__(self, daemon: LocalHostsDaemon, user: str, key: asyncssh.SSHKey):
        self._daemon = daemon
        self._user = user
        self._key = key
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._daemon.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._daemon.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self._user and key.public_data == self._key.public_data


class LocalHostsDaemon:
    """Serves every host of one spec and stops what they start."""

    def __init__(self, state_dir: Path, spec: StackSpec, client_key: asyncssh.SSHKey):
        self.state_dir = state_dir
        self.spec = spec
        self.client_key = client_key
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._acceptors: list[asyncssh.SSHAcceptor] = []
        # Bash processes asyncio waits for; the orphan reaper leaves them be.
        self._commands: set[int] = set()
        # Spawns in flight: their pid is not in _commands yet.
        self._spawning = 0

    async def serve(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

        records = await asyncio.gather(*(self.start_host(h) for h in self.spec.hosts))
        _write_atomically(
            self.state_dir / HOSTS_FILE,
            json.dumps({"pid": os.getpid(), "hosts": records}, indent=2),
        )
        logger.info("serving %d hosts", len(records))
        for record in records:
            logger.info("%s listens on 127.0.0.1:%d", record["name"], record["port"])

        reaper = asyncio.create_task(self._reap_orphans())
        try:
            remaining = max(seconds_until(self.spec.expires_at), 0.0)
            await asyncio.wait_for(stop.wait(), remaining)
            logger.info("stopping on signal")
        except TimeoutError:
            logger.warning("stack %s expired; stopping", self.spec.stack_name)
        finally:
            reaper.cancel()
            self.stop()

    async def start_host(self, host: HostSpec) -> dict[str, Any]:
        host_dir = self.state_dir / host.name
        host_dir.mkdir(exist_ok=True)
        host_key = asyncssh.generate_private_key("ssh-ed25519")

        # Limitation: SFTP sees the host dir as `/` while commands see the real
        # filesystem, so an absolute path names different files in the two —
        # matters only to callers using absolute remote paths; relative ones
        # (from the login directory) agree.
        acceptor = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_factory=partial(HostServer, self, host.ssh_user, self.client_key),
            server_host_keys=[host_key],
            process_factory=partial(self.run_session, host, host_dir),
            sftp_factory=partial(asyncssh.SFTPServer, chroot=os.fsencode(host_dir)),
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )
        self._acceptors.append(acceptor)
        logger.debug("host %s listens on port %d", host.name, acceptor.get_port())
        return {
            "name": host.name,
            "port": acceptor.get_port(),
            "user": host.ssh_user,
            "host_key": host_key.export_public_key().decode().strip(),
            "dir": str(host_dir),
        }

    def stop(self) -> None:
        """Close the servers, then stop every process the hosts started."""
        for acceptor in self._acceptors:
            acceptor.close()

        left = terminate_processes(self._run_processes)
        if left:
            logger.warning("processes %s outlived SIGKILL", sorted(left))

        for conn in list(self.connections):
            conn.close()

    def _run_processes(self) -> set[int]:
        return descendants(os.getpid()) | marked_processes(self.state_dir)

    async def run_session(
        self, host: HostSpec, host_dir: Path, process: asyncssh.SSHServerProcess
    ) -> None:
        if process.subsystem is not None:
            process.stderr.write(
                f"subsystem {process.subsystem} is not served\n".encode()
            )
            process.exit(1)
            return

        argv = ["bash"] if process.command is None else ["bash", "-c", process.command]
        try:
            command = await self._spawn(argv, host, host_dir, process.env)
        except OSError as exc:
            logger.warning("host %s: cannot start bash: %s", host.name, exc)
            process.stderr.write(f"cannot start bash: {exc}\n".encode())
            process.exit(127)
            return

        try:
            await _serve_command(process, command, host.name)
        finally:
            self._commands.discard(command.pid)

    async def _spawn(
        self, argv: list[str], host: HostSpec, host_dir: Path, client_env: Any
    ) -> asyncio.subprocess.Process:
        env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
        env.update(client_env)
        env.update(
            HOME=str(host_dir),
            PWD=str(host_dir),
            SHELL="/bin/bash",
            **{MARKER_ENV: str(self.state_dir)},
        )

        self._spawning += 1
        try:
            command = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=host_dir,
                env=env,
                start_new_session=True,
            )
        finally:
            self._spawning -= 1
        self._commands.add(command.pid)
        return command

    async def _reap_orphans(self) -> None:
        """Collect exited orphans, never a command asyncio itself waits for."""
        me = os.getpid()
        while True:
            await asyncio.sleep(ORPHAN_REAP_INTERVAL)
            if self._spawning:
                continue
            for pid in zombie_children(me) - self._commands:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)


async def _serve_command(
    process: asyncssh.SSHServerProcess, command: asyncio.subprocess.Process, host: str
) -> None:
    """Pump stdio both ways; report the exit, or stop the command if the client
    leaves first."""
    feed = asyncio.create_task(_feed_stdin(process.stdin, command.stdin))
    finished = asyncio.create_task(_drain_outputs(process, command))
    closed = asyncio.create_task(process.channel.wait_closed())
    try:
        await asyncio.wait({finished, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        feed.cancel()

    if closed.done():
        await _stop_command(command)
        finished.cancel()
        logger.info("host %s: client left; stopped command %d", host, command.pid)
        return
    closed.cancel()

    # exit-status is sent at once, ahead of output still buffered in the
    # channel; a zero high-water mark makes drain wait until all of it left.
    process.channel.set_write_buffer_limits(0, 0)
    try:
        await process.stdout.drain()
        process.stdout.write_eof()
    except (OSError, asyncssh.Error):
        return
    _report_exit(process, command.returncode or 0)


def _report_exit(process: asyncssh.SSHServerProcess, returncode: int) -> None:
    """A normal exit as exit-status, a death by signal as exit-signal."""
    if returncode >= 0:
        process.exit(returncode)
        return
    try:
        name = signal.Signals(-returncode).name.removeprefix("SIG")
    except ValueError:  # a real-time signal has no name SSH could carry
        process.exit(128 - returncode)
        return
    process.exit_with_signal(name)


async def _feed_stdin(source: asyncssh.SSHReader, sink: asyncio.StreamWriter | None):
    assert sink is not None
    try:
        while chunk := await source.read(READ_CHUNK):
            sink.write(chunk)
            await sink.drain()
    except (OSError, asyncssh.Error):
        pass  # the command closed its stdin, or the client went away
    finally:
        sink.close()


async def _drain_outputs(
    process: asyncssh.SSHServerProcess, command: asyncio.subprocess.Process
) -> None:
    """Copy stdout and stderr to the channel until both end; wait for the exit.

    Like OpenSSH, the session lasts until the outputs close, so a background
    job that keeps them open keeps the session open.
    """
    assert command.stdout is not None and command.stderr is not None
    await asyncio.gather(
        _pump_output(command.stdout, process.stdout),
        _pump_output(command.stderr, process.stderr),
    )
    await command.wait()


async def _pump_output(source: asyncio.StreamReader, sink: asyncssh.SSHWriter) -> None:
    sink_open = True
    while chunk := await source.read(READ_CHUNK):
        if not sink_open:
            continue  # keep reading so the command never blocks on a full pipe
        try:
            sink.write(chunk)
            await sink.drain()
        except (OSError, asyncssh.Error):
            sink_open = False


async def _stop_command(command: asyncio.subprocess.Process) -> None:
    """SIGTERM the command's process group, SIGKILL it after the grace."""
    _signal_group(command.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(command.wait(), PROCESS_STOP_GRACE)
    # Also for members that outlived bash; a detached job is in its own group.
    _signal_group(command.pid, signal.SIGKILL)
    await command.wait()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _become_subreaper() -> None:
    """Keep double-forked descendants in this daemon's tree, so `stop` finds
    them even when they cleared the environment marker."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    except (OSError, AttributeError) as exc:
        # Limitation: without a subreaper, detached processes are found by
        # their environment marker only — matters on non-Linux systems.
        logger.warning("not a child subreaper (%s); tracking by environment", exc)


def _write_atomically(path: Path, text: str) -> None:
    partial_path = path.with_name(f".{path.name}.partial")
    partial_path.write_text(text)
    os.replace(partial_path, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m {__spec__.name} <state dir>", file=sys.stderr)
        return 2
    state_dir = Path(args[0]).resolve()

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s local-hosts[%(process)d]: %(message)s",
    )
    # asyncssh logs every connection and channel at INFO; 64 hosts drown the log.
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    logger.info("local hosts daemon %d for %s", os.getpid(), state_dir)

    try:
        spec = StackSpec.model_validate_json((state_dir / SPEC_FILE).read_text())
    except (OSError, ValueError) as exc:
        logger.error("cannot read the spec in %s: %s", state_dir, exc)
        return 1
    key_path = state_dir / AUTHORIZED_KEY_FILE
    try:
        client_key = asyncssh.import_public_key(key_path.read_text())
    except (OSError, ValueError, asyncssh.KeyImportError) as exc:
        logger.error("cannot read the run key %s: %s", key_path, exc)
        return 1
    if seconds_until(spec.expires_at) <= 0:
        logger.error("stack %s already expired; not starting", spec.stack_name)
        return 1
    _become_subreaper()

    asyncio.run(LocalHostsDaemon(state_dir, spec, client_key).serve())
    logger.info("local hosts daemon %d exits", os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
