"""The Pulumi CLI behind its wrapper: Ctrl-C reaches it once, as a clean cancel.

The stand-in for the CLI is a real process: it counts the SIGINTs it gets,
and like `pulumi up` it takes a moment to wind down after the first one.
The wrapper is started the way the Automation API starts `pulumi`: as a
child in the orchestrator's process group, here a session of the test's own
that stands for the terminal's foreground group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fmbench_orch.orchestrator.provisioners.engine_session import install

# The stand-in's wind-down after a cancel, and how long the test waits for it.
WIND_DOWN_S = 0.5
READY_DEADLINE_S = 30.0

FAKE_CLI = """\
import signal, sys, time
seen = []
def cancel(signum, frame):
    seen.append(signum)
    open(sys.argv[1], "a").write("SIGINT\\n")
signal.signal(signal.SIGINT, cancel)
open(sys.argv[2], "w").write("ready")
while not seen:
    time.sleep(0.01)
time.sleep({wind_down})  # finishing what is in flight; more Ctrl-Cs may come
sys.exit(255)
"""


def start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    cli = tmp_path / "real-pulumi"
    cli.write_text(f"#!{sys.executable}\n" + FAKE_CLI.format(wind_down=WIND_DOWN_S))
    cli.chmod(0o755)
    root = install(tmp_path / "cli", str(cli))
    received, ready = tmp_path / "received", tmp_path / "ready"
    wrapper = subprocess.Popen(
        [str(root / "bin" / "pulumi"), str(received), str(ready)],
        start_new_session=True,
    )
    deadline = time.monotonic() + READY_DEADLINE_S
    while not ready.exists():
        assert time.monotonic() < deadline, "the stand-in CLI never started"
        time.sleep(0.01)
    return wrapper, received


def test_three_ctrl_cs_at_the_terminal_reach_the_cli_as_one_clean_cancel(tmp_path):
    wrapper, received = start(tmp_path)

    for _ in range(3):
        os.killpg(wrapper.pid, signal.SIGINT)  # the terminal's whole group
        time.sleep(0.05)
    status = wrapper.wait(timeout=30)

    assert received.read_text() == "SIGINT\n"
    assert status == 255  # the CLI's own status comes back to the caller


def test_a_hang_up_is_passed_on_as_the_same_clean_cancel(tmp_path):
    wrapper, received = start(tmp_path)

    os.killpg(wrapper.pid, signal.SIGHUP)
    status = wrapper.wait(timeout=30)

    assert received.read_text() == "SIGINT\n"
    assert status == 255


def test_the_wrapper_passes_arguments_and_exit_status_through(tmp_path):
    cli = tmp_path / "real-pulumi"
    cli.write_text('#!/bin/sh\necho "$@"\nexit 7\n')
    cli.chmod(0o755)
    root = install(tmp_path / "cli", str(cli))

    done = subprocess.run(
        [str(root / "bin" / "pulumi"), "version", "--json", "a b"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert (done.returncode, done.stdout) == (7, "version --json a b\n")
