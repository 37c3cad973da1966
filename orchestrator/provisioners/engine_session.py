"""The Pulumi CLI in a session of its own, so a Ctrl-C can only stop it cleanly.

Run from a terminal, the `pulumi` child the Automation API starts shares
the orchestrator's process group, and every Ctrl-C reaches it: the first
makes it cancel (finish what is in flight, release the stack's lock), a
second kills it mid-update, holding the lock and leaving pending creates.
The Automation API runs `<root>/bin/pulumi` when given a root; `install`
puts there a wrapper that starts the real CLI in a new session and stays
in the orchestrator's group itself. The wrapper passes the first SIGINT or
SIGHUP it receives on to the CLI as one SIGINT — the clean cancel — and
absorbs the rest; SIGTERM, which only the orchestrator receives, never
reaches the CLI, so an update finishes before teardown.

    python -m fmbench_orch.orchestrator.provisioners.engine_session REAL ARGS…
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

# Signals a terminal sends to its whole foreground group.
TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGHUP)


def install(root: Path, real_cli: str) -> Path:
    """Write `<root>/bin/pulumi`, the wrapper around `real_cli`; return `root`."""
    wrapper = root / "bin" / "pulumi"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    command = shlex.join([sys.executable, "-m", __name__, real_cli])
    wrapper.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
    wrapper.chmod(0o755)
    return root


def run(argv: list[str]) -> int:
    """Start `argv` in a new session; pass on one terminal signal; its status."""
    child = subprocess.Popen(argv, start_new_session=True)
    passed_on = False

    def pass_on_once(signum: int, frame: FrameType | None) -> None:
        nonlocal passed_on
        if passed_on:
            return
        passed_on = True
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(child.pid, signal.SIGINT)

    for signum in TERMINAL_SIGNALS:
        signal.signal(signum, pass_on_once)
    status = child.wait()  # PEP 475: signal handlers do not interrupt it
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
