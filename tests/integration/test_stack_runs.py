"""`stack init` and `run --stack`: stacks people drive with the Pulumi CLI."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "fmbench_orch.orchestrator"]


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def project_copy(tmp_path: Path) -> Path:
    """A project directory of our own, so stack files never land in the repo."""
    project = tmp_path / "project"
    (project / "examples").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    source = REPO / "examples" / "ec2-llama3-8b-g6e.yml"
    (project / "examples" / source.name).write_text(source.read_text())
    return project


def test_stack_init_writes_fixed_values_and_keeps_the_private_key_out(tmp_path: Path):
    project = project_copy(tmp_path)
    home = tmp_path / "home"
    env = {
        **os.environ,
        "FMBENCH_ORCH_HOME": str(home),
        "FMBENCH_OPERATOR_CIDR": "198.51.100.9/32",
    }

    done = cli(
        "stack",
        "init",
        "examples/ec2-llama3-8b-g6e.yml",
        "--stack",
        "t1",
        env=env,
        cwd=project,
    )

    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((project / "stacks" / "Pulumi.t1.yaml").read_text())
    settings = config["config"]
    assert settings["fmbench-orchestrator:campaign"] == "examples/ec2-llama3-8b-g6e.yml"
    assert settings["fmbench-orchestrator:operatorCidr"] == "198.51.100.9/32"
    assert settings["fmbench-orchestrator:publicKey"].startswith("ssh-ed25519 ")
    private = home / "stacks" / "t1" / "keys" / "id_ed25519"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in (project / "stacks" / "Pulumi.t1.yaml").read_text()

    again = cli(
        "stack",
        "init",
        "examples/ec2-llama3-8b-g6e.yml",
        "--stack",
        "t1",
        env=env,
        cwd=project,
    )
    assert again.returncode == 2
    assert "--force" in again.stderr


def test_run_on_a_stack_reads_its_file_and_leaves_the_stack_to_its_owner(
    tmp_path: Path,
):
    project = project_copy(tmp_path)
    env = {
        **os.environ,
        "FMBENCH_ORCH_HOME": str(tmp_path / "home"),
        "FMBENCH_OPERATOR_CIDR": "198.51.100.9/32",
    }
    cli(
        "stack",
        "init",
        "examples/ec2-llama3-8b-g6e.yml",
        "--stack",
        "t2",
        env=env,
        cwd=project,
    )
    # No Pulumi CLI here: reading the stack's outputs is where it stops.
    env["PATH"] = str(tmp_path / "no-bin")

    done = cli(
        "run", "--stack", "t2", "--json", "--runs-dir", "runs", env=env, cwd=project
    )

    assert done.returncode == 2, done.stderr
    assert "no `pulumi` command was found" in done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert '"teardown":"kept"' in summary
    assert '"campaign":"llama3-8b-g6e"' in summary
    # The stack file fixes the run id: a second run says where the first is.
    again = cli("run", "--stack", "t2", "--runs-dir", "runs", env=env, cwd=project)
    assert again.returncode == 2, again.stderr
    assert "internal error" not in again.stderr
    assert "stack t2 already has a run at" in again.stderr
    assert "fmbench-orch resume" in again.stderr


def test_run_on_a_stack_without_a_stack_file_says_how_to_make_one(tmp_path: Path):
    project = project_copy(tmp_path)

    done = cli("run", "--stack", "nope", env=dict(os.environ), cwd=project)

    assert done.returncode == 7
    assert "fmbench-orch stack init" in done.stderr
