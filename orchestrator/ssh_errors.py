"""What can go wrong on a host over SSH, as types the runner branches on.

Every error carries the host, the phase and the cause, and its message ends
with the next step. Connect errors are classified in one table below; nothing
else in the runner looks at exception text.
"""

from __future__ import annotations

from paramiko import (
    AuthenticationException,
    BadHostKeyException,
    PasswordRequiredException,
    SSHException,
)


class StopRequested(Exception):
    """The operator asked the run to stop (Ctrl-C) while this host waited."""


class RemoteError(Exception):
    """A step on one host failed; `host`, `phase` and `cause` say which and why."""

    def __init__(self, host: str, phase: str, cause: str, next_step: str) -> None:
        self.host = host
        self.phase = phase
        self.cause = cause
        self.next_step = next_step
        super().__init__(f"{host}: {phase} failed: {cause}. {next_step}")


class ConnectFailed(RemoteError):
    """The host never accepted an SSH session before the deadline."""


class HostKeyRejected(ConnectFailed):
    """The host's key is not the one we were told to expect (never retried)."""


class ConnectionLost(RemoteError):
    """An established connection dropped; reconnecting may help."""


class CommandTimedOut(RemoteError):
    """A remote command did not finish before its deadline."""


class UnknownHostKey(SSHException):
    """Raised instead of trusting a key that no known_hosts entry vouches for."""

    def __init__(self, name: str, key_type: str) -> None:
        self.name = name
        self.key_type = key_type
        super().__init__(f"no known_hosts entry for {name} ({key_type})")


KEY_CHANGED_NEXT_STEP = (
    "Check that the address still belongs to this host; if it was rebuilt, "
    "give its new key as host_key (or refresh known_hosts with ssh-keyscan "
    "after checking the fingerprint)"
)


# A template: `{address}` and `{port}` are filled in for the host at hand.
UNKNOWN_KEY_NEXT_STEP = (
    "Add host_key to this static host in the campaign, or run "
    "`ssh-keyscan -p {port} {address} >> ~/.ssh/known_hosts` "
    "and check the fingerprint"
)


# (error type, retry?, cause, next-step template, raised as). Subclasses come before the
# classes they extend. Banner errors, refused connections and refused keys are
# normal while a host boots (sshd up before cloud-init installs the key).
_CONNECT_ERRORS: tuple[tuple[type[BaseException], bool, str, str, type], ...] = (
    (
        BadHostKeyException,
        False,
        "the host presented an unexpected key",
        KEY_CHANGED_NEXT_STEP,
        HostKeyRejected,
    ),
    (
        UnknownHostKey,
        False,
        "the host key is not known",
        UNKNOWN_KEY_NEXT_STEP,
        HostKeyRejected,
    ),
    (
        PasswordRequiredException,
        False,
        "the private key is encrypted",
        "Use an unencrypted key file for this host",
        ConnectFailed,
    ),
    (AuthenticationException, True, "authentication refused", "", ConnectFailed),
    (SSHException, True, "the SSH handshake failed", "", ConnectFailed),
    (EOFError, True, "the connection closed during the handshake", "", ConnectFailed),
    (OSError, True, "the network refused or timed out", "", ConnectFailed),
)


def classify_connect_error(
    exc: BaseException, address: str, port: int
) -> tuple[bool, str, str, type[ConnectFailed]]:
    """(retry?, cause, next step, error type) for an error raised while connecting."""
    for kind, retry, cause, next_step, raised_as in _CONNECT_ERRORS:
        if isinstance(exc, kind):
            return retry, cause, next_step.format(address=address, port=port), raised_as
    return (
        False,
        f"unexpected {type(exc).__name__}",
        "Report this as a bug",
        ConnectFailed,
    )
