"""Signals at every phase of `fmbench-orch run`: the hosts always go, results stay.

Ctrl-C and a hang-up reach the whole foreground process group, as a terminal
sends them; SIGTERM reaches the orchestrator alone, as `kill` or a CI runner
sends it. Each test waits until the run is in the phase it names, signals,
and then checks what a user would: exit 130, teardown complete, every
benchmark that had finished kept with its artifacts, and no host, process,
listening port or live-run entry left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from run_leftovers import (
    last_json_line,
    listening_ports_of,
    processes_under,
    write_campaign,
)

from fmbench_orch.orchestrator.provisioners.local import state_dir_of
from fmbench_orch.orchestrator.provisioners.local_processes import marked_processes

CLI = [sys.executable, "-m", "fmbench_orch.orchestrator"]
# How long a phase may take to begin on a loaded machine.
PHASE_DEADLINE_S = 90.0
# Polls fast: the provisioning window of local hosts is a few tenths of a second.
POLL_S = 0.01
# The result the harvest is caught copying: big enough to take a while.
BIG_RESULT_MIB = 200
CAMPAIGN = f"""
name: signalled
provider: local
hosts:
  - name: worker
    instance_type: g5.xlarge
    benchmarks:
      - name: big
        driver: command
        run: mkdir results && head -c {BIG_RESULT_MIB}M /dev/urandom >results/big.bin
      - {{name: long, driver: command, run: "sleep 600"}}
  - name: sleeper
    instance_type: g4dn.xlarge
    benchmarks:
      - {{name: nap, driver: command, run: "sleep 600"}}
"""


def events_of(tmp_path: Path) -> list[dict]:
    found = list((tmp_path / "runs" / "signalled").glob("*/events.jsonl"))
    if not found:
        return []
    return [json.loads(line) for line in found[0].read_text().splitlines() if line]


def has_event(tmp_path: Path, benchmark: str | None, phase: str) -> bool:
    return any(
        e["benchmark"] == benchmark and e["phase"] == phase for e in events_of(tmp_path)
    )


def provisioning(tmp_path: Path, home: Path) -> bool:
    """The run is listed as live (just before `up`) and `up` has not returned."""
    listed = any((home / "live").glob("signalled-*.json"))
    return listed and not has_event(tmp_path, None, "provision")


def running(tmp_path: Path, home: Path) -> bool:
    return has_event(tmp_path, "nap", "start") and has_event(tmp_path, "long", "start")


def harvesting(tmp_path: Path, home: Path) -> bool:
    """`big` has ended and its harvest has not finished."""
    return has_event(tmp_path, "big", "exit") and not has_event(
        tmp_path, "big", "harvest"
    )


PHASES: dict[str, Callable[[Path, Path], bool]] = {
    "provision": provisioning,
    "run": running,
    "harvest": harvesting,
}


def send(child: subprocess.Popen, signum: int) -> None:
    if signum == signal.SIGTERM:
        child.send_signal(signum)
    else:
        os.killpg(child.pid, signum)


@pytest.mark.parametrize(
    ("signum", "phase"),
    [
        (signal.SIGINT, "provision"),
        (signal.SIGTERM, "provision"),
        (signal.SIGTERM, "run"),
        (signal.SIGHUP, "run"),
        (signal.SIGINT, "harvest"),
        (signal.SIGTERM, "harvest"),
    ],
    ids=lambda value: getattr(value, "name", value),
)
def test_a_signal_in_any_phase_tears_down_and_keeps_what_finished(
    tmp_path: Path, own_state_home: Path, signum: int, phase: str
):
    campaign = write_campaign(tmp_path, CAMPAIGN)
    child = subprocess.Popen(
        [*CLI, "run", str(campaign), "--json", "--runs-dir", "runs"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    in_phase = PHASES[phase]
    deadline = time.monotonic() + PHASE_DEADLINE_S
    while not in_phase(tmp_path, own_state_home):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, f"the run never reached {phase}"
        time.sleep(POLL_S)

    send(child, signum)
    stdout, stderr = child.communicate(timeout=120)

    assert child.returncode == 130, stderr
    summary = last_json_line(stdout)
    assert (summary["status"], summary["teardown"]) == ("interrupted", "complete")
    statuses = {r["benchmark"]: r["status"] for r in summary["results"]}
    assert statuses["nap"] != "success" and statuses["long"] != "success"
    run_dir = Path(summary["run_dir"])
    big = run_dir / "artifacts" / "worker" / "big" / "work" / "results" / "big.bin"
    if phase == "provision":
        assert statuses["big"] != "success"
        assert not has_event(tmp_path, "big", "start"), "a benchmark started"
    else:
        # The harvest under way when the signal came was finished, not dropped.
        assert statuses["big"] == "success", summary
        assert big.stat().st_size == BIG_RESULT_MIB * 1024 * 1024
    assert listening_ports_of(run_dir) == []
    assert processes_under(run_dir) == []
    assert marked_processes(state_dir_of(run_dir)) == set()
    assert list((own_state_home / "live").glob("*.json")) == []
