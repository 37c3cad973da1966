"""The single steps on a run directory, end to end on the local provider.

`run --keep`, `up`, `status`, `logs`, `resume` and `down` as a user types them,
each in its own `fmbench-orch` process, the way a run is finished from another
terminal or after a crash. Each test ends by checking what a user would: no
host port still listening, no process left under the run directory and an
empty live-run registry.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from run_leftovers import (
    last_json_line,
    listening_ports_of,
    processes_under,
    write_campaign,
)

from fmbench_orch.orchestrator.provisioners.local import HostsRecord, state_dir_of
from fmbench_orch.orchestrator.provisioners.local_processes import (
    is_running,
    marked_processes,
)

CLI = [sys.executable, "-m", "fmbench_orch.orchestrator"]
# One CLI step on local hosts takes a few seconds; a loaded 2-core machine
# can make that many times longer.
STEP_TIMEOUT_S = 120
# How long a run may take to reach the phase a test waits for.
PHASE_DEADLINE_S = 60.0
# Events are flushed line by line; a tenth of a second is plenty to catch one.
POLL_S = 0.05
# How long the benchmark that `resume` reattaches to runs: it must outlive the
# killed orchestrator and the start of `resume`, and not slow the suite much.
REATTACHED_SLEEP_S = 8
SUMMARY_KEYS = {"campaign", "run_id", "run_dir", "status", "results", "teardown"}
RESULT_KEYS = {"host", "instance_type", "benchmark", "status", "exit_code", "artifacts"}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=STEP_TIMEOUT_S
    )


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    """A CLI process in a session of its own, as a terminal would start it."""
    return subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def live_runs_listed(home: Path) -> list[str]:
    """The stack names the live-run registry lists."""
    return sorted(path.stem for path in (home / "live").glob("*.json"))


def events_of(run_dir: Path) -> list[dict]:
    """The run's events so far; a line still being written is skipped."""
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines(keepends=True):
        if line.endswith("\n"):
            events.append(json.loads(line))
    return events


def phases_of(run_dir: Path, benchmark: str) -> list[tuple[str, str]]:
    return [
        (e["phase"], e["outcome"])
        for e in events_of(run_dir)
        if e["benchmark"] == benchmark
    ]


def assert_nothing_left(run_dir: Path, home: Path) -> None:
    assert listening_ports_of(run_dir) == []
    assert processes_under(run_dir) == []
    assert marked_processes(state_dir_of(run_dir)) == set()
    assert live_runs_listed(home) == []


def test_a_kept_run_stays_up_for_status_and_logs_until_down_destroys_it(
    tmp_path: Path, own_state_home: Path
):
    campaign = write_campaign(
        tmp_path,
        """
name: kept
provider: local
hosts:
  - name: greeter
    instance_type: g5.xlarge
    benchmarks:
      - {name: hello, driver: command, run: "echo hello from the greeter"}
  - name: crasher
    instance_type: g4dn.xlarge
    benchmarks:
      - {name: broken, driver: command, run: "echo about to fail; exit 5"}
""",
    )

    done = cli(
        "run", str(campaign), "--keep", "--json", "--runs-dir", "runs", cwd=tmp_path
    )

    assert done.returncode == 4, done.stderr
    summary = last_json_line(done.stdout)
    assert summary["teardown"] == "kept"
    run_dir = Path(summary["run_dir"])
    stack_name = f"kept-{summary['run_id']}"
    assert live_runs_listed(own_state_home) == [stack_name]
    assert len(listening_ports_of(run_dir)) == 2

    shown = cli("status", str(run_dir), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "2/2 host(s) up" in shown.stdout
    outcomes = {tuple(line.split()) for line in shown.stdout.splitlines()[1:]}
    assert outcomes == {
        ("greeter", "hello", "success"),
        ("crasher", "broken", "failure"),
    }

    listed = cli("status", "--runs-dir", "runs", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert stack_name in listed.stdout
    assert f"fmbench-orch down {run_dir}" in listed.stdout

    printed = cli("logs", str(run_dir), "--benchmark", "hello", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == "==> logs/greeter/hello.log <==\nhello from the greeter\n"
    everything = cli("logs", str(run_dir), cwd=tmp_path)
    assert "about to fail" in everything.stdout

    destroyed = cli("down", str(run_dir), cwd=tmp_path)

    assert destroyed.returncode == 0, destroyed.stderr
    assert f"{stack_name}: destroyed" in destroyed.stdout
    assert_nothing_left(run_dir, own_state_home)
    again = cli("down", str(run_dir), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    after = cli("status", str(run_dir), cwd=tmp_path)
    assert "0/2 host(s) up" in after.stdout
    assert_nothing_left(run_dir, own_state_home)


def wait_for_start(runs: Path, benchmark: str, child: subprocess.Popen) -> Path:
    """The run directory, once `benchmark` has a start event in it."""
    deadline = time.monotonic() + PHASE_DEADLINE_S
    while time.monotonic() < deadline:
        for events in runs.glob("*/events.jsonl"):
            if ("start", "ok") in phases_of(events.parent, benchmark):
                return events.parent
        assert child.poll() is None, child.communicate()
        time.sleep(POLL_S)
    raise AssertionError(f"{benchmark} never started")


def pid_of(run_dir: Path, benchmark: str, phase: str, outcome: str) -> int:
    """The benchmark's pid as the event `phase`/`outcome` names it."""
    (event,) = [
        e
        for e in events_of(run_dir)
        if (e["benchmark"], e["phase"], e["outcome"]) == (benchmark, phase, outcome)
    ]
    return int(event["detail"].removeprefix("pid "))


def test_resume_after_the_orchestrator_was_killed_reattaches_and_reruns_nothing(
    tmp_path: Path, own_state_home: Path
):
    # Each benchmark counts its starts outside the run directory: a start
    # empties the benchmark's directory on the host, and teardown removes it.
    starts = tmp_path / "starts"
    starts.mkdir()
    campaign = write_campaign(
        tmp_path,
        f"""
name: resumed
provider: local
hosts:
  - name: solo
    instance_type: g5.xlarge
    benchmarks:
      - name: quick
        driver: command
        run: echo started >> '{starts}/quick'
      - name: long
        driver: command
        run: |
          echo started >> '{starts}/long'
          echo long begins
          sleep {REATTACHED_SLEEP_S}
          echo long ends
""",
    )
    orchestrator = start_cli("run", str(campaign), "--runs-dir", "runs", cwd=tmp_path)
    run_dir = wait_for_start(tmp_path / "runs" / "resumed", "long", orchestrator)
    quick_result = (run_dir / "results" / "solo" / "quick.json").read_text()

    orchestrator.kill()
    orchestrator.communicate(timeout=STEP_TIMEOUT_S)

    assert orchestrator.returncode == -signal.SIGKILL
    # As designed, the hosts outlive the orchestrator, as EC2 instances would.
    daemon = HostsRecord.read(state_dir_of(run_dir))
    assert daemon is not None and is_running(daemon.pid)
    assert len(listening_ports_of(run_dir)) == 1
    long_pid = pid_of(run_dir, "long", "start", "ok")
    assert is_running(long_pid), "long ended before resume: the test proves nothing"
    assert live_runs_listed(own_state_home) == [f"resumed-{run_dir.name}"]

    resumed = cli("resume", str(run_dir), "--json", cwd=tmp_path)

    assert resumed.returncode == 0, resumed.stderr
    summary = last_json_line(resumed.stdout)
    assert (summary["status"], summary["teardown"]) == ("success", "complete")
    assert summary["run_dir"] == str(run_dir)
    assert (starts / "quick").read_text() == "started\n"
    assert (starts / "long").read_text() == "started\n"
    assert pid_of(run_dir, "long", "running", "reattached") == long_pid
    assert phases_of(run_dir, "quick").count(("start", "ok")) == 1
    assert (run_dir / "results" / "solo" / "quick.json").read_text() == quick_result
    log = (run_dir / "logs" / "solo" / "long.log").read_text()
    assert log == "long begins\nlong ends\n"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert (manifest["status"], manifest["teardown"]) == ("success", "complete")
    assert not is_running(daemon.pid)
    assert_nothing_left(run_dir, own_state_home)


def test_up_leaves_hosts_waiting_and_resume_runs_the_campaign_on_them(
    tmp_path: Path, own_state_home: Path
):
    campaign = write_campaign(
        tmp_path,
        """
name: upfirst
provider: local
hosts:
  - name: waiting
    instance_type: g5.xlarge
    benchmarks:
      - {name: greet, driver: command, run: "mkdir results; echo hi > results/hi"}
""",
    )

    made = cli("up", str(campaign), "--runs-dir", "runs", cwd=tmp_path)

    assert made.returncode == 0, made.stderr
    run_dir = Path(made.stdout.split("run directory: ")[-1].strip())
    assert run_dir.parent == (tmp_path / "runs" / "upfirst").resolve()
    (port,) = re.findall(r"^waiting  \S+@127\.0\.0\.1:(\d+)$", made.stdout, re.M)
    assert listening_ports_of(run_dir) == [int(port)]
    assert live_runs_listed(own_state_home) == [f"upfirst-{run_dir.name}"]
    daemon = HostsRecord.read(state_dir_of(run_dir))
    assert daemon is not None
    shown = cli("status", str(run_dir), cwd=tmp_path)
    assert "1/1 host(s) up" in shown.stdout
    assert shown.stdout.splitlines()[1].split() == ["waiting", "greet", "pending"]

    resumed = cli("resume", str(run_dir), "--json", cwd=tmp_path)

    assert resumed.returncode == 0, resumed.stderr
    summary = last_json_line(resumed.stdout)
    assert (summary["status"], summary["teardown"]) == ("success", "complete")
    # The benchmark ran on the hosts `up` made: no second daemon was started.
    log = (run_dir / "local-hosts" / "daemon.log").read_text()
    assert re.findall(r"local hosts daemon (\d+) for", log) == [str(daemon.pid)]
    hi = run_dir / "artifacts" / "waiting" / "greet" / "work" / "results" / "hi"
    assert hi.read_text() == "hi\n"
    assert_nothing_left(run_dir, own_state_home)


def test_two_campaigns_run_at_once_each_in_its_own_run_directory(
    tmp_path: Path, own_state_home: Path
):
    # Each benchmark waits for the other's to start, so both succeed only if
    # the two runs really were running at the same time.
    started = tmp_path / "started"
    started.mkdir()
    runs = []
    for name, other in (("left", "right"), ("right", "left")):
        directory = tmp_path / name
        directory.mkdir()
        campaign = write_campaign(
            directory,
            f"""
name: {name}
provider: local
hosts:
  - name: worker
    instance_type: g5.xlarge
    benchmarks:
      - name: meet
        driver: command
        timeout_seconds: {int(PHASE_DEADLINE_S)}
        run: |
          touch '{started}/{name}'
          until [ -e '{started}/{other}' ]; do sleep 0.1; done
          echo {name} met {other}
""",
        )
        runs.append(
            start_cli(
                "run", str(campaign), "--json", "--runs-dir", "../runs", cwd=directory
            )
        )

    outputs = [run.communicate(timeout=STEP_TIMEOUT_S) for run in runs]

    summaries = []
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr
        summaries.append(last_json_line(stdout))
    assert [s["campaign"] for s in summaries] == ["left", "right"]
    run_dirs = [Path(s["run_dir"]) for s in summaries]
    assert [d.parent for d in run_dirs] == [
        (tmp_path / "runs" / name).resolve() for name in ("left", "right")
    ]
    for summary, run_dir in zip(summaries, run_dirs, strict=True):
        assert (summary["status"], summary["teardown"]) == ("success", "complete")
        name = summary["campaign"]
        log = (run_dir / "logs" / "worker" / "meet.log").read_text()
        assert log.startswith(f"{name} met ")
        assert_nothing_left(run_dir, own_state_home)


def test_the_json_summary_has_exactly_the_documented_keys(
    tmp_path: Path, own_state_home: Path
):
    campaign = write_campaign(
        tmp_path,
        """
name: keyed
provider: local
hosts:
  - name: mixed
    instance_type: g5.xlarge
    benchmarks:
      - {name: passes, driver: command, run: "echo fine"}
      - {name: fails, driver: command, run: "exit 3"}
      - {name: hangs, driver: command, run: "sleep 60", timeout_seconds: 1}
""",
    )

    done = cli("run", str(campaign), "--json", "--runs-dir", "runs", cwd=tmp_path)

    assert done.returncode == 4, done.stderr
    summary = last_json_line(done.stdout)
    assert set(summary) == SUMMARY_KEYS
    assert all(set(result) == RESULT_KEYS for result in summary["results"])
    run_dir = Path(summary["run_dir"])
    assert summary["run_id"] == run_dir.name
    assert run_dir.parent.name == summary["campaign"] == "keyed"
    outcomes = {
        r["benchmark"]: (r["status"], r["exit_code"]) for r in summary["results"]
    }
    # A benchmark killed at its timeout never wrote an exit status: null.
    assert outcomes == {
        "passes": ("success", 0),
        "fails": ("failure", 3),
        "hangs": ("timeout", None),
    }
    for result in summary["results"]:
        assert (result["host"], result["instance_type"]) == ("mixed", "g5.xlarge")
        assert result["artifacts"], result
        assert all((run_dir / path).is_file() for path in result["artifacts"])
    assert_nothing_left(run_dir, own_state_home)
