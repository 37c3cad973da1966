"""The second line of defence: known secret values never reach a log record.

Secrets are never logged on purpose; this catches the accident — a secret in
an exception message, in a command's output, in a library's debug line.
`remember(value)` adds a value (the secret uploader calls it as it reads
one); `install()` makes every log record created from then on carry
`[redacted]` in its place, whichever handler receives it (the CLI's, a log
file, pytest's capture). What comes back from a host — a benchmark's live
log, harvested files — goes through `StreamMask`, which overwrites the same
values byte for byte, so sizes, offsets and the hosts' listings still agree.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

REDACTED = "[redacted]"
# Shorter values are not redacted: replacing "1" or "yes" everywhere would
# garble every log, and no real token or key is this short.
MIN_SECRET_LENGTH = 8

_known: set[str] = set()
_lock = threading.Lock()
_installed = False


def remember(value: str) -> None:
    """Redact `value` (and each of its lines) from every later log record."""
    candidates = {value.strip(), *(line.strip() for line in value.splitlines())}
    with _lock:
        _known.update(c for c in candidates if len(c) >= MIN_SECRET_LENGTH)


def redact(text: str) -> str:
    """`text` with every known secret replaced; longest first, so none shows."""
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    """A filter for a single handler; `install()` covers every handler at once."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub(record)
        return True


# Limitation: a handler that renders tracebacks from `exc_info` itself (rich's
# RichHandler with rich_tracebacks=True) bypasses the redacted `exc_text` —
# matters only if the CLI switches to such a handler.
def scrub(record: logging.LogRecord) -> None:
    """Redact the record's message, exception and stack text in place."""
    if not _known:
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: logging reports it when formatting
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redact(text)
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install() -> None:
    """Scrub every log record as it is created (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub(record)
        return record

    logging.setLogRecordFactory(redacting_factory)


class StreamMask:
    """Overwrites known secrets with `*` in a byte stream that arrives in pieces.

    A secret split across two pieces is still caught: the last bytes of each
    piece are held back until the next one (or `flush`). With no secret
    known, pieces pass through untouched.
    """

    def __init__(self) -> None:
        with _lock:
            found = {value.encode() for value in _known}
        self._secrets = sorted(found, key=len, reverse=True)
        self._keep = max((len(value) for value in self._secrets), default=1) - 1
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        """The masked bytes that can be written now."""
        if not self._secrets:
            return data
        data = self._mask(self._held + data)
        cut = max(len(data) - self._keep, 0)
        self._held = data[cut:]
        return data[:cut]

    def flush(self) -> bytes:
        """What was held back, at the end of the stream."""
        held, self._held = self._held, b""
        return held

    def _mask(self, data: bytes) -> bytes:
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, b"*" * len(secret))
        return data
