"""`plan --check-aws` against moto's server: offerings, images and quotas.

Each test gets a fresh account on a moto server on 127.0.0.1, reached through
AWS_ENDPOINT_URL (the `aws` fixture). Offerings, images, SSM parameters and
running instances are moto's own answers. Two things moto cannot serve:

- EC2 vCPU quotas: moto implements `get_service_quota` for service code
  `vpc` only and answers NoSuchResourceException for `ec2`. The quota
  arithmetic is therefore tested with a small stand-in for the one
  `service-quotas` client, handed in through the client factory; every other
  client stays a real boto3 client on moto. One test lets moto answer, to
  show that an unreadable quota is a warning.
- The public parameters the catalog's aliases name (Deep Learning AMI,
  Ubuntu): moto holds only the Amazon Linux and ECS ones and refuses to
  create any under `/aws/`. An alias test swaps in an Amazon Linux
  parameter moto serves; the catalog's own aliases are tested as missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from click.testing import CliRunner

from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.spec import ImageSpec, StackSpec
from fmbench_orch.orchestrator import aws_leftovers, markdown
from fmbench_orch.orchestrator.aws_checks import AwsChecks, check_spec, quota_for
from fmbench_orch.orchestrator.cli import cli
from fmbench_orch.orchestrator.errors import ExitCode
from fmbench_orch.orchestrator.plan import plan_spec

EAST = "us-east-1"
CLI = [sys.executable, "-m", "fmbench_orch.orchestrator"]
# Images moto knows in every region: one x86_64, one arm64.
IMAGE = "ami-12c6146b"
ARM_IMAGE = "ami-0e9271c829888680e"
NO_SUCH_IMAGE = "ami-0123456789abcdef0"
# A public parameter moto serves in every region.
AMAZON_LINUX = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
G_ON_DEMAND, G_SPOT, P_ON_DEMAND = "L-DB2E81BA", "L-3819A6DF", "L-417A185B"
BENCHMARK = {"driver": "command", "run": "true"}


def campaign(*hosts: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "aws-checks",
        "provider": "aws",
        "region": EAST,
        "hosts": [
            {"ami": IMAGE, "ssh_user": "ubuntu", "benchmarks": [BENCHMARK], **host}
            for host in hosts
        ],
    }


def compiled(*hosts: dict[str, Any]) -> StackSpec:
    return plan_spec(CampaignConfig.model_validate(campaign(*hosts)))


class QuotaTable:
    """Stands in for the `service-quotas` client: moto has no EC2 quotas."""

    def __init__(self, values: Mapping[tuple[str, str], float], region: str):
        self.values, self.region = values, region

    # boto3's own argument names, so the checks call it as they call boto3.
    def get_service_quota(self, ServiceCode: str, QuotaCode: str) -> dict[str, Any]:
        assert ServiceCode == "ec2"
        try:
            return {"Quota": {"Value": self.values[(self.region, QuotaCode)]}}
        except KeyError:
            error = {"Code": "NoSuchResourceException", "Message": "no such quota"}
            raise ClientError({"Error": error}, "GetServiceQuota") from None


def with_quotas(values: Mapping[tuple[str, str], float]) -> aws_leftovers.Clients:
    """boto3 on moto for every service, the quota table for Service Quotas."""
    real = aws_leftovers.boto_clients()

    def client(service: str, region: str) -> Any:
        if service == "service-quotas":
            return QuotaTable(values, region)
        return real(service, region)

    return client


def verdicts(checks: AwsChecks, check: str) -> list[str]:
    return [f.verdict for f in checks.findings if f.check == check]


def only_failure(checks: AwsChecks) -> str:
    assert len(checks.failures) == 1, checks.findings
    return checks.failures[0].describe()


# --- checks against moto ------------------------------------------------------


def test_a_campaign_aws_can_launch_passes_every_check(aws: str) -> None:
    spec = compiled(
        {
            "instance_type": "g6e.2xlarge",
            "fallbacks": [{"availability_zone": "us-east-1b"}],
        },
        {"instance_type": "g6e.4xlarge"},
    )

    checks = check_spec(spec, with_quotas({(EAST, G_ON_DEMAND): 64}))

    assert checks.passed and not checks.warnings, checks.findings
    assert verdicts(checks, "offering") == ["ok"] * 3  # two hosts and a fallback
    assert verdicts(checks, "image") == ["ok"] * 3
    [quota] = [f for f in checks.findings if f.check == "quota"]
    assert quota.hosts == ("g6e-2xlarge", "g6e-4xlarge")
    assert "L-DB2E81BA" in quota.message and "need 24" in quota.message


def test_a_type_not_offered_in_the_region_fails_saying_pick_another(aws: str) -> None:
    # The catalog has no price for p5e.48xlarge in us-east-1, so no campaign
    # compiles to it; the check is there for a catalog that went stale.
    spec = compiled({"instance_type": "g6e.2xlarge"})
    stale = spec.with_host(
        spec.hosts[0].model_copy(update={"instance_type": "p5e.48xlarge"})
    )

    checks = check_spec(stale, with_quotas({(EAST, P_ON_DEMAND): 384}))

    assert only_failure(checks) == (
        "g6e-2xlarge: p5e.48xlarge is not offered in any zone of us-east-1; pick "
        "another region or instance type"
    )


def test_a_zone_that_does_not_offer_the_type_fails_naming_those_that_do(
    aws: str,
) -> None:
    spec = compiled({"instance_type": "g6e.2xlarge", "availability_zone": "us-east-1e"})

    checks = check_spec(spec, with_quotas({(EAST, G_ON_DEMAND): 64}))

    message = only_failure(checks)
    assert "g6e.2xlarge is not offered in us-east-1e" in message
    assert "us-east-1a, us-east-1b, us-east-1c, us-east-1d" in message
    assert "set availability_zone to one of those" in message


def test_a_fallback_is_checked_like_its_host_and_named_as_a_fallback(aws: str) -> None:
    spec = compiled(
        {
            "instance_type": "g6e.2xlarge",
            "fallbacks": [{"availability_zone": "us-east-1f"}],
        }
    )

    checks = check_spec(spec, with_quotas({(EAST, G_ON_DEMAND): 64}))

    assert only_failure(checks).startswith(
        "g6e-2xlarge: fallback 1: g6e.2xlarge is not offered in us-east-1f"
    )


def test_an_ami_id_that_does_not_exist_fails_with_what_to_do(aws: str) -> None:
    spec = compiled({"instance_type": "g6e.2xlarge", "ami": NO_SUCH_IMAGE})

    checks = check_spec(spec, with_quotas({(EAST, G_ON_DEMAND): 64}))

    assert only_failure(checks) == (
        f"g6e-2xlarge: image {NO_SUCH_IMAGE} does not exist in us-east-1, or this "
        "account may not use it; copy or share it into us-east-1, or use an alias "
        "(ami: gpu, cpu, neuron, arm)"
    )


def test_an_image_of_the_wrong_architecture_fails(aws: str) -> None:
    spec = compiled({"instance_type": "g6e.2xlarge", "ami": ARM_IMAGE})

    checks = check_spec(spec, with_quotas({(EAST, G_ON_DEMAND): 64}))

    assert f"image {ARM_IMAGE} is arm64 but g6e.2xlarge is x86_64" in only_failure(
        checks
    )


def test_an_alias_resolves_through_its_public_parameter_in_the_region(
    aws: str,
) -> None:
    spec = compiled({"instance_type": "m7i.xlarge", "ami": "cpu"})
    image = ImageSpec(alias="cpu", ssm_parameter=AMAZON_LINUX)
    spec = spec.with_host(spec.hosts[0].model_copy(update={"image": image}))

    checks = check_spec(spec, with_quotas({(EAST, "L-1216C47A"): 32}))

    assert checks.passed and not checks.warnings, checks.findings
    [image_check] = [f for f in checks.findings if f.check == "image"]
    assert image_check.message.startswith("alias cpu resolves to ami-")


def test_an_alias_whose_public_parameter_is_missing_fails_naming_it(aws: str) -> None:
    spec = compiled({"instance_type": "g6e.2xlarge", "ami": None})

    checks = check_spec(spec, with_quotas({(EAST, G_ON_DEMAND): 64}))

    message = only_failure(checks)
    assert message.startswith("g6e-2xlarge: alias gpu has no image in us-east-1")
    assert spec.hosts[0].image.ssm_parameter in message
    assert "set an ami-… id that exists in us-east-1" in message


# --- quotas ---------------------------------------------------------------------


def test_too_small_a_quota_fails_naming_the_increase_to_ask_for(aws: str) -> None:
    spec = compiled({"instance_type": "g6e.2xlarge"}, {"instance_type": "g6e.4xlarge"})

    checks = check_spec(spec, with_quotas({(EAST, G_ON_DEMAND): 16}))

    message = only_failure(checks)
    assert message.startswith("g6e-2xlarge, g6e-4xlarge: quota L-DB2E81BA")
    assert "is 16 vCPUs; these hosts need 24 and 0 are in use" in message
    assert (
        "request a quota increase for L-DB2E81BA in us-east-1 to at least 24 vCPUs"
        in message
    )


def test_instances_already_running_count_against_the_quota(aws: str) -> None:
    ec2 = boto3.client("ec2", region_name=EAST)
    ec2.run_instances(ImageId=IMAGE, InstanceType="g5.xlarge", MinCount=1, MaxCount=1)
    spec = compiled({"instance_type": "g6e.2xlarge"})

    checks = check_spec(spec, with_quotas({(EAST, G_ON_DEMAND): 8}))

    message = only_failure(checks)
    assert "these hosts need 8 and 4 are in use" in message
    assert "to at least 12 vCPUs" in message


def test_a_spot_host_is_held_to_the_spot_quota(aws: str) -> None:
    spec = compiled({"instance_type": "g6e.2xlarge", "spot": True})

    checks = check_spec(spec, with_quotas({(EAST, G_SPOT): 8}))

    assert checks.passed and not checks.warnings, checks.findings
    [quota] = [f for f in checks.findings if f.check == "quota"]
    assert "L-3819A6DF (All G and VT Spot Instance Requests)" in quota.message


def test_a_fallback_short_of_its_quota_is_a_warning(aws: str) -> None:
    spec = compiled(
        {
            "instance_type": "g6e.2xlarge",
            "fallbacks": [{"instance_type": "p4d.24xlarge"}],
        }
    )

    checks = check_spec(
        spec, with_quotas({(EAST, G_ON_DEMAND): 64, (EAST, P_ON_DEMAND): 0})
    )

    assert checks.passed
    [warning] = checks.warnings
    assert warning.describe() == (
        "g6e-2xlarge: quota L-417A185B (Running On-Demand P instances) in us-east-1 "
        "is 0 vCPUs; fallback 1 (p4d.24xlarge in us-east-1) would need 96 and 0 "
        "are in use, so it could not launch either; request a quota increase for "
        "L-417A185B in us-east-1 to at least 96 vCPUs, or drop it"
    )


def test_a_fallback_in_another_region_warns_once_when_its_quota_is_unread(
    aws: str,
) -> None:
    spec = compiled(
        {
            "instance_type": "g6e.2xlarge",
            "ami": None,
            "fallbacks": [
                {"region": "us-west-2"},
                {"instance_type": "g6e.4xlarge", "region": "us-west-2"},
            ],
        }
    )

    checks = check_spec(spec, with_quotas({(EAST, G_ON_DEMAND): 64}))

    quotas = [f for f in checks.findings if f.check == "quota"]
    assert [(f.verdict, f.region) for f in quotas] == [
        ("ok", EAST),
        ("warning", "us-west-2"),
    ]
    assert "fallback 1 (g6e.2xlarge in us-west-2) would need 8 vCPUs" in (
        quotas[1].message
    )


def test_a_quota_aws_will_not_tell_is_a_warning_not_a_failure(aws: str) -> None:
    spec = compiled({"instance_type": "g6e.2xlarge"})

    checks = check_spec(spec)  # moto answers NoSuchResourceException for ec2

    assert checks.passed
    [warning] = checks.warnings
    assert warning.message.startswith(
        "could not read quota L-DB2E81BA (Running On-Demand G and VT instances) in "
        "us-east-1: NoSuchResourceException"
    )
    assert "these hosts need 8 vCPUs of it" in warning.message


@pytest.mark.parametrize(
    ("instance_type", "spot", "code"),
    [
        ("g6e.2xlarge", False, "L-DB2E81BA"),
        ("g6e.2xlarge", True, "L-3819A6DF"),
        ("p4d.24xlarge", False, "L-417A185B"),
        ("p4d.24xlarge", True, "L-7212CCBC"),
        ("p5.48xlarge", False, "L-417A185B"),
        ("p5.48xlarge", True, "L-C4BD4855"),
        ("m7i.xlarge", False, "L-1216C47A"),
        ("c7g.large", True, "L-34B43A08"),
        ("inf2.xlarge", False, "L-1945791B"),
        ("inf2.xlarge", True, "L-B5D1601B"),
        ("trn1.2xlarge", False, "L-2C3B7624"),
        ("trn1.2xlarge", True, "L-6B0D517C"),
        ("dl1.24xlarge", False, None),
    ],
)
def test_each_family_counts_against_the_quota_aws_names_for_it(
    instance_type: str, spot: bool, code: str | None
) -> None:
    quota = quota_for(instance_type, spot)

    assert (quota and quota.code) == code


def test_the_markdown_section_lists_what_failed_and_warned_but_not_what_passed(
    aws: str,
) -> None:
    spec = compiled({"instance_type": "g6e.2xlarge", "ami": NO_SUCH_IMAGE})

    section = markdown.aws_checks_section(check_spec(spec).as_dict())

    heading, _, *items = section.splitlines()
    assert heading == "#### ❌ AWS checks: 1 failed · 1 warning(s) · 1 passed"
    assert [item[:4] for item in items] == ["- ❌ ", "- ⚠️"]
    assert f"image {NO_SUCH_IMAGE} does not exist" in items[0]


# --- the command line -------------------------------------------------------------


def plan(
    directory: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`fmbench-orch plan --check-aws …` in a child, with the fixture's env."""
    return subprocess.run(
        [*CLI, "plan", "--check-aws", *args],
        cwd=directory,
        env={"COLUMNS": "200", **(os.environ if env is None else env)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def write(directory: Path, *hosts: dict[str, Any]) -> str:
    path = directory / "campaign.yml"
    path.write_text(yaml.safe_dump(campaign(*hosts)))
    return str(path)


def test_plan_check_aws_exits_5_and_lists_the_findings_after_the_plan(
    aws: str, tmp_path: Path
) -> None:
    path = write(tmp_path, {"instance_type": "g6e.2xlarge", "ami": NO_SUCH_IMAGE})

    done = plan(tmp_path, path)

    assert done.returncode == ExitCode.PROVISION_FAILED == 5, done.stderr
    plan_table, findings = done.stdout.split("AWS checks: ", 1)
    assert "g6e-2xlarge" in plan_table
    assert findings.startswith("1 failed, 1 warning(s), 1 passed")
    assert f"✗ g6e-2xlarge: image {NO_SUCH_IMAGE} does not exist" in findings
    assert "! g6e-2xlarge: could not read quota L-DB2E81BA" in findings
    assert "plan --check-aws: 1 check(s) of campaign aws-checks failed" in done.stderr


def test_plan_check_aws_as_json_carries_the_findings_and_exits_0_when_they_pass(
    aws: str, tmp_path: Path
) -> None:
    path = write(tmp_path, {"instance_type": "g6e.2xlarge"})

    done = plan(tmp_path, "--json", path)

    assert done.returncode == ExitCode.OK, done.stderr
    checks = json.loads(done.stdout)["aws_checks"]
    assert (checks["passed"], checks["failures"], checks["warnings"]) == (True, 0, 1)
    assert [f["check"] for f in checks["findings"]] == ["offering", "image", "quota"]
    assert checks["findings"][0]["hosts"] == ["g6e-2xlarge"]


def test_plan_check_aws_without_credentials_fails_saying_how_to_set_them(
    aws: str, tmp_path: Path
) -> None:
    path = write(tmp_path, {"instance_type": "g6e.2xlarge"})
    missing = str(tmp_path / "no-such-file")
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    env = {k: v for k, v in os.environ.items() if k not in keys}
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": missing,
        "AWS_CONFIG_FILE": missing,
        # Never ask the instance metadata address for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
    }

    done = plan(tmp_path, path, env=env)

    assert done.returncode == ExitCode.PROVISION_FAILED, done.stderr
    assert "✗ no usable AWS credentials" in done.stdout
    assert "configure them (aws configure, AWS_PROFILE" in done.stdout


def test_plan_check_aws_of_a_local_campaign_has_nothing_to_check(
    tmp_path: Path,
) -> None:
    path = tmp_path / "local.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "local",
                "provider": "local",
                "hosts": [{"instance_type": "m7i.xlarge", "benchmarks": [BENCHMARK]}],
            }
        )
    )

    result = CliRunner().invoke(cli, ["plan", "--check-aws", str(path)])

    assert result.exit_code == ExitCode.OK, result.output
    assert "AWS checks: provider local creates nothing on AWS" in result.stdout
