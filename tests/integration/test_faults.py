"""Faults on real local hosts: nothing leaks, nothing finished is lost.

Each test runs a campaign on the local provider (real SSH servers on
127.0.0.1 in a daemon process), breaks something — a benchmark that hangs,
the orchestrator killed with SIGKILL, a teardown that fails — and then
checks what a user would: every finished result is on disk, and no host,
process, listening port or registry entry is left once the run is done.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator import lifecycle
from fmbench_orch.orchestrator.errors import ExitCode
from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.lifecycle import create_run, execute_run
from fmbench_orch.orchestrator.provisioners.local import (
    LocalProvisioner,
    state_dir_of,
)
from fmbench_orch.orchestrator.provisioners.local_processes import marked_processes
from fmbench_orch.orchestrator.reaper import plan_reap
from fmbench_orch.orchestrator.registry import live_runs
from fmbench_orch.orchestrator.rundir import RunDirectory

CLI = [sys.executable, "-m", "fmbench_orch.orchestrator"]
# How long a test waits for a benchmark to get going on a loaded machine.
START_DEADLINE_S = 60.0
POLL_S = 0.1

HANG_AND_SUCCEED = """\
name: hang
provider: local
ttl: 10m
hosts:
  - name: stuck
    instance_type: g5.xlarge
    benchmarks:
      - {name: forever, driver: command, run: "sleep 600", timeout_seconds: 2}
  - name: fine
    instance_type: g4dn.xlarge
    benchmarks:
      - name: quick
        driver: command
        run: mkdir -p results && echo 42 > results/answer.txt
"""

FIRST_THEN_LONG = """\
name: {name}
provider: local
ttl: 10m
hosts:
  - name: box
    instance_type: g5.xlarge
    benchmarks:
      - {{name: first, driver: command, run: "mkdir -p results; echo kept > results/x"}}
      - {{name: long, driver: command, run: "echo started; sleep 600"}}
"""

QUICK = """\
name: {name}
provider: local
ttl: 10m
hosts:
  - name: box
    instance_type: g5.xlarge
    benchmarks:
      - {{name: only, driver: command, run: "mkdir -p results; echo kept > results/x"}}
"""


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry of the test's own (the CLI's subprocesses inherit it)."""
    home = tmp_path / "home"
    monkeypatch.setenv("FMBENCH_ORCH_HOME", str(home))
    return home


class RecordingProvisioner(LocalProvisioner):
    """The local provisioner, remembering the ports its hosts listened on."""

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[int] = []
        self.destroy_calls = 0

    def up(self, spec: StackSpec, run_dir: Path) -> list[Host]:
        hosts = super().up(spec, run_dir)
        self.ports += [host.port for host in hosts]
        return hosts

    def destroy(self, spec: StackSpec, run_dir: Path) -> None:
        self.destroy_calls += 1
        super().destroy(spec, run_dir)


class FlakyDestroy(RecordingProvisioner):
    """Fails its first `failures` teardowns as a throttled API would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def destroy(self, spec: StackSpec, run_dir: Path) -> None:
        self.destroy_calls += 1
        if self.destroy_calls <= self.failures:
            raise RuntimeError(f"throttled (attempt {self.destroy_calls})")
        LocalProvisioner.destroy(self, spec, run_dir)


@pytest.fixture
def use_provisioner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Make the lifecycle build runs with `provisioner`, and retry without waits.

    Whatever a failing test leaves is destroyed afterwards, for real.
    """
    monkeypatch.setattr(lifecycle, "TEARDOWN_FIRST_BACKOFF_SECONDS", 0.01)

    def install(provisioner: LocalProvisioner) -> LocalProvisioner:
        monkeypatch.setattr(lifecycle, "provisioner_for", lambda *_: provisioner)
        return provisioner

    yield install
    for stack in (tmp_path / "runs").glob("*/*/stack.json"):
        LocalProvisioner().destroy(
            RunDirectory.open(stack.parent).load_spec(), stack.parent
        )


def write(directory: Path, text: str, **names: str) -> Path:
    path = directory / "campaign.yml"
    path.write_text(text.format(**names) if names else text)
    return path


def open_ports(ports: list[int]) -> list[int]:
    found = []
    for port in ports:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                found.append(port)
    return found


def ports_of(run_dir: Path) -> list[int]:
    record = json.loads((state_dir_of(run_dir) / "hosts.json").read_text())
    return [host["port"] for host in record["hosts"]]


def processes_of(run_dir: Path) -> set[int]:
    """The run's daemon and everything its hosts started, found two ways."""
    found = marked_processes(state_dir_of(run_dir))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if os.readlink(entry / "cwd").startswith(str(run_dir)):
                found.add(int(entry.name))
        except OSError:
            continue
    return found


def assert_nothing_left(run_dir: Path, ports: list[int]) -> None:
    assert ports, "the test never saw the hosts' ports"
    assert open_ports(ports) == []
    assert processes_of(run_dir) == set()
    assert not (state_dir_of(run_dir) / "hosts.json").exists()
    assert live_runs() == []


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def killed_run(tmp_path: Path) -> Iterator[Path]:
    """A run whose orchestrator got SIGKILL while its second benchmark ran."""
    campaign = write(tmp_path, FIRST_THEN_LONG, name="killed")
    child = subprocess.Popen(
        [*CLI, "run", str(campaign), "--runs-dir", "runs"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_dir = None
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline and run_dir is None:
        for events in (tmp_path / "runs" / "killed").glob("*/events.jsonl"):
            if '"benchmark":"long","phase":"start"' in events.read_text():
                run_dir = events.parent
        time.sleep(POLL_S)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert run_dir is not None, "the long benchmark never started"
    yield run_dir
    # Whatever a failed test left, the next ones must not inherit it.
    LocalProvisioner().destroy(RunDirectory.open(run_dir).load_spec(), run_dir)


def test_a_hung_benchmark_times_out_while_the_other_host_succeeds(
    tmp_path: Path, use_provisioner
) -> None:
    provisioner = use_provisioner(RecordingProvisioner())
    run_dir, spec = create_run(write(tmp_path, HANG_AND_SUCCEED), tmp_path / "runs")

    outcome = execute_run(run_dir, spec)

    statuses = {(r.host, r.benchmark): r.status for r in outcome.results}
    assert statuses == {("stuck", "forever"): "timeout", ("fine", "quick"): "success"}
    assert outcome.teardown == "complete"
    answer = next((run_dir.path / "artifacts" / "fine" / "quick").rglob("answer.txt"))
    assert answer.read_text() == "42\n"
    assert_nothing_left(run_dir.path, provisioner.ports)


def test_a_killed_orchestrator_leaves_its_run_listed_and_down_cleans_it_up(
    tmp_path: Path, killed_run: Path
) -> None:
    ports = ports_of(killed_run)
    [run] = live_runs()

    assert run.run_dir == killed_run
    assert open_ports(ports) == ports
    assert processes_of(killed_run)
    assert plan_reap().runs == []
    due = plan_reap(now=run.expires_at + timedelta(seconds=1))
    assert [r.stack_name for r in due.runs] == [run.stack_name]

    done = cli("down", str(killed_run), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert_nothing_left(killed_run, ports)
    first = killed_run / "results" / "box" / "first.json"
    assert json.loads(first.read_text())["status"] == "success"
    assert next((killed_run / "artifacts" / "box" / "first").rglob("x")).exists()


def test_reap_finds_a_killed_run_by_age_and_removes_everything_it_left(
    tmp_path: Path, killed_run: Path
) -> None:
    ports = ports_of(killed_run)

    done = cli("reap", "--older-than", "0s", cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed run {killed_run.parent.name}-{killed_run.name}" in done.stdout
    assert_nothing_left(killed_run, ports)
    assert (killed_run / "results" / "box" / "first.json").exists()


def test_a_teardown_that_fails_twice_is_retried_and_the_run_unlisted(
    tmp_path: Path, use_provisioner
) -> None:
    provisioner = use_provisioner(FlakyDestroy(failures=2))
    campaign = write(tmp_path, QUICK, name="flaky")
    run_dir, spec = create_run(campaign, tmp_path / "runs")

    outcome = execute_run(run_dir, spec)

    assert outcome.teardown == "complete"
    assert outcome.exit_code == ExitCode.OK
    assert provisioner.destroy_calls == 3
    assert_nothing_left(run_dir.path, provisioner.ports)
    assert (run_dir.path / "results" / "box" / "only.json").exists()


def test_a_teardown_that_always_fails_keeps_the_run_listed_with_its_command(
    tmp_path: Path, use_provisioner
) -> None:
    provisioner = use_provisioner(FlakyDestroy(failures=99))
    campaign = write(tmp_path, QUICK, name="stuck")
    run_dir, spec = create_run(campaign, tmp_path / "runs")

    outcome = execute_run(run_dir, spec)

    assert outcome.teardown == "failed"
    assert outcome.exit_code == ExitCode.TEARDOWN_FAILED
    command = f"fmbench-orch down {run_dir.path}"
    assert outcome.teardown_error is not None and command in outcome.teardown_error
    [run] = live_runs()
    assert run.down_command == command
    assert open_ports(provisioner.ports) == provisioner.ports
    assert (run_dir.path / "results" / "box" / "only.json").exists()

    done = cli("down", str(run_dir.path), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert_nothing_left(run_dir.path, provisioner.ports)
    assert (run_dir.path / "results" / "box" / "only.json").exists()
