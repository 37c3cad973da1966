"""`fmbench-orch run` end to end on the local provider, as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_leftovers import (
    last_json_line,
    listening_ports_of,
    processes_under,
    write_campaign,
)

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "fmbench_orch.orchestrator"]


def run_cli(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


MIXED = """
name: mixed
provider: local
hosts:
  - name: good
    instance_type: g5.xlarge
    benchmarks:
      - name: ok
        driver: command
        run: |
          mkdir -p results && echo 42 > results/answer.txt
          echo '{"score": 1.5}' > m.json
        metrics: m.json
  - name: bad
    instance_type: g4dn.xlarge
    benchmarks:
      - name: fails
        driver: command
        run: echo failing; exit 3
      - name: slow
        driver: command
        run: sleep 600
        timeout_seconds: 2
"""


def test_run_json_summary_is_exact_for_success_failure_and_timeout(tmp_path: Path):
    campaign = write_campaign(tmp_path, MIXED)

    done = run_cli("run", str(campaign), "--json", "--runs-dir", "runs", cwd=tmp_path)

    assert done.returncode == 4, done.stderr
    summary = last_json_line(done.stdout)
    assert summary["campaign"] == "mixed"
    assert summary["status"] == "partial"
    assert summary["teardown"] == "complete"
    by_name = {(r["host"], r["benchmark"]): r for r in summary["results"]}
    assert set(by_name) == {("good", "ok"), ("bad", "fails"), ("bad", "slow")}
    assert by_name[("good", "ok")]["status"] == "success"
    assert by_name[("good", "ok")]["exit_code"] == 0
    assert by_name[("bad", "fails")]["status"] == "failure"
    assert by_name[("bad", "fails")]["exit_code"] == 3
    assert by_name[("bad", "slow")]["status"] == "timeout"
    assert by_name[("good", "ok")]["instance_type"] == "g5.xlarge"
    run_dir = Path(summary["run_dir"])
    answer = [
        a for a in by_name[("good", "ok")]["artifacts"] if a.endswith("answer.txt")
    ]
    assert answer and (run_dir / answer[0]).read_text() == "42\n"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "partial"
    good = manifest["hosts"][0]["benchmarks"][0]
    assert good["metrics"] == {"score": 1.5}
    assert listening_ports_of(run_dir) == []
    assert processes_under(run_dir) == []


def test_ctrl_c_during_a_run_tears_everything_down_and_keeps_results(tmp_path: Path):
    campaign = write_campaign(
        tmp_path,
        """
name: interrupted
provider: local
hosts:
  - name: quick
    instance_type: g5.xlarge
    benchmarks:
      - {name: first, driver: command, run: "mkdir -p results; echo done > results/x"}
      - {name: long, driver: command, run: "sleep 600"}
""",
    )
    child = subprocess.Popen(
        [*CLI, "run", str(campaign), "--json", "--runs-dir", "runs"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    events = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = list((tmp_path / "runs" / "interrupted").glob("*/events.jsonl"))
        if found and '"benchmark":"long","phase":"start"' in found[0].read_text():
            events = found[0]
            break
        time.sleep(0.1)
    assert events is not None, "the long benchmark never started"

    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)

    assert child.returncode == 130, stderr
    summary = last_json_line(stdout)
    assert summary["status"] == "interrupted"
    assert summary["teardown"] == "complete"
    statuses = {r["benchmark"]: r["status"] for r in summary["results"]}
    assert statuses["first"] == "success"
    assert statuses["long"] != "success"
    run_dir = Path(summary["run_dir"])
    assert (run_dir / "artifacts" / "quick" / "first").exists()
    assert listening_ports_of(run_dir) == []
    assert processes_under(run_dir) == []


def test_quickstart_runs_offline_and_says_where_the_results_are(tmp_path: Path):
    done = run_cli(
        "run",
        str(REPO / "examples" / "quickstart.yml"),
        "--json",
        "--runs-dir",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    summary = last_json_line(done.stdout)
    assert summary["status"] == "success"
    assert len(summary["results"]) == 3
    printed = done.stderr.replace("\n", "")
    assert f"Results: {summary['run_dir']}" in printed
    assert f"Report: {summary['run_dir']}/report.html" in printed
    run_dir = Path(summary["run_dir"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    metrics = manifest["hosts"][0]["benchmarks"][0]["metrics"]
    assert metrics["bs16_seq256_tokens_per_s"] > 0
    assert processes_under(run_dir) == []


def test_invalid_campaign_exits_2_and_creates_nothing(tmp_path: Path):
    campaign = write_campaign(tmp_path, "name: x1\nhosts: []\n")

    done = run_cli("run", str(campaign), "--runs-dir", "runs", cwd=tmp_path)

    assert done.returncode == 2
    assert "hosts" in done.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["status", "down", "logs"])
def test_single_steps_on_a_missing_run_directory_exit_7(tmp_path: Path, command: str):
    done = run_cli(command, str(tmp_path / "nope"), cwd=tmp_path)

    assert done.returncode == 7
    assert "not a run directory" in done.stderr
