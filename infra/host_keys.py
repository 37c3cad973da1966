"""A new EC2 host's SSH host keys, read from its console output — never trusted blindly.

cloud-init prints the host's public keys to the serial console at first
boot, between `-----BEGIN SSH HOST KEY KEYS-----` and the matching END line.
The console output reaches us through the EC2 API (signed and over TLS), so
the keys found there can be pinned before the first SSH connection.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import struct
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

BEGIN_MARKER = "-----BEGIN SSH HOST KEY KEYS-----"
END_MARKER = "-----END SSH HOST KEY KEYS-----"
# Strongest first: the runner pins the first key it can use.
KEY_TYPE_ORDER = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp256",
    "ssh-rsa",
)
# cloud-init prints the block a minute or two after boot, and EC2 refreshes
# console output only every few seconds; polling faster buys nothing.
CONSOLE_POLL_INTERVAL_SECONDS = 10.0
# Right after RunInstances the id may not be visible to every endpoint yet.
_RETRYABLE_ERRORS = frozenset(
    {"InvalidInstanceID.NotFound", "RequestLimitExceeded", "Throttling"}
)
_KEY_LINE = re.compile(
    r"(?P<type>" + "|".join(re.escape(t) for t in KEY_TYPE_ORDER) + r")"
    r"\s+(?P<blob>[A-Za-z0-9+/]+={0,2})"
)


class HostKeysUnavailable(Exception):
    """The console output never showed the host-key block before the deadline."""

    def __init__(self, instance_id: str, waited_seconds: float, cause: str) -> None:
        self.instance_id = instance_id
        self.waited_seconds = waited_seconds
        self.cause = cause
        super().__init__(
            f"instance {instance_id}: no SSH host keys in its console output after "
            f"{waited_seconds:.0f} s ({cause}); check that the AMI runs cloud-init "
            "and look at the console in the EC2 console, or give the host key in "
            "the campaign"
        )


def parse_console_host_keys(console_text: str) -> list[str]:
    """The OpenSSH key lines (`type base64`) of the last host-key block, best first.

    Lines may carry console prefixes (timestamps, `ec2:`); comments are dropped.
    A line whose blob does not decode to its stated key type (a truncated or
    interleaved console line) is skipped. Returns [] when no complete block
    is present.
    """
    end = console_text.rfind(END_MARKER)
    begin = console_text.rfind(BEGIN_MARKER, 0, end) if end >= 0 else -1
    if begin < 0:
        return []
    block = console_text[begin + len(BEGIN_MARKER) : end]

    keys: dict[str, str] = {}
    for match in _KEY_LINE.finditer(block):
        key_type, blob = match.group("type"), match.group("blob")
        if key_type not in keys and _blob_names(blob) == key_type:
            keys[key_type] = f"{key_type} {blob}"
    return [keys[t] for t in KEY_TYPE_ORDER if t in keys]


def wait_for_host_keys(
    ec2_client: Any,
    instance_id: str,
    deadline: float,
    *,
    interval: float = CONSOLE_POLL_INTERVAL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Poll the console output until the host-key block appears; return its keys.

    `ec2_client` is a boto3 EC2 client in the instance's region; `deadline` is
    a `time.monotonic()` value. Raises HostKeysUnavailable at the deadline,
    and lets any error other than a not-yet-visible instance or throttling
    propagate at once.
    """
    from botocore.exceptions import ClientError

    started = time.monotonic()
    cause = "the console output was empty"
    while True:
        try:
            reply = ec2_client.get_console_output(InstanceId=instance_id, Latest=True)
            text = reply.get("Output") or ""
            keys = parse_console_host_keys(text)
            if keys:
                logger.debug(
                    "instance %s: %d host key(s) found", instance_id, len(keys)
                )
                return keys
            if text:
                cause = "the console output has no complete host-key block yet"
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code not in _RETRYABLE_ERRORS:
                raise
            cause = f"EC2 answered {code}"
            logger.debug(
                "instance %s: console output not ready (%s)", instance_id, code
            )

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            waited = time.monotonic() - started
            logger.warning(
                "instance %s: no host keys after %.0f s", instance_id, waited
            )
            raise HostKeysUnavailable(instance_id, waited, cause)
        sleep(min(interval, remaining))


def _blob_names(blob: str) -> str | None:
    """The key type inside an OpenSSH public key blob, or None if malformed.

    A blob is a run of length-prefixed fields (type, then the key's own); one
    cut short on the console does not consume its bytes exactly.
    """
    try:
        raw = base64.b64decode(blob, validate=True)
    except binascii.Error:
        return None
    fields, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            return None
        (length,) = struct.unpack(">I", raw[offset : offset + 4])
        offset += 4 + length
        if offset > len(raw):
            return None
        fields.append(raw[offset - length : offset])
    if len(fields) < 2:
        return None
    try:
        return fields[0].decode("ascii")
    except UnicodeDecodeError:
        return None
