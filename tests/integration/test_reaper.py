"""`reap` against moto's server: only what is ours and expired goes.

Each test gets a fresh account on a moto server on 127.0.0.1 holding, in two
regions, tagged resources past their TTL, tagged ones within it, and
untagged ones (some old, some named like ours). boto3 reaches the server
through AWS_ENDPOINT_URL; moto hands out public-looking addresses, which
nothing here dials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result

from fmbench_orch.models import catalog
from fmbench_orch.models.compile import (
    TAG_CAMPAIGN,
    TAG_RUN,
    TAG_TTL,
    StackValues,
    compile_campaign,
)
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.orchestrator.cli import cli
from fmbench_orch.orchestrator.commands.reap import reap
from fmbench_orch.orchestrator.errors import ExitCode
from fmbench_orch.orchestrator.reaper import plan_reap, render_plan
from fmbench_orch.orchestrator.registry import record_live

EAST, WEST = "us-east-1", "us-west-2"
EXPIRED = "2020-01-01T00:00:00+00:00"
SAGEMAKER_ROLE = "arn:aws:iam::123456789012:role/fmbench-tests"
# An image moto knows in every region; listing them all takes seconds.
IMAGE = "ami-12c6146b"


def tags(ttl: str | None, run: str = "2001011200ab") -> list[dict[str, str]]:
    if ttl is None:
        return [{"Key": "team", "Value": "perf"}]
    return [
        {"Key": TAG_CAMPAIGN, "Value": "llama"},
        {"Key": TAG_RUN, "Value": run},
        {"Key": TAG_TTL, "Value": ttl},
    ]


Resource = tuple[str, str, str]  # (region, kind, id)


@dataclass
class Account:
    """What a test made, by how it should fare: `expired` go, the rest stay."""

    expired: set[Resource] = field(default_factory=set)
    fresh: set[Resource] = field(default_factory=set)
    untagged: set[Resource] = field(default_factory=set)

    def add(self, group: str, region: str, kind: str, ident: str) -> None:
        getattr(self, group).add((region, kind, ident))

    def ids(self, group: str) -> set[str]:
        return {ident for _, _, ident in getattr(self, group)}


def populate(region: str, account: Account, fresh_ttl: str) -> None:
    ec2 = boto3.client("ec2", region_name=region)
    for group, ttl in (("expired", EXPIRED), ("fresh", fresh_ttl), ("untagged", None)):
        spec = [{"ResourceType": "instance", "Tags": tags(ttl)}]
        reply = ec2.run_instances(
            ImageId=IMAGE,
            InstanceType="g5.xlarge",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=spec,
        )
        account.add(group, region, "instance", reply["Instances"][0]["InstanceId"])
        sg = ec2.create_security_group(
            GroupName=f"fmbench-{group}-{region}",
            Description="test",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags(ttl)}],
        )
        account.add(group, region, "security-group", sg["GroupId"])
        pair = ec2.create_key_pair(
            KeyName=f"fmbench-{group}-{region}",
            TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags(ttl)}],
        )
        account.add(group, region, "key-pair", pair["KeyName"])
        bucket = f"fmbench-{group}-{region}"
        s3 = boto3.client("s3", region_name=region)
        where = {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **({} if region == EAST else where))
        s3.put_object(Bucket=bucket, Key="results/a.csv", Body=b"1,2\n")
        if ttl is not None:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags(ttl)})
        account.add(group, region, "bucket", bucket)
        endpoint = make_endpoint(region, f"fmbench-{group}", tags(ttl))
        account.add(group, region, "endpoint", endpoint)


def make_endpoint(region: str, name: str, tag_list: list[dict[str, str]]) -> str:
    sagemaker = boto3.client("sagemaker", region_name=region)
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=SAGEMAKER_ROLE,
        PrimaryContainer={"Image": "fmbench/serving:latest"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.g4dn.xlarge",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tag_list)
    return name


def existing(region: str) -> set[Resource]:
    """Every resource of the kinds reap handles that still exists."""
    ec2 = boto3.client("ec2", region_name=region)
    found = set()
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] != "terminated":
                found.add((region, "instance", instance["InstanceId"]))
    for group in ec2.describe_security_groups()["SecurityGroups"]:
        if group["GroupName"] != "default":
            found.add((region, "security-group", group["GroupId"]))
    for pair in ec2.describe_key_pairs()["KeyPairs"]:
        found.add((region, "key-pair", pair["KeyName"]))
    s3 = boto3.client("s3", region_name=region)
    for bucket in s3.list_buckets()["Buckets"]:
        where = s3.get_bucket_location(Bucket=bucket["Name"])["LocationConstraint"]
        if (where or EAST) == region:
            found.add((region, "bucket", bucket["Name"]))
    sagemaker = boto3.client("sagemaker", region_name=region)
    for endpoint in sagemaker.list_endpoints()["Endpoints"]:
        found.add((region, "endpoint", endpoint["EndpointName"]))
    return found


def both_regions() -> set[Resource]:
    return existing(EAST) | existing(WEST)


def listed_as_due(output: str) -> set[Resource]:
    """(region, kind, id) of the plan's lines for items due for removal."""
    due = set()
    for line in output.splitlines():
        if line.startswith("  ") and not line.startswith("  run "):
            kind, ident = line.split()[:2]
            region = EAST if f"  {EAST}  " in line else WEST
            due.add((region, kind, ident))
    return due


@pytest.fixture
def account(aws: str) -> Account:
    fresh_ttl = (datetime.now(UTC) + timedelta(hours=6)).isoformat(timespec="seconds")
    made = Account()
    populate(EAST, made, fresh_ttl)
    populate(WEST, made, fresh_ttl)
    return made


def run_reap(*args: str) -> Result:
    cli.add_command(reap)  # the same command `fmbench-orch reap` runs
    return CliRunner().invoke(cli, ["reap", *args], catch_exceptions=False)


def test_a_dry_run_lists_what_outlived_its_ttl_and_changes_nothing(
    account: Account,
) -> None:
    before = both_regions()

    result = run_reap("--dry-run", "--region", EAST, "--region", WEST)

    assert result.exit_code == 0, result.output
    assert listed_as_due(result.output) == account.expired
    assert "10 tagged resource(s) are within their TTL and stay" in result.output
    assert "dry run: nothing was changed" in result.output
    assert both_regions() == before


def test_reap_removes_only_expired_tagged_resources_in_every_region(
    account: Account,
) -> None:
    result = run_reap("--region", EAST, "--region", WEST)

    assert result.exit_code == 0, result.output
    assert both_regions() == account.fresh | account.untagged
    assert result.output.count("\nremoved ") == len(account.expired)
    assert result.output.endswith("nothing that outlived its TTL is left\n")


def test_a_second_reap_finds_nothing_and_succeeds(account: Account) -> None:
    run_reap("--region", EAST)

    again = run_reap("--region", EAST)

    assert again.exit_code == 0, again.output
    assert again.output.startswith("nothing has outlived its TTL")


def test_older_than_also_takes_fresh_tagged_resources_but_never_untagged_ones(
    account: Account,
) -> None:
    result = run_reap("--older-than", "0s", "--region", EAST, "--region", WEST)

    assert result.exit_code == 0, result.output
    assert both_regions() == account.untagged


def test_an_untagged_endpoint_named_like_ours_is_shown_with_how_to_delete_it(
    account: Account,
) -> None:
    result = run_reap("--region", EAST)

    assert (
        "left alone: endpoint fmbench-untagged in us-east-1 has no fmbench: tags; "
        "if FMBench made it, delete it with `aws sagemaker delete-endpoint "
        "--endpoint-name fmbench-untagged --region us-east-1`"
    ) in result.output
    assert (EAST, "endpoint", "fmbench-untagged") in existing(EAST)


def test_the_plan_shows_each_instances_cost_so_far_from_the_catalog(
    account: Account,
) -> None:
    [instance] = [i for r, k, i in account.expired if k == "instance" and r == EAST]
    launched = boto3.client("ec2", region_name=EAST).describe_instances(
        InstanceIds=[instance]
    )["Reservations"][0]["Instances"][0]["LaunchTime"]
    price = catalog.get_instance_type("g5.xlarge").price_per_hour(EAST)

    plan = plan_reap(regions=[EAST], now=launched + timedelta(hours=2))

    [due] = [item for item in plan.sweep.due if item.id == instance]
    assert due.spent_usd(plan.now) == pytest.approx(2 * price)
    assert f"~{2 * price:.2f} USD so far" in due.describe(plan.now)


def test_the_regions_of_a_campaign_file_are_swept(
    account: Account, tmp_path: Path
) -> None:
    campaign = tmp_path / "west.yml"
    campaign.write_text(
        "name: west\nprovider: aws\nregion: us-west-2\nhosts:\n"
        "  - instance_type: g5.xlarge\n"
        "    benchmarks: [{driver: command, run: 'true'}]\n"
    )

    plan = plan_reap(campaign_files=[campaign])

    assert plan.regions == (WEST,)
    assert {(item.region, item.kind, item.id) for item in plan.sweep.due} == {
        resource for resource in account.expired if resource[0] == WEST
    }


def test_without_any_region_nothing_in_the_account_is_looked_at(aws: str) -> None:
    result = run_reap()

    assert result.exit_code == 0, result.output
    assert "no AWS region to sweep" in result.output


def test_what_cannot_be_removed_is_listed_and_the_exit_code_says_so(
    account: Account,
) -> None:
    [protected] = [i for r, k, i in account.expired if k == "instance" and r == EAST]
    boto3.client("ec2", region_name=EAST).modify_instance_attribute(
        InstanceId=protected, DisableApiTermination={"Value": True}
    )

    result = run_reap("--region", EAST)

    assert result.exit_code == ExitCode.TEARDOWN_FAILED, result.output
    assert f"instance {protected} in us-east-1" in result.output
    assert "could not be removed and may still cost money" in result.output
    left = existing(EAST)
    assert (EAST, "instance", protected) in left
    assert (EAST, "endpoint", "fmbench-expired") not in left


def test_static_hosts_are_never_reaped_only_pointed_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FMBENCH_ORCH_HOME", str(tmp_path / "home"))
    key = tmp_path / "id_ed25519"
    key.write_text("not read by the compile step")
    campaign = tmp_path / "static.yml"
    campaign.write_text(
        "name: mine\nprovider: static\nhosts:\n"
        "  - instance_type: g5.xlarge\n"
        "    static: {address: 127.0.0.1, key_file: id_ed25519}\n"
        "    benchmarks: [{driver: command, run: 'true'}]\n"
    )
    values = StackValues(
        run_id="2001011200ab",
        created_at=datetime(2020, 1, 1, 12, tzinfo=UTC),
        operator="alice",
    )
    spec = compile_campaign(load_campaign(campaign), values)
    record_live(tmp_path / "runs" / "mine", spec)

    plan = plan_reap()

    assert plan.runs == []
    [(run, reason)] = plan.left_alone
    assert run.stack_name == "mine-2001011200ab"
    assert f"static hosts are yours; `{run.down_command}` cleans up" == reason
    assert "left alone: run mine-2001011200ab" in render_plan(plan)


def test_after_a_stacks_destroy_the_runs_strays_go_and_nothing_else(
    account: Account,
) -> None:
    """An update interrupted mid-create leaves resources the state forgot."""
    from fmbench_orch.orchestrator.aws_leftovers import boto_clients
    from fmbench_orch.orchestrator.aws_removal import sweep_run

    run = "2612031200cd"
    fresh_ttl = (datetime.now(UTC) + timedelta(hours=6)).isoformat(timespec="seconds")
    strays: set[Resource] = set()
    for region in (EAST, WEST):
        ec2 = boto3.client("ec2", region_name=region)
        reply = ec2.run_instances(
            ImageId=IMAGE,
            InstanceType="g6e.2xlarge",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": tags(fresh_ttl, run)}
            ],
        )
        strays.add((region, "instance", reply["Instances"][0]["InstanceId"]))
        group = ec2.create_security_group(
            GroupName=f"fmbench-stray-{region}",
            Description="test",
            TagSpecifications=[
                {"ResourceType": "security-group", "Tags": tags(fresh_ttl, run)}
            ],
        )
        strays.add((region, "security-group", group["GroupId"]))
    before = both_regions()

    removal = sweep_run([EAST, WEST], run, boto_clients())

    assert removal.failures == []
    assert {(r.region, r.kind, r.id) for r in removal.removed} == strays
    assert both_regions() == before - strays
    assert sweep_run([EAST, WEST], run, boto_clients()).removed == []
