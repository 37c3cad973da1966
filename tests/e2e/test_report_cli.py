"""`fmbench-orch report` on real quickstart runs, as a user runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = [sys.executable, "-m", "fmbench_orch.orchestrator", "run"]
# The CLI with `report` and `harvest` registered the way cli._register does.
CLI = [
    sys.executable,
    "-c",
    "from fmbench_orch.orchestrator.cli import cli\n"
    "from fmbench_orch.orchestrator.commands.results import COMMANDS\n"
    "for command in COMMANDS: cli.add_command(command)\n"
    "cli(prog_name='fmbench-orch')",
]


def quickstart(runs_dir: Path) -> Path:
    done = subprocess.run(
        [*RUN, "examples/quickstart.yml", "--runs-dir", str(runs_dir), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout.strip().splitlines()[-1])["run_dir"])


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "report", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    return [quickstart(root), quickstart(root)]


def test_report_on_a_quickstart_run_writes_its_files_into_the_run(runs):
    done = report(str(runs[0]))

    assert done.returncode == 0, done.stderr
    assert str(runs[0] / "report.md") in done.stderr
    markdown = (runs[0] / "report.md").read_text()
    assert "3 of 3 benchmark(s) succeeded." in markdown
    assert "**g6e-2xlarge (g6e.2xlarge) · sweep**" in markdown
    assert "| batch size | sequence length |" in markdown
    assert "## Cost per host: estimated vs accounted" in markdown
    csv_lines = (runs[0] / "report.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 3 * 6  # three hosts × (3 batch sizes × 2 lengths)


def test_the_html_report_opens_without_network_access(runs):
    report(str(runs[0]))
    html = (runs[0] / "report.html").read_text()

    assert re.search(r"https?://", html) is None
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    # Sweeps (throughput vs cost, latency vs batch) and host telemetry (CPU,
    # memory): the local hosts have no GPU.
    assert html.count("<svg") == 4
    assert "GPU utilization over each benchmark" not in html
    assert "Host CPU utilization over each benchmark" in html


def test_json_for_scripts_carries_every_sweep_point(runs):
    done = report(str(runs[0]), "--json")

    document = json.loads(done.stdout)
    assert done.returncode == 0
    assert [run["run_id"] for run in document["runs"]] == [runs[0].name]
    assert len(document["sweep_points"]) == 18
    assert {p["coordinates"]["bs"] for p in document["sweep_points"]} == {1, 4, 16}


def test_a_campaign_folder_compares_its_runs_with_their_spread(runs, tmp_path):
    done = report(str(runs[0].parent), "--out", str(tmp_path), "--markdown")

    assert done.returncode == 0, done.stderr
    assert len(done.stdout.encode()) <= 60_000
    assert "## Comparison across runs" in done.stdout
    assert "## Run-to-run spread" in done.stdout
    for run in runs:
        assert run.name in done.stdout
    assert (tmp_path / "report.html").exists()


def test_several_runs_without_out_get_a_report_folder_beside_them(runs):
    done = report(str(runs[0]), str(runs[1]))

    assert done.returncode == 0, done.stderr
    folder = runs[0].parent / f"report-{runs[0].name}_{runs[1].name}"
    assert (folder / "report.md").exists()


def test_a_folder_that_is_no_run_fails_with_the_not_found_exit_code(tmp_path):
    done = report(str(tmp_path))

    assert done.returncode == 7
    assert "is not a run directory" in done.stderr


def test_json_and_markdown_together_are_a_usage_error(runs):
    done = report(str(runs[0]), "--json", "--markdown")

    assert done.returncode == 2
    assert "pick one" in done.stderr
