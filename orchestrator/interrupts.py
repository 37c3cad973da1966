"""Ctrl-C, SIGTERM and SIGHUP during a run: stop the benchmarks, still tear down.

The first signal sets `stop`: the runner kills running benchmarks, keeps what
was harvested, and the run goes on to teardown. A Ctrl-C during teardown
does not abandon it by accident: it warns, and only a second Ctrl-C within
`ABANDON_WINDOW_SECONDS` abandons teardown (the message names the command
that finishes it later).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType, TracebackType

log = logging.getLogger(__name__)

# Long enough to read the warning, short enough that an old Ctrl-C from
# minutes ago never counts as the confirmation.
ABANDON_WINDOW_SECONDS = 5.0
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class TeardownAbandoned(KeyboardInterrupt):
    """The user pressed Ctrl-C twice during teardown."""


class InterruptGuard:
    """Installs the handlers for the life of a run (main thread only)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.signal_name: str | None = None
        self._tearing_down = False
        self._warned_at: float | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    @property
    def interrupted(self) -> bool:
        return self.stop.is_set()

    def tearing_down(self) -> None:
        """From here on, a Ctrl-C asks before abandoning teardown."""
        self._tearing_down = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.stop.is_set():
            self.signal_name = name
            self.stop.set()
            log.warning(
                "%s: stopping benchmarks, keeping what was harvested, then tearing "
                "down",
                name,
            )
            return
        if not self._tearing_down or signum != signal.SIGINT:
            return
        now = time.monotonic()
        if (
            self._warned_at is not None
            and now - self._warned_at <= ABANDON_WINDOW_SECONDS
        ):
            raise TeardownAbandoned()
        self._warned_at = now
        log.warning(
            "teardown is in progress; press Ctrl-C again within %.0f s to abandon it "
            "(what was created would keep running)",
            ABANDON_WINDOW_SECONDS,
        )
