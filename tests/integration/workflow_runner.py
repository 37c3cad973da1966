"""Runs a workflow job's own steps on this machine, as a GitHub runner would.

Only what the GitOps workflow's steps use is supported: `run:` steps under
`bash -eo pipefail`, `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`, and
expressions in `env:` that look a value up (`github.event.pull_request.number`)
or fall back to a literal (`vars.AWS_REGION || 'us-east-1'`). Steps that use an
action are GitHub's part and skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PR_WORKFLOW = REPO / ".github" / "workflows" / "fmbench-pull-request.yml"
# What `make install` puts in .venv/bin, for the scratch checkout: this
# interpreter's CLI, with the GitOps commands added while the CLI does not
# register them itself.
CLI_SCRIPT = f"""#!{sys.executable}
from fmbench_orch.orchestrator.cli import cli
from fmbench_orch.orchestrator.commands.gitops import COMMANDS

for command in COMMANDS:
    if command.name not in cli.commands:
        cli.add_command(command)
cli(prog_name="fmbench-orch")
"""
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1: on → True
    return document


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def lookup(path: str, context: dict[str, Any]) -> Any:
    value: Any = context
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def evaluate(expression: str, context: dict[str, Any]) -> str:
    """`a.b.c` and `a.b || 'default'`: the first truthy operand, else the last."""
    value: Any = None
    for operand in (part.strip() for part in expression.split("||")):
        if re.fullmatch(r"'[^']*'", operand):
            value = operand[1:-1]
        elif re.fullmatch(r"[\w.-]+", operand):
            value = lookup(operand, context)
        else:
            pytest.fail(f"this runner cannot evaluate `{expression}` in a step's env")
        if value not in (None, "", False):
            break
    if isinstance(value, bool):
        return json.dumps(value)
    return "" if value is None else str(value)


def substitute(text: str, context: dict[str, Any]) -> str:
    return EXPRESSION.sub(lambda match: evaluate(match[1], context), str(text))


def needs_pulumi(step: dict[str, Any]) -> bool:
    """A step that runs a Pulumi command (not one that only installs the CLI)."""
    return step.get("uses", "").startswith("pulumi/actions") and "with" in step


def run_job_steps(
    context: dict[str, Any],
    job_name: str,
    stop_at_pulumi: bool = False,
    only: set[str] | None = None,
) -> dict[str, subprocess.CompletedProcess]:
    """Run a job's `run:` steps in the checkout as the runner would.

    Steps that use an action (checkout, setup-python, credentials, upload)
    are GitHub's part and skipped; so is `make install`, which this test's
    virtualenv already did. `stop_at_pulumi` stops at the first Pulumi command.
    """
    document = load(PR_WORKFLOW)
    job = document["jobs"][job_name]
    repo: Path = context["repo"]
    output, summary = repo / ".github_output", repo / ".github_step_summary"
    context["env"] = {}
    for scope in (document.get("env", {}), job.get("env", {})):
        context["env"].update({k: substitute(v, context) for k, v in scope.items()})
    results = {}
    for step in job["steps"]:
        if stop_at_pulumi and needs_pulumi(step):
            break
        if "run" not in step or step["run"] == "make install":
            continue
        if only is not None and step.get("name") not in only:
            continue
        output.write_text("")
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", str(repo)),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            **context["runner_env"],
            **context["env"],
            **{k: substitute(v, context) for k, v in step.get("env", {}).items()},
        }
        script = repo / ".step.sh"
        script.write_text(step["run"])
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        outputs = dict(
            line.split("=", 1) for line in output.read_text().splitlines() if line
        )
        key = step.get("id") or step["name"]
        context["steps"][key] = {"outputs": outputs}
        results[key] = done
    return results


GITHUB_SCRIPT_HARNESS = """
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const calls = [];
const github = {
  paginate: async () => JSON.parse(process.env.EXISTING_COMMENTS),
  rest: {
    issues: {
      listComments: () => {},
      createComment: async (args) => calls.push(["create", args]),
      updateComment: async (args) => calls.push(["update", args]),
    },
  },
};
const context = { repo: { owner: "acme", repo: "benchmarks" } };
const body = process.env.STEP_SCRIPT;
const script = new AsyncFunction("github", "context", "require", body);
script(github, context, require).then(() => console.log(JSON.stringify(calls)));
"""


def run_github_script(cwd: Path, script: str, env: dict[str, str]) -> list[Any]:
    """Run an `actions/github-script` script; the API calls it made, in order."""
    done = subprocess.run(
        ["node", "-e", GITHUB_SCRIPT_HARNESS],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env, "STEP_SCRIPT": script},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)
