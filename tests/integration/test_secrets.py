"""A campaign's Hugging Face token on real local hosts: there, 0600, and nowhere else.

The local provider's hosts run their commands on this machine, so FMBench's
token path is this machine's /tmp/fmbench-read/scripts/hf_token.txt: the
tests set aside whatever is there and put it back afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fmbench_orch.models.compile import HF_TOKEN_REMOTE
from fmbench_orch.orchestrator.lifecycle import create_run, execute_run

CLI = [sys.executable, "-m", "fmbench_orch.orchestrator"]
TOKEN_ENV = "FMBENCH_TEST_HF_TOKEN"

CAMPAIGN = """\
name: gated
provider: local
ttl: 10m
secrets:
  hf_token: {source}
defaults:
  instance_type: g5.xlarge
  benchmarks:
    - name: check
      driver: command
      run: |
        f={remote}
        mkdir -p results
        stat -c %a "$f" > results/mode
        sha256sum < "$f" | cut -d' ' -f1 > results/digest
hosts:
  - name: first
  - name: second
"""


@pytest.fixture
def token_path() -> Iterator[Path]:
    """FMBench's token path on this machine, emptied for the test, then restored."""
    path = Path(HF_TOKEN_REMOTE)
    read_area = path.parents[1]  # /tmp/fmbench-read
    made_here = not read_area.exists()
    kept = path.with_name(f".{path.name}.kept-by-tests")
    if path.exists():
        os.replace(path, kept)
    yield path
    path.unlink(missing_ok=True)
    if kept.exists():
        os.replace(kept, path)
    if made_here:
        shutil.rmtree(read_area, ignore_errors=True)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    value = f"hf_{secrets.token_urlsafe(30)}"
    monkeypatch.setenv(TOKEN_ENV, value)
    monkeypatch.setenv("FMBENCH_ORCH_HOME", str(tmp_path / "home"))
    return value


def write_campaign(directory: Path, source: str) -> Path:
    path = directory / "campaign.yml"
    path.write_text(CAMPAIGN.format(source=source, remote=HF_TOKEN_REMOTE))
    return path


def files_holding(root: Path, value: str) -> list[Path]:
    needle = value.encode()
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    ]


def assert_each_host_saw_the_token_as_a_private_file(run_dir: Path, value: str):
    digest = hashlib.sha256(value.encode()).hexdigest()
    for host in ("first", "second"):
        artifacts = run_dir / "artifacts" / host / "check"
        assert next(artifacts.rglob("mode")).read_text().strip() == "600"
        assert next(artifacts.rglob("digest")).read_text().strip() == digest


def test_a_token_from_the_environment_reaches_each_host_and_no_record_of_the_run(
    tmp_path: Path,
    token: str,
    token_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    campaign = write_campaign(tmp_path, f"{{env: {TOKEN_ENV}}}")

    with caplog.at_level(logging.DEBUG):
        run_dir, spec = create_run(campaign, tmp_path / "runs")
        outcome = execute_run(run_dir, spec)

    assert [r.status for r in outcome.results] == ["success", "success"]
    assert_each_host_saw_the_token_as_a_private_file(run_dir.path, token)
    assert token_path.read_text() == token
    assert files_holding(run_dir.path, token) == []
    assert (run_dir.path / "local-hosts" / "daemon.log").exists()
    assert token not in caplog.text
    stack = json.loads((run_dir.path / "stack.json").read_text())
    assert stack["spec"]["hosts"][0]["uploads"][0]["env"] == TOKEN_ENV
    uploads = [
        json.loads(line)
        for line in (run_dir.path / "events.jsonl").read_text().splitlines()
        if '"phase":"upload"' in line
    ]
    assert [event["detail"] for event in uploads] == ["1 item(s), 1 secret"] * 2


def test_a_token_from_a_file_reaches_each_host_and_no_record_of_the_run(
    tmp_path: Path,
    token: str,
    token_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_file = tmp_path / "private" / "hf_token"
    secret_file.parent.mkdir()
    secret_file.write_text(token)
    campaign = write_campaign(tmp_path, "{file: private/hf_token}")

    with caplog.at_level(logging.DEBUG):
        run_dir, spec = create_run(campaign, tmp_path / "runs")
        outcome = execute_run(run_dir, spec)

    assert [r.status for r in outcome.results] == ["success", "success"]
    assert_each_host_saw_the_token_as_a_private_file(run_dir.path, token)
    assert files_holding(run_dir.path, token) == []
    assert token not in caplog.text


def test_the_cli_never_prints_the_token_even_at_debug_level(
    tmp_path: Path, token: str, token_path: Path
) -> None:
    campaign = write_campaign(tmp_path, f"{{env: {TOKEN_ENV}}}")

    done = subprocess.run(
        [*CLI, "-vv", "run", str(campaign), "--json", "--runs-dir", "runs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "DEBUG" in done.stderr
    assert token not in done.stdout + done.stderr
    run_dir = Path(json.loads(done.stdout.strip().splitlines()[-1])["run_dir"])
    assert files_holding(run_dir, token) == []
    assert files_holding(tmp_path / "home", token) == []


def test_a_benchmark_that_prints_the_token_leaves_it_in_no_log_or_artifact(
    tmp_path: Path, token: str, token_path: Path
) -> None:
    campaign = tmp_path / "campaign.yml"
    campaign.write_text(
        f"""\
name: chatty
provider: local
ttl: 10m
secrets:
  hf_token: {{env: {TOKEN_ENV}}}
hosts:
  - instance_type: g5.xlarge
    benchmarks:
      - name: leaks
        driver: command
        run: |
          mkdir -p results
          echo "loaded token $(cat {HF_TOKEN_REMOTE}) ok"
          cp {HF_TOKEN_REMOTE} results/copied-token.txt
"""
    )

    run_dir, spec = create_run(campaign, tmp_path / "runs")
    outcome = execute_run(run_dir, spec)

    [result] = outcome.results
    # The copy matched the host's listing (same size): nothing was lost.
    assert result.status == "success", result.reason
    assert files_holding(run_dir.path, token) == []
    live_log = next((run_dir.path / "logs").rglob("leaks.log")).read_text()
    assert live_log == f"loaded token {'*' * len(token)} ok\n"
    copied = next((run_dir.path / "artifacts").rglob("copied-token.txt"))
    assert copied.read_text() == "*" * len(token)
