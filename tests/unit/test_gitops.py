"""GitOps: the campaigns a pull request affects, and the stacks they run on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from fmbench_orch.models.campaign import MAX_CAMPAIGN_NAME
from fmbench_orch.orchestrator.commands.gitops import changed, stack_name
from fmbench_orch.orchestrator.errors import ExitCode, exit_code_for
from fmbench_orch.orchestrator.gitops import (
    MAX_PR_NUMBER,
    MAX_STACK_NAME,
    GitFailed,
    changed_campaigns,
    pr_stack_name,
)

LOCAL_CAMPAIGN = """\
name: quick
provider: local
hosts:
  - instance_type: g5.2xlarge
    upload_files: [{local: workloads/sweep.py, remote: sweep.py}]
    benchmarks: [{driver: command, run: python3 sweep.py}]
"""
AWS_CAMPAIGN = """\
name: gpu
provider: aws
defaults:
  benchmarks: [{driver: fmbench, config: ../configs/variant.yml}]
hosts:
  - instance_type: g6e.2xlarge
"""
STACK_FILE = """\
config:
  aws:region: us-east-1
  fmbench-orchestrator:campaign: teams/a/campaigns/gpu.yml
  fmbench-orchestrator:runId: demo0001
"""
FMBENCH_CONFIG = "general: {name: variant}\nexperiments: []\n"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) files and commit them; return the commit."""
    for path, text in files.items():
        target = repo / path
        if text is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: two campaigns, the files they use, a stack file; then a branch."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "config", "user.email", "tests@example.com")
    git(repo, "config", "user.name", "tests")
    commit(
        repo,
        {
            "README.md": "# benchmarks\n",
            "examples/quick.yml": LOCAL_CAMPAIGN,
            "examples/workloads/sweep.py": "print('sweep')\n",
            "examples/fmbench/unused-config.yml": FMBENCH_CONFIG,
            "teams/a/campaigns/gpu.yml": AWS_CAMPAIGN,
            "teams/a/configs/variant.yml": FMBENCH_CONFIG,
            "stacks/Pulumi.gpu.yaml": STACK_FILE,
            "stacks/policy.gpu.json": '{"stack-within-budget": {}}\n',
        },
        "campaigns",
    )
    git(repo, "checkout", "--quiet", "-b", "feature")
    return repo


def affected(repo: Path) -> dict[str, list[str]]:
    change_set = changed_campaigns(repo, "main", "feature")
    return {campaign.path: list(campaign.reasons) for campaign in change_set.campaigns}


def test_a_changed_campaign_file_is_listed_as_changed(repo: Path) -> None:
    commit(repo, {"examples/quick.yml": LOCAL_CAMPAIGN + "ttl: 1h\n"}, "ttl")

    assert affected(repo) == {"examples/quick.yml": ["changed"]}


def test_a_campaign_is_affected_when_a_file_it_uploads_changes(repo: Path) -> None:
    commit(repo, {"examples/workloads/sweep.py": "print('faster')\n"}, "sweep")

    assert affected(repo) == {
        "examples/quick.yml": ["uses examples/workloads/sweep.py"]
    }


def test_a_campaign_is_affected_when_its_local_fmbench_config_changes(
    repo: Path,
) -> None:
    commit(repo, {"teams/a/configs/variant.yml": FMBENCH_CONFIG + "# tuned\n"}, "cfg")

    assert affected(repo) == {
        "teams/a/campaigns/gpu.yml": ["uses teams/a/configs/variant.yml"]
    }


def test_a_stack_file_or_its_policy_config_maps_to_the_campaign_it_names(
    repo: Path,
) -> None:
    commit(
        repo,
        {
            "stacks/Pulumi.gpu.yaml": STACK_FILE + "  aws:profile: bench\n",
            "stacks/policy.gpu.json": '{"stack-within-budget": {"maxUsdPerHour": 9}}',
        },
        "stack",
    )

    assert affected(repo) == {
        "teams/a/campaigns/gpu.yml": [
            "stack file stacks/Pulumi.gpu.yaml",
            "stack file stacks/policy.gpu.json",
        ]
    }


def test_files_no_campaign_uses_affect_nothing(repo: Path) -> None:
    commit(
        repo,
        {
            "README.md": "# benchmarks, again\n",
            "examples/fmbench/unused-config.yml": FMBENCH_CONFIG + "# x\n",
        },
        "docs",
    )

    assert changed_campaigns(repo, "main", "feature").campaigns == ()


def test_a_new_campaign_in_any_campaigns_folder_is_listed_with_its_provider(
    repo: Path,
) -> None:
    commit(repo, {"campaigns/new.yml": LOCAL_CAMPAIGN.replace("quick", "new")}, "new")

    [campaign] = changed_campaigns(repo, "main", "feature").campaigns

    assert (campaign.path, campaign.name, campaign.provider) == (
        "campaigns/new.yml",
        "new",
        "local",
    )


def test_a_deleted_campaign_is_reported_removed_not_planned(repo: Path) -> None:
    commit(repo, {"examples/quick.yml": None}, "drop")

    change_set = changed_campaigns(repo, "main", "feature")

    assert change_set.campaigns == ()
    assert change_set.removed == ("examples/quick.yml",)


def test_a_renamed_campaign_is_planned_at_its_new_path(repo: Path) -> None:
    git(repo, "mv", "examples/quick.yml", "examples/quick-renamed.yml")
    git(repo, "commit", "--quiet", "-m", "rename")

    change_set = changed_campaigns(repo, "main", "feature")

    assert [c.path for c in change_set.campaigns] == ["examples/quick-renamed.yml"]
    assert change_set.removed == ("examples/quick.yml",)


def test_a_broken_campaign_file_is_still_listed_so_validate_can_report_it(
    repo: Path,
) -> None:
    commit(repo, {"examples/broken.yml": "name: [unclosed\n"}, "broken")

    [campaign] = changed_campaigns(repo, "main", "feature").campaigns

    assert (campaign.path, campaign.name) == ("examples/broken.yml", None)
    assert campaign.stack_name(3) == "pr-3-broken"


def test_changes_the_base_branch_made_after_the_fork_are_not_the_pull_requests(
    repo: Path,
) -> None:
    commit(repo, {"examples/workloads/sweep.py": "print('branch')\n"}, "branch")
    git(repo, "checkout", "--quiet", "main")
    commit(repo, {"teams/a/campaigns/gpu.yml": AWS_CAMPAIGN + "ttl: 2h\n"}, "main")

    assert affected(repo) == {
        "examples/quick.yml": ["uses examples/workloads/sweep.py"]
    }


def test_files_are_read_at_the_head_revision_not_from_the_working_tree(
    repo: Path,
) -> None:
    commit(repo, {"examples/workloads/sweep.py": "print('faster')\n"}, "sweep")
    (repo / "examples" / "quick.yml").write_text("name: scribbled\nhosts: []\n")

    [campaign] = changed_campaigns(repo, "main", "feature").campaigns

    assert campaign.name == "quick"


def test_an_unknown_base_says_to_fetch_the_history(repo: Path) -> None:
    with pytest.raises(GitFailed) as caught:
        changed_campaigns(repo, "origin/nowhere", "feature")

    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    assert "fetch-depth: 0" in str(caught.value)


def test_changed_prints_one_path_a_line_for_shell_loops(repo: Path) -> None:
    commit(
        repo,
        {"examples/quick.yml": LOCAL_CAMPAIGN + "ttl: 1h\n", "campaigns/b.yml": ""},
        "two",
    )
    commit(repo, {"campaigns/b.yml": AWS_CAMPAIGN.replace("gpu", "bee")}, "bee")

    result = CliRunner().invoke(
        changed, ["--base", "main", "--head", "feature", "--repo", str(repo)]
    )

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["campaigns/b.yml", "examples/quick.yml"]


def test_changed_json_gives_each_campaign_its_pull_request_stack(repo: Path) -> None:
    commit(repo, {"examples/workloads/sweep.py": "print('faster')\n"}, "sweep")

    result = CliRunner().invoke(
        changed,
        ["--base", "main", "--head", "feature", "--repo", str(repo), "--pr", "42"],
        catch_exceptions=False,
    )
    result_json = CliRunner().invoke(
        changed,
        ["--base=main", "--head=feature", f"--repo={repo}", "--pr=42", "--json"],
    )

    assert result.output == "examples/quick.yml\n"
    document = json.loads(result_json.output)
    assert document["head"] == git(repo, "rev-parse", "feature")
    assert document["campaigns"] == [
        {
            "file": "examples/quick.yml",
            "name": "quick",
            "provider": "local",
            "reasons": ["uses examples/workloads/sweep.py"],
            "stack": "pr-42-quick",
        }
    ]


def test_two_campaigns_that_would_share_a_stack_are_refused(repo: Path) -> None:
    commit(repo, {"campaigns/copy-of-gpu.yml": AWS_CAMPAIGN}, "copy")
    commit(repo, {"teams/a/campaigns/gpu.yml": AWS_CAMPAIGN + "ttl: 1h\n"}, "edit")

    result = CliRunner().invoke(
        changed, ["--base=main", "--head=feature", f"--repo={repo}", "--pr=5"]
    )

    assert exit_code_for(result.exception) == ExitCode.INVALID_INPUT
    assert "pr-5-gpu" in str(result.exception)


def test_stack_names_are_the_pr_number_then_the_campaign() -> None:
    assert pr_stack_name(42, "llama3-8b-g6e") == "pr-42-llama3-8b-g6e"


def test_every_valid_campaign_name_fits_whole_even_with_the_largest_pr() -> None:
    longest = "l" * MAX_CAMPAIGN_NAME

    assert pr_stack_name(MAX_PR_NUMBER, longest).endswith(longest)


def test_long_names_are_cut_to_fit_an_s3_bucket_and_stay_apart() -> None:
    # File names stand in for campaigns without a usable `name:`; they can
    # be as long as a file system allows.
    shared = "llama3-70b-instruct-served-by-vllm-on-g6e-48xlarge-with-"
    first = pr_stack_name(MAX_PR_NUMBER, shared + "fp8")
    second = pr_stack_name(MAX_PR_NUMBER, shared + "bf16")

    assert len(first) == len(second) == MAX_STACK_NAME
    assert len("fmbench-" + first) <= 63
    assert first != second
    assert first.startswith(f"pr-{MAX_PR_NUMBER}-llama3-70b")


@pytest.mark.parametrize(
    "campaign",
    ["quick", "UPPER_case name", "--dashes--", "ünïcode", "x" * 200, "", "a.b.c"],
)
def test_stack_names_use_only_lowercase_letters_digits_and_single_hyphens(
    campaign: str,
) -> None:
    name = pr_stack_name(7, campaign)

    assert re.fullmatch(r"pr-7-[a-z0-9]+(-[a-z0-9]+)*", name), name
    assert len(name) <= MAX_STACK_NAME
    assert name == pr_stack_name(7, campaign)


def test_a_name_s3_reserves_gets_a_hash_instead() -> None:
    name = pr_stack_name(5, "cache-s3alias")

    assert name.startswith("pr-5-cache-s3alias-")
    assert not name.endswith("-s3alias")


@pytest.mark.parametrize("pr", [0, -1, MAX_PR_NUMBER + 1])
def test_pull_request_numbers_github_cannot_have_are_refused(pr: int) -> None:
    with pytest.raises(ValueError):
        pr_stack_name(pr, "quick")


def test_stack_name_reads_the_campaign_name_from_the_file(tmp_path: Path) -> None:
    campaign = tmp_path / "anything.yml"
    campaign.write_text(AWS_CAMPAIGN)

    result = CliRunner().invoke(stack_name, ["--pr", "12", str(campaign)])

    assert (result.exit_code, result.output) == (0, "pr-12-gpu\n")


def test_stack_name_refuses_a_campaign_without_a_usable_name(tmp_path: Path) -> None:
    campaign = tmp_path / "anything.yml"
    campaign.write_text("name: Not A Slug\nhosts: []\n")

    result = CliRunner().invoke(stack_name, ["--pr", "12", str(campaign)])

    assert "must be a slug" in str(result.exception)
    assert "anything.yml:1: name:" in str(result.exception)
