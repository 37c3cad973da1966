"""SSH mechanics on one host: connect with backoff, verify its key, run commands.

A `RemoteHost` wraps one Fabric `Connection`. It never reads `~/.ssh/config`
and never accepts an unknown host key: the key comes from the provisioner
(the run's own known_hosts file) or, for a static host without one, from the
user's `~/.ssh/known_hosts`.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fabric import Config, Connection
from paramiko import (
    Channel,
    ChannelException,
    PKey,
    RejectPolicy,
    SFTPClient,
    SSHConfig,
    SSHException,
    Transport,
)

from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.ssh_errors import (
    UNKNOWN_KEY_NEXT_STEP,
    CommandTimedOut,
    ConnectFailed,
    ConnectionLost,
    HostKeyRejected,
    RemoteError,
    StopRequested,
    UnknownHostKey,
    classify_connect_error,
)

log = logging.getLogger(__name__)

# Cold EC2 GPU hosts take 1–5 min to boot and start sshd; 15 min covers slow AMIs.
CONNECT_DEADLINE_S = 900.0
# A host that was up and then dropped comes back sooner than a cold boot.
RECONNECT_DEADLINE_S = 300.0
# sshd usually answers within seconds of the port opening: start retrying fast.
BACKOFF_FIRST_S = 1.0
# Caps the wait between tries so a ready host is noticed within 15 s.
BACKOFF_MAX_S = 15.0
# ±20 % so that 64 hosts booted together do not dial in lockstep.
BACKOFF_JITTER = 0.2
# An unanswered SYN for 10 s means a filtered or still-booting host: try again.
TCP_CONNECT_TIMEOUT_S = 10
# sshd under boot load can be slow to send its banner or answer auth.
BANNER_TIMEOUT_S = 30.0
AUTH_TIMEOUT_S = 30.0
# Keeps NAT and firewall state alive while a benchmark prints nothing for long.
KEEPALIVE_S = 30
# sshd answers a session request at once unless the connection is gone.
CHANNEL_OPEN_TIMEOUT_S = 30.0
# The runner's own short commands (mkdir, probe, cat) finish in milliseconds.
COMMAND_TIMEOUT_S = 120.0
# How often a blocked read looks at its deadline and at the stop event.
READ_TICK_S = 0.5
# A channel closed without an exit status: time for the transport to say if it died.
LOST_CONFIRM_S = 1.0
# Where a static host's key is looked up when the campaign gives none.
USER_KNOWN_HOSTS = Path("~/.ssh/known_hosts")

READ_CHUNK = 64 * 1024


class _RejectUnknownKey(RejectPolicy):
    def missing_host_key(self, client, hostname, key) -> None:
        raise UnknownHostKey(hostname, key.get_name())


@dataclass(frozen=True)
class CommandResult:
    exit_status: int | None
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


def _fabric_config() -> Config:
    # An explicit empty SSHConfig and lazy=True: no ~/.ssh/config, no fabric.yml.
    return Config(
        ssh_config=SSHConfig(), lazy=True, overrides={"load_ssh_configs": False}
    )


class RemoteHost:
    """One SSH connection to one host, reopened on demand."""

    def __init__(self, host: Host, known_hosts: Path | None) -> None:
        self.host = host
        self.known_hosts = known_hosts
        self._connection: Connection | None = None

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def transport(self) -> Transport | None:
        return None if self._connection is None else self._connection.transport

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and self._connection.is_connected

    def connect(
        self,
        deadline_s: float = CONNECT_DEADLINE_S,
        stop: threading.Event | None = None,
    ) -> int:
        """Connect, retrying with backoff until `deadline_s`; return the attempts.

        Raises `HostKeyRejected` at once for a wrong or unknown key, and
        `ConnectFailed` when the deadline passes; `stop` ends the wait early.
        """
        self._check_prerequisites()
        give_up = time.monotonic() + deadline_s
        delay = BACKOFF_FIRST_S
        for attempt in itertools.count(1):
            try:
                self._open_once()
                return attempt
            except Exception as exc:
                remaining = give_up - time.monotonic()
                self._raise_unless_retryable(exc, attempt, remaining, deadline_s)
                wait = delay * random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
                if (stop or threading.Event()).wait(min(wait, remaining)):
                    raise StopRequested(self.name) from exc
                delay = min(delay * 2, BACKOFF_MAX_S)
        raise AssertionError("unreachable")

    def _raise_unless_retryable(
        self, exc: Exception, attempt: int, remaining: float, deadline_s: float
    ) -> None:
        address, port = self.host.address, self.host.port
        retry, cause, next_step, error = classify_connect_error(exc, address, port)
        if not retry:
            log.warning("%s: connect refused: %s (%s)", self.name, cause, exc)
            raise error(self.name, "connect", f"{cause}: {exc}", next_step) from exc
        if remaining <= 0:
            log.warning(
                "%s: no SSH session after %d attempts in %.0f s: %s (%s)",
                *(self.name, attempt, deadline_s, cause, exc),
            )
            raise ConnectFailed(
                self.name,
                "connect",
                f"{cause} ({exc}); {attempt} attempts in {deadline_s:.0f} s",
                f"Check that the host is running and that {address}:{port} "
                "is reachable from here",
            ) from exc
        level = logging.WARNING if attempt == 1 else logging.DEBUG
        log.log(
            level,
            "%s: SSH not ready (%s: %s); retrying for up to %.0f s",
            *(self.name, cause, exc, remaining),
        )

    def _check_prerequisites(self) -> None:
        """Fail at once on what no retry can fix: the key file, no way to verify."""
        try:
            PKey.from_path(self.host.key_file.expanduser())
        except (OSError, SSHException, ValueError) as exc:
            raise ConnectFailed(
                self.name,
                "connect",
                f"cannot read the private key {self.host.key_file}: {exc}",
                "Point key_file at an unencrypted OpenSSH private key",
            ) from exc
        if self.host.host_key is not None:
            return
        if not USER_KNOWN_HOSTS.expanduser().is_file():
            raise HostKeyRejected(
                self.name,
                "connect",
                f"no host_key was given and {USER_KNOWN_HOSTS} does not exist",
                UNKNOWN_KEY_NEXT_STEP.format(
                    address=self.host.address, port=self.host.port
                ),
            )

    def _open_once(self) -> None:
        self.close()
        connection = Connection(
            host=self.host.address,
            user=self.host.user,
            port=self.host.port,
            config=_fabric_config(),
            connect_timeout=TCP_CONNECT_TIMEOUT_S,
            connect_kwargs={
                "key_filename": str(self.host.key_file),
                "look_for_keys": False,
                "allow_agent": False,
                "banner_timeout": BANNER_TIMEOUT_S,
                "auth_timeout": AUTH_TIMEOUT_S,
                "channel_timeout": CHANNEL_OPEN_TIMEOUT_S,
            },
        )
        client = connection.client
        client.set_missing_host_key_policy(_RejectUnknownKey())
        if self.known_hosts is not None and self.known_hosts.is_file():
            client.load_host_keys(str(self.known_hosts))
        if self.host.host_key is None:
            client.load_system_host_keys(str(USER_KNOWN_HOSTS.expanduser()))
        try:
            connection.open()
        except BaseException:
            connection.close()
            raise
        connection.transport.set_keepalive(KEEPALIVE_S)
        self._connection = connection

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.close()
            except (SSHException, OSError, EOFError) as exc:
                log.debug("%s: error while closing: %s", self.name, exc)

    def sftp(self, phase: str) -> SFTPClient:
        """The connection's SFTP session (opened once, closed with the connection)."""
        connection = self._live(phase)
        try:
            return connection.sftp()
        except (SSHException, OSError, EOFError) as exc:
            raise self._lost(phase, exc) from exc

    def open_command(
        self, command: str, *, phase: str, combine_stderr: bool
    ) -> Channel:
        """Start `command` on a new channel; the caller reads and closes it."""
        connection = self._live(phase)
        try:
            channel = connection.transport.open_session(timeout=CHANNEL_OPEN_TIMEOUT_S)
        except ChannelException as exc:
            raise RemoteError(
                self.name,
                phase,
                f"the server refused a session: {exc}",
                "Check MaxSessions in the host's sshd_config",
            ) from exc
        except (SSHException, OSError, EOFError) as exc:
            raise self._lost(phase, exc) from exc
        channel.set_combine_stderr(combine_stderr)
        channel.settimeout(READ_TICK_S)
        try:
            channel.exec_command(command)
        except (SSHException, OSError, EOFError) as exc:
            channel.close()
            raise self._lost(phase, exc) from exc
        return channel

    def exec(
        self,
        command: str,
        *,
        phase: str,
        timeout: float = COMMAND_TIMEOUT_S,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run a short command; return its exit status and combined output.

        For the runner's own quick steps; anything long runs as a detached job.
        """
        # Limitation: a command past its deadline is abandoned, not killed (no
        # pty, so closing the channel does not signal it) — matters only if one
        # of the runner's short commands hangs on the host (e.g. a stuck mount).
        channel = self.open_command(command, phase=phase, combine_stderr=True)
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        try:
            if stdin:
                self.send(channel, stdin, phase=phase, deadline=deadline)
            channel.shutdown_write()
            self.read_until_eof(channel, chunks.append, phase=phase, deadline=deadline)
            status = self.exit_status(channel, phase=phase)
        finally:
            channel.close()
        return CommandResult(status, b"".join(chunks).decode(errors="replace"))

    def send(
        self, channel: Channel, data: bytes, *, phase: str, deadline: float
    ) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = channel.send(view[:READ_CHUNK])
            except TimeoutError:
                self._check_deadline(phase, deadline)
                continue
            except (SSHException, OSError, EOFError) as exc:
                raise self._lost(phase, exc) from exc
            if sent == 0:
                raise self._lost(phase, EOFError("channel closed while sending"))
            view = view[sent:]

    def read_until_eof(
        self,
        channel: Channel,
        sink: Callable[[bytes], None],
        *,
        phase: str,
        deadline: float,
        stop: threading.Event | None = None,
    ) -> None:
        """Feed the channel's stdout to `sink` until EOF, the deadline or `stop`."""
        while True:
            try:
                data = channel.recv(READ_CHUNK)
            except TimeoutError:
                self._check_deadline(phase, deadline)
                if stop is not None and stop.is_set():
                    raise StopRequested(self.name) from None
                continue
            except (SSHException, OSError, EOFError) as exc:
                raise self._lost(phase, exc) from exc
            if not data:
                return
            sink(data)

    def exit_status(self, channel: Channel, *, phase: str) -> int | None:
        """The exit status after EOF; None when a signal ended the command.

        Raises `ConnectionLost` when the channel closed because the connection did.
        """
        channel.status_event.wait(LOST_CONFIRM_S)
        if channel.exit_status_ready() and channel.exit_status != -1:
            return channel.exit_status
        transport = channel.get_transport()
        if transport is not None and transport.is_alive():
            transport.join(LOST_CONFIRM_S)
        if transport is None or not transport.is_active():
            raise self._lost(phase, EOFError("the connection closed"))
        return None

    def responds(self) -> bool:
        """Whether the connection still carries traffic (a bounded channel open)."""
        transport = self.transport
        if transport is None or not transport.is_active():
            return False
        try:
            transport.open_session(timeout=CHANNEL_OPEN_TIMEOUT_S).close()
        except (SSHException, OSError, EOFError):
            return False
        return True

    def _live(self, phase: str) -> Connection:
        if self._connection is None or not self._connection.is_connected:
            raise self._lost(phase, EOFError("not connected"))
        return self._connection

    def _check_deadline(self, phase: str, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise CommandTimedOut(
                self.name,
                phase,
                "the remote command did not finish in time",
                "Check the host's load and disk; the run retries on resume",
            )

    def _lost(self, phase: str, exc: BaseException) -> ConnectionLost:
        return ConnectionLost(
            self.name,
            phase,
            f"the SSH connection dropped ({exc})",
            "The runner reconnects; if this repeats, check the host's network",
        )
