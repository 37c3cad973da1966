"""A campaign that breaks a policy is refused before anything is created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "fmbench_orch.orchestrator"]

BASE = """
name: policy-check
provider: aws
hosts:
  - instance_type: g6e.2xlarge
{extra}
    benchmarks: [{{driver: command, run: "true"}}]
"""

VIOLATIONS = {
    "no-open-ssh": "    network: {ssh_ingress_cidrs: [0.0.0.0/0]}",
    "ebs-encrypted": "    storage: {encrypted: false}",
}


@pytest.mark.parametrize("policy", sorted(VIOLATIONS))
@pytest.mark.parametrize("command", ["plan", "run"])
def test_each_policy_refuses_the_campaign_and_names_itself(
    tmp_path: Path, policy: str, command: str
):
    campaign = tmp_path / "campaign.yml"
    campaign.write_text(BASE.format(extra=VIOLATIONS[policy]))
    # The operator's address is given so `run` never looks it up on the network.
    env = {
        **os.environ,
        "FMBENCH_OPERATOR_CIDR": "203.0.113.7/32",
        "PATH": os.environ["PATH"],
    }
    args = [command, str(campaign)]
    if command == "run":
        args += ["--runs-dir", str(tmp_path / "runs")]

    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=120
    )

    assert done.returncode == 2, done.stderr
    assert policy in done.stdout + done.stderr
    assert "policy check" in done.stdout + done.stderr or "Policy:" in done.stdout
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_campaign_over_its_budget_is_refused_naming_the_policy(
    tmp_path: Path, command: str
):
    campaign = tmp_path / "campaign.yml"
    campaign.write_text("budget: {max_usd_per_hour: 1}\n" + BASE.format(extra=""))
    env = {**os.environ, "FMBENCH_OPERATOR_CIDR": "203.0.113.7/32"}
    args = [command, str(campaign)]
    if command == "run":
        args += ["--runs-dir", str(tmp_path / "runs")]

    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=120
    )

    assert done.returncode == 3, done.stderr
    assert "stack-within-budget" in done.stdout + done.stderr
    assert "raise budget.max_usd_per_hour" in done.stdout + done.stderr
    assert not (tmp_path / "runs").exists()
