"""The real thing: `up` → SSH → `destroy` on AWS. Runs only where it can."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.aws

REPO = Path(__file__).resolve().parents[2]


def _skip_reason() -> str | None:
    if shutil.which("pulumi") is None:
        return "the Pulumi CLI is not on PATH"
    if not (os.environ.get("AWS_PROFILE") or os.environ.get("AWS_ACCESS_KEY_ID")):
        return "no AWS credentials in the environment (AWS_PROFILE/AWS_ACCESS_KEY_ID)"
    if os.environ.get("FMBENCH_LIVE") != "1":
        return "live AWS runs cost money: set FMBENCH_LIVE=1 to allow them"
    return None


@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_a_small_cpu_campaign_runs_on_ec2_and_leaves_nothing(tmp_path: Path):
    campaign = tmp_path / "live.yml"
    campaign.write_text(
        "name: live-smoke\nprovider: aws\nregion: us-east-1\nttl: 30m\n"
        "budget: {max_usd_per_hour: 1}\n"
        "hosts:\n  - instance_type: m7i.large\n    storage: {size_gib: 20}\n"
        "    benchmarks:\n      - {driver: command, run: 'uname -a > out.txt', "
        "results: ., timeout_seconds: 600}\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fmbench_orch.orchestrator",
            "run",
            str(campaign),
            "--json",
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr
    assert '"teardown":"complete"' in done.stdout
