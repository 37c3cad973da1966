"""Pull-request comment sections: what a reviewer reads, and that it fits."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fmbench_orch.models.loader import load_campaign
from fmbench_orch.orchestrator.cli import cli
from fmbench_orch.orchestrator.commands.gitops import pr_section
from fmbench_orch.orchestrator.errors import ExitCode
from fmbench_orch.orchestrator.markdown import (
    MAX_LOG_BYTES,
    MAX_TABLE_ROWS,
    SECTION_LIMIT_BYTES,
    invalid_section,
    plan_section,
    preview_section,
    run_section,
)
from fmbench_orch.orchestrator.plan import plan_spec, plan_summary

REPO = Path(__file__).resolve().parents[2]
EC2_EXAMPLE = REPO / "examples" / "ec2-llama3-8b-g6e.yml"
RUN_SUMMARY = {
    "campaign": "quickstart",
    "run_id": "2612031913a7",
    "run_dir": "runs/pr-7-quickstart/quickstart/2612031913a7",
    "status": "partial",
    "results": [
        {
            "host": "g5-2xlarge",
            "instance_type": "g5.2xlarge",
            "benchmark": "sweep",
            "status": "success",
            "exit_code": 0,
            "artifacts": [],
        },
        {
            "host": "g4dn-xlarge",
            "instance_type": "g4dn.xlarge",
            "benchmark": "sweep",
            "status": "timeout",
            "exit_code": None,
            "artifacts": [],
        },
    ],
    "teardown": "complete",
}


def summary_of(path: Path) -> dict:
    return plan_summary(plan_spec(load_campaign(path)))


def test_the_plan_section_shows_hosts_cost_budget_and_what_is_created() -> None:
    text = plan_section(summary_of(EC2_EXAMPLE), "examples/ec2-llama3-8b-g6e.yml")

    assert text.startswith("### ✅ `llama3-8b-g6e` · `examples/ec2-llama3-8b-g6e.yml`")
    assert "| g6e-2xlarge | g6e.2xlarge | us-east-1 | gpu |" in text
    assert "| **total** |  |  |  |  | **5.2463** |" in text
    assert "✅ within budget (12.00 USD/h) · ✅ policies pass" in text
    assert "<summary>Creates 12 resource(s)</summary>" in text
    assert "| aws:ec2/instance:Instance | g6e-4xlarge |" in text


def test_an_over_budget_plan_says_so_first(tmp_path: Path) -> None:
    campaign = tmp_path / "dear.yml"
    campaign.write_text(
        EC2_EXAMPLE.read_text().replace("max_usd_per_hour: 12", "max_usd_per_hour: 1")
    )

    text = plan_section(summary_of(campaign), "dear.yml")

    assert text.startswith("### ❌ ")
    assert "❌ over budget (1.00 USD/h)" in text
    assert "- ❌ the hosts cost 5.25 USD/h, over the budget's" in text


def test_policy_violations_are_listed_one_a_line() -> None:
    summary = summary_of(EC2_EXAMPLE)
    summary["policy_violations"] = ["[imdsv2-required] g6e-2xlarge: | <b>tokens</b>"]

    text = plan_section(summary, "x.yml")

    assert "❌ 1 policy violation(s)" in text
    assert "- ❌ [imdsv2-required] g6e-2xlarge: | &lt;b&gt;tokens&lt;/b&gt;" in text


def test_a_plan_of_256_hosts_stays_within_a_comment() -> None:
    summary = summary_of(EC2_EXAMPLE)
    summary["hosts"] = summary["hosts"] * 128
    summary["resources"] = summary["resources"] * 128

    text = plan_section(summary, "wide.yml")

    assert len(text.encode()) <= SECTION_LIMIT_BYTES
    assert f"… and {256 - MAX_TABLE_ROWS} more (`fmbench-orch plan --json`)" in text
    assert "<summary>Creates 1536 resource(s)</summary>" in text


def test_table_cells_cannot_break_the_table_or_inject_html() -> None:
    summary = summary_of(EC2_EXAMPLE)
    summary["hosts"][0]["name"] = "a|b\n<script>"

    text = plan_section(summary, "x.yml")

    assert "| a\\|b &lt;script&gt; |" in text


def test_an_invalid_campaign_shows_every_problem_in_a_block_backticks_cannot_end() -> (
    None
):
    problems = "x.yml:3: name: got '```'; use a slug\nx.yml:9: hosts: missing"

    text = invalid_section("x.yml", problems)

    assert text.startswith("### ❌ `x.yml` is not a valid campaign")
    assert "````text\n" + problems + "\n````" in text


def test_the_preview_section_keeps_the_end_of_the_output_without_colours() -> None:
    output = "\x1b[1mPreviewing\x1b[0m\n" + "noise line\n" * 5000 + "Resources: + 12"

    text = preview_section("pr-7-gpu", output, exit_code=0)

    assert text.startswith("#### ✅ Pulumi preview of stack `pr-7-gpu` passed")
    assert "Resources: + 12" in text
    assert "\x1b[" not in text
    assert len(text.encode()) < MAX_LOG_BYTES + 500


def test_a_failed_preview_says_so() -> None:
    text = preview_section("pr-7-gpu", "error: policy violations", exit_code=1)

    assert text.startswith("#### ❌ Pulumi preview of stack `pr-7-gpu` failed")


def test_the_run_section_lists_each_benchmark_and_the_teardown() -> None:
    text = run_section(RUN_SUMMARY, "pr-7-quickstart", 4, "rundir.pr-7-quickstart.1")

    assert text.startswith(
        "#### ⚠️ Run `2612031913a7` on stack `pr-7-quickstart`: partial · "
        "teardown complete"
    )
    assert "| g4dn-xlarge | g4dn.xlarge | sweep | ⏱️ timeout |  |" in text
    assert "artifact `rundir.pr-7-quickstart.1`" in text


def test_a_failed_teardown_is_the_first_thing_a_reviewer_reads() -> None:
    summary = {**RUN_SUMMARY, "teardown": "failed"}

    text = run_section(summary, "pr-7-quickstart", ExitCode.TEARDOWN_FAILED)

    assert "**Teardown failed: resources may still exist.**" in text
    assert "Exit 6: teardown failed" in text


def test_a_run_that_never_summarised_says_why_from_its_exit_code() -> None:
    assert "exit 3: over budget" in run_section(None, "pr-7-x", ExitCode.OVER_BUDGET)
    assert "time budget ran out" in run_section(None, "pr-7-x", 124)


def test_plan_markdown_exits_as_plan_does(tmp_path: Path) -> None:
    over = tmp_path / "over.yml"
    over.write_text(
        EC2_EXAMPLE.read_text().replace("max_usd_per_hour: 12", "max_usd_per_hour: 1")
    )
    invalid = tmp_path / "invalid.yml"
    invalid.write_text("name: Bad Name\nhosts: []\n")
    runner = CliRunner()

    ok = runner.invoke(cli, ["plan", "--markdown", str(EC2_EXAMPLE)])
    over_budget = runner.invoke(cli, ["plan", "--markdown", str(over)])
    bad = runner.invoke(cli, ["plan", "--markdown", str(invalid)])

    assert ok.exit_code == ExitCode.OK
    assert ok.stdout.startswith("### ✅ `llama3-8b-g6e`")
    assert over_budget.exit_code == ExitCode.OVER_BUDGET
    assert over_budget.stdout.startswith("### ❌ `llama3-8b-g6e`")
    assert bad.exit_code == ExitCode.INVALID_INPUT
    assert bad.stdout.startswith(f"### ❌ `{invalid}` is not a valid campaign")
    assert "name: got 'Bad Name'" in bad.stdout


def test_pr_section_renders_the_last_line_of_run_json(tmp_path: Path) -> None:
    output = tmp_path / "run.json"
    output.write_text("progress\n" + json.dumps(RUN_SUMMARY) + "\n")

    result = CliRunner().invoke(
        pr_section, ["run", str(output), "--stack", "pr-7-quickstart", "--exit-code=4"]
    )

    assert result.exit_code == 0
    assert result.output.startswith("#### ⚠️ Run `2612031913a7`")


def test_pr_section_without_run_output_says_the_run_did_not_finish(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        pr_section,
        ["run", str(tmp_path / "missing.json"), "--stack=pr-7-x", "--exit-code=5"],
    )

    assert result.output.startswith("#### ❌ Run on stack `pr-7-x` did not finish")
    assert "provisioning failed" in result.output
