"""The configuration commands: `validate`, `schema` and `plan`, as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest
import yaml
from click.testing import CliRunner, Result

from fmbench_orch.models.catalog import get_instance_type
from fmbench_orch.orchestrator.cli import cli
from fmbench_orch.orchestrator.errors import ExitCode

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
MALFORMED = ROOT / "tests" / "fixtures" / "malformed"
HEAVY_MODULES = ("pulumi", "pulumi_aws", "boto3", "botocore", "fabric", "paramiko")


def invoke(*args: str | Path) -> Result:
    # A wide terminal, so rich never shortens a host name or a price.
    return CliRunner().invoke(cli, [str(arg) for arg in args], env={"COLUMNS": "200"})


def over_budget_campaign(directory: Path) -> Path:
    path = directory / "over.yml"
    path.write_text(
        dedent(
            """
            name: over-budget
            provider: aws
            budget: {max_usd_per_hour: 1}
            hosts:
              - instance_type: g6e.2xlarge
                benchmarks: [{driver: command, run: "true"}]
            """
        )
    )
    return path


# --- validate ------------------------------------------------------------------


@pytest.mark.parametrize("example", ["quickstart.yml", "ec2-llama3-8b-g6e.yml"])
def test_validate_accepts_the_examples(example: str) -> None:
    result = invoke("validate", EXAMPLES / example)

    assert result.exit_code == ExitCode.OK, result.output
    assert ": ok (" in result.stdout


def test_validate_refuses_a_bad_file_naming_the_field_and_line() -> None:
    result = invoke("validate", MALFORMED / "batch-sizes-zero.yml")

    assert result.exit_code == ExitCode.INVALID_INPUT == 2
    assert (
        "batch-sizes-zero.yml:9: hosts[1].benchmarks[0].batch_sizes[0]: got 0; "
        "must be greater than 0"
    ) in result.stderr
    assert "1 of 1 file(s) invalid" in result.stderr
    assert result.stdout == ""


def test_validate_checks_every_file_and_fails_if_any_is_bad() -> None:
    result = invoke(
        "validate",
        EXAMPLES / "quickstart.yml",
        MALFORMED / "driver-typo.yml",
        MALFORMED / "unknown-top-level-key.yml",
    )

    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "quickstart.yml: ok" in result.stdout
    assert "unknown driver 'fmbnech'" in result.stderr
    assert "did you mean 'region'?" in result.stderr
    assert "2 of 3 file(s) invalid" in result.stderr


def test_validate_says_so_when_a_file_does_not_exist(tmp_path: Path) -> None:
    result = invoke("validate", tmp_path / "absent.yml")

    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "cannot read the file" in result.stderr


# --- schema --------------------------------------------------------------------


def test_schema_prints_a_json_schema_of_campaign_files() -> None:
    result = invoke("schema")

    assert result.exit_code == ExitCode.OK
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert {"name", "hosts"} <= set(schema["required"])
    assert "hosts" in schema["properties"]
    assert schema["additionalProperties"] is False


def test_every_reference_in_the_schema_resolves() -> None:
    schema = json.loads(invoke("schema").stdout)

    refs = _refs(schema)

    assert refs, "the schema should describe hosts through $defs"
    for ref in refs:
        assert ref.startswith("#/$defs/")
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref


def test_the_examples_use_only_keys_the_schema_knows() -> None:
    schema = json.loads(invoke("schema").stdout)
    host_keys = set(schema["$defs"]["HostConfig"]["properties"])

    for example in EXAMPLES.glob("*.yml"):
        document = yaml.safe_load(example.read_text())
        assert set(document) <= set(schema["properties"]), example
        for host in document["hosts"]:
            assert set(host) <= host_keys, example


def test_schema_can_be_written_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "campaign.schema.json"

    result = invoke("schema", "-o", target)

    assert result.exit_code == ExitCode.OK
    assert "properties" in json.loads(target.read_text())


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


# --- plan ----------------------------------------------------------------------


def test_plan_prints_every_host_with_its_price_and_the_total() -> None:
    small = get_instance_type("g6e.2xlarge").price_per_hour("us-east-1")
    large = get_instance_type("g6e.4xlarge").price_per_hour("us-east-1")

    result = invoke("plan", EXAMPLES / "ec2-llama3-8b-g6e.yml")

    assert result.exit_code == ExitCode.OK, result.output
    lines = result.stdout.splitlines()
    assert any("g6e-2xlarge" in line and f"{small:.4f}" in line for line in lines)
    assert any("g6e-4xlarge" in line and f"{large:.4f}" in line for line in lines)
    assert any("total" in line and f"{small + large:.4f}" in line for line in lines)
    assert "Budget: within 12.00 USD/h" in result.stdout


def test_plan_as_json_gives_hosts_prices_and_budget() -> None:
    result = invoke("plan", "--json", EXAMPLES / "ec2-llama3-8b-g6e.yml")

    assert result.exit_code == ExitCode.OK
    summary = json.loads(result.stdout)
    assert [host["name"] for host in summary["hosts"]] == [
        "g6e-2xlarge",
        "g6e-4xlarge",
    ]
    assert summary["usd_per_hour"] == round(
        sum(host["usd_per_hour"] for host in summary["hosts"]), 4
    )
    assert summary["budget"]["within"] is True
    assert summary["provider"] == "aws"


def test_plan_over_budget_exits_3_and_says_what_to_change(tmp_path: Path) -> None:
    result = invoke("plan", over_budget_campaign(tmp_path))

    assert result.exit_code == ExitCode.OVER_BUDGET == 3
    assert "over the budget's max_usd_per_hour of 1.00" in result.stderr
    assert "g6e-2xlarge" in result.stdout  # the plan itself is still shown


def test_plan_as_json_over_budget_still_prints_the_plan(tmp_path: Path) -> None:
    result = invoke("plan", "--json", over_budget_campaign(tmp_path))

    assert result.exit_code == ExitCode.OVER_BUDGET
    assert json.loads(result.stdout)["budget"]["within"] is False


def test_plan_of_a_bad_file_exits_2_with_the_field_path() -> None:
    result = invoke("plan", MALFORMED / "ttl-longer-than-budget.yml")

    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "ttl: ttl (3h) is longer than budget.max_hours" in result.stderr


# --- staying light ----------------------------------------------------------------

_RUN_AND_LIST_HEAVY = """
import json, sys
from fmbench_orch.orchestrator.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="fmbench-orch")
except SystemExit as done:
    code = done.code
heavy = [name for name in {heavy!r} if name in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", "examples/quickstart.yml"]],
    ids=["help", "validate"],
)
def test_help_and_validate_import_no_cloud_or_ssh_library(args: list[str]) -> None:
    script = _RUN_AND_LIST_HEAVY.format(heavy=HEAVY_MODULES)

    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}, done.stderr


def test_the_installed_command_answers_help() -> None:
    command = Path(sys.executable).parent / "fmbench-orch"
    if not command.exists():
        pytest.skip("the fmbench-orch console script is not installed here")

    done = subprocess.run(
        [str(command), "--help"], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0
    assert "validate" in done.stdout and "plan" in done.stdout
    assert "Exit codes" in done.stdout
