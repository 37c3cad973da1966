"""The compile step: a campaign becomes the spec every provisioner reads."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fmbench_orch.models.benchmark import DEFAULT_FMBENCH_VERSION
from fmbench_orch.models.campaign import MAX_CAMPAIGN_NAME, CampaignConfig
from fmbench_orch.models.catalog import get_instance_type
from fmbench_orch.models.compile import (
    FMBENCH_NO_BUCKET,
    TAG_CAMPAIGN,
    TAG_HOST,
    TAG_OWNER,
    TAG_RUN,
    TAG_TTL,
    StackValues,
    aws_partition,
    compile_campaign,
    worst_case_hours,
)
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.models.spec import StackSpec, StatementSpec

EXAMPLES = Path(__file__).parents[2] / "examples"
CREATED = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
VALUES = StackValues(
    run_id="ab12cd34ef56",
    created_at=CREATED,
    operator="alice",
    operator_cidr="203.0.113.7/32",
)
SHORTHAND = "fmbench:llama3/8b/config-ec2-llama3-8b-g6e-2xlarge.yml"
SAGEMAKER_POLICY = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"


def campaign(**fields: object) -> CampaignConfig:
    document = {
        "name": "unit",
        "provider": "aws",
        "hosts": [
            {
                "instance_type": "g6e.2xlarge",
                "benchmarks": [{"driver": "command", "run": "true"}],
            }
        ],
        **fields,
    }
    return CampaignConfig.model_validate(document)


def fmbench_host(**benchmark: object) -> dict[str, object]:
    return {
        "instance_type": "g6e.2xlarge",
        "benchmarks": [{"driver": "fmbench", "config": SHORTHAND, **benchmark}],
    }


def example(name: str) -> CampaignConfig:
    return load_campaign(EXAMPLES / name)


def test_compiling_twice_with_the_same_values_gives_the_same_spec() -> None:
    loaded = example("ec2-llama3-8b-g6e.yml")

    first = compile_campaign(loaded, VALUES)
    second = compile_campaign(loaded, VALUES)

    assert first == second
    assert first.model_dump_json() == second.model_dump_json()


def test_the_spec_round_trips_through_json() -> None:
    spec = compile_campaign(example("ec2-llama3-8b-g6e.yml"), VALUES)

    assert StackSpec.model_validate_json(spec.model_dump_json()) == spec


def test_the_quickstart_spec_round_trips_through_json_with_its_uploads() -> None:
    spec = compile_campaign(example("quickstart.yml"), VALUES)

    again = StackSpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    assert again.hosts[0].uploads[0].local == EXAMPLES / "workloads" / "sweep.py"


def test_every_host_is_tagged_with_campaign_run_ttl_and_owner() -> None:
    spec = compile_campaign(
        campaign(
            ttl="2h",
            tags={"team": "perf"},
            hosts=[
                {
                    "name": "gpu",
                    "count": 2,
                    "instance_type": "g6e.2xlarge",
                    "benchmarks": [{"driver": "command", "run": "true"}],
                }
            ],
        ),
        VALUES,
    )

    for host in spec.hosts:
        assert host.tags == {
            "team": "perf",
            TAG_CAMPAIGN: "unit",
            TAG_RUN: "ab12cd34ef56",
            TAG_TTL: "2025-09-01T14:00:00+00:00",
            TAG_OWNER: "alice",
            TAG_HOST: host.name,
        }
    assert [host.name for host in spec.hosts] == ["gpu-1", "gpu-2"]
    assert spec.expires_at - spec.created_at == timedelta(hours=2)


def test_the_campaigns_owner_wins_over_the_operator() -> None:
    spec = compile_campaign(campaign(owner="perf-team"), VALUES)

    assert spec.owner == "perf-team"
    assert spec.hosts[0].tags[TAG_OWNER] == "perf-team"


def test_the_bucket_name_fits_s3s_limit_for_the_longest_campaign_name() -> None:
    longest = "a" * (MAX_CAMPAIGN_NAME - 2) + "-z"
    spec = compile_campaign(campaign(name=longest), VALUES)

    assert spec.bucket is not None and spec.role is not None
    assert len(spec.bucket.name) <= 63
    assert spec.bucket.name == f"fmbench-{longest}-ab12cd34ef56"
    assert len(spec.role.name) <= 64


def test_the_bucket_name_is_a_valid_s3_name() -> None:
    spec = compile_campaign(campaign(name="llama3-8b-g6e"), VALUES)

    assert spec.bucket is not None
    name = spec.bucket.name
    assert name == name.lower() and name[0].isalnum() and name[-1].isalnum()
    assert ".." not in name and "_" not in name


def test_the_fmbench_shorthand_resolves_at_the_installed_versions_tag() -> None:
    spec = compile_campaign(campaign(hosts=[fmbench_host()]), VALUES)

    benchmark = spec.hosts[0].benchmarks[0]
    assert benchmark.config == (
        "https://raw.githubusercontent.com/aws-samples/"
        f"foundation-model-benchmarking-tool/refs/tags/v{DEFAULT_FMBENCH_VERSION}"
        "/fmbench/configs/llama3/8b/config-ec2-llama3-8b-g6e-2xlarge.yml"
    )
    assert benchmark.config_is_local is False
    assert benchmark.fmbench_version == DEFAULT_FMBENCH_VERSION


def test_a_pinned_version_moves_the_shorthand_to_its_tag() -> None:
    spec = compile_campaign(campaign(hosts=[fmbench_host(version="2.0.1")]), VALUES)

    assert "/refs/tags/v2.0.1/fmbench/configs/" in str(
        spec.hosts[0].benchmarks[0].config
    )


def test_the_fmbench_shorthand_follows_a_github_repo_and_ref() -> None:
    host = fmbench_host(repo="https://github.com/me/my-fmbench.git", ref="fix-1")

    spec = compile_campaign(campaign(hosts=[host]), VALUES)

    benchmark = spec.hosts[0].benchmarks[0]
    assert benchmark.config == (
        "https://raw.githubusercontent.com/me/my-fmbench/fix-1/fmbench/configs/"
        "llama3/8b/config-ec2-llama3-8b-g6e-2xlarge.yml"
    )
    assert (benchmark.fmbench_repo, benchmark.fmbench_ref) == (
        "https://github.com/me/my-fmbench.git",
        "fix-1",
    )
    assert benchmark.fmbench_version is None


def test_a_url_config_is_passed_through_unchanged() -> None:
    host = fmbench_host()
    host["benchmarks"] = [{"driver": "fmbench", "config": "s3://b/config.yml"}]

    spec = compile_campaign(campaign(hosts=[host]), VALUES)

    assert spec.hosts[0].benchmarks[0].config == "s3://b/config.yml"
    assert spec.hosts[0].benchmarks[0].config_is_local is False


def test_fmbench_writes_to_the_campaign_bucket_unless_told_otherwise() -> None:
    spec = compile_campaign(
        campaign(
            hosts=[
                {**fmbench_host(), "name": "a"},
                {**fmbench_host(write_bucket="mine"), "name": "b"},
            ]
        ),
        VALUES,
    )
    local = compile_campaign(campaign(provider="local", hosts=[fmbench_host()]), VALUES)

    assert spec.bucket is not None
    assert [h.benchmarks[0].write_bucket for h in spec.hosts] == [
        spec.bucket.name,
        "mine",
    ]
    assert local.hosts[0].benchmarks[0].write_bucket == FMBENCH_NO_BUCKET


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2"])
def test_each_host_is_priced_from_the_catalog_in_its_region(region: str) -> None:
    spec = compile_campaign(
        campaign(
            region=region,
            hosts=[
                {
                    "instance_type": name,
                    "benchmarks": [{"driver": "command", "run": "true"}],
                }
                for name in ("g6e.2xlarge", "g5.12xlarge")
            ],
        ),
        VALUES,
    )

    expected = [
        get_instance_type(name).price_per_hour(region)
        for name in ("g6e.2xlarge", "g5.12xlarge")
    ]
    assert [host.price_per_hour for host in spec.hosts] == expected
    assert spec.usd_per_hour == pytest.approx(sum(expected))


def test_ssh_ingress_defaults_to_the_operators_address() -> None:
    spec = compile_campaign(campaign(), VALUES)

    assert spec.hosts[0].network.ssh_ingress_cidrs == ("203.0.113.7/32",)


def test_ssh_ingress_written_in_the_campaign_wins() -> None:
    host = {
        "instance_type": "g6e.2xlarge",
        "network": {"ssh_ingress_cidrs": ["10.0.0.0/8"]},
        "benchmarks": [{"driver": "command", "run": "true"}],
    }

    spec = compile_campaign(campaign(hosts=[host]), VALUES)

    assert spec.hosts[0].network.ssh_ingress_cidrs == ("10.0.0.0/8",)


def test_without_an_operator_address_no_ingress_is_opened() -> None:
    values = VALUES.model_copy(update={"operator_cidr": None})

    spec = compile_campaign(campaign(), values)

    assert spec.hosts[0].network.ssh_ingress_cidrs == ()


def test_an_alias_becomes_the_ssm_parameter_of_its_architecture() -> None:
    spec = compile_campaign(
        campaign(
            hosts=[
                {
                    "instance_type": name,
                    "benchmarks": [{"driver": "command", "run": "true"}],
                }
                for name in ("g6e.2xlarge", "c7g.xlarge", "inf2.xlarge")
            ]
        ),
        VALUES,
    )

    images = [host.image for host in spec.hosts]
    assert [image.alias for image in images] == ["gpu", "arm", "neuron"]
    assert "x86_64" in str(images[0].ssm_parameter)
    assert "arm64" in str(images[1].ssm_parameter)
    assert "neuron" in str(images[2].ssm_parameter)
    assert all(image.ami_id is None for image in images)


def test_an_ami_id_is_used_as_it_is() -> None:
    host = {
        "instance_type": "g6e.2xlarge",
        "ami": "ami-0123456789abcdef0",
        "ssh_user": "ec2-user",
        "benchmarks": [{"driver": "command", "run": "true"}],
    }

    spec = compile_campaign(campaign(hosts=[host]), VALUES)

    assert spec.hosts[0].image.ami_id == "ami-0123456789abcdef0"
    assert spec.hosts[0].image.ssm_parameter is None
    assert spec.hosts[0].ssh_user == "ec2-user"


def test_only_aws_campaigns_get_a_bucket_and_a_role() -> None:
    local = compile_campaign(campaign(provider="local"), VALUES)
    aws = compile_campaign(campaign(), VALUES)

    assert (local.bucket, local.role) == (None, None)
    assert aws.bucket is not None and aws.role is not None
    assert aws.role.bucket_prefix == "ab12cd34ef56/"


def test_an_aws_role_without_permissions_gets_only_the_bucket() -> None:
    spec = compile_campaign(example("ec2-llama3-8b-g6e.yml"), VALUES)

    assert spec.role is not None
    assert spec.role.managed_policy_arns == ()
    assert (spec.role.statements, spec.role.input_object_arns) == ((), ())
    assert spec.role.execution_role is None
    assert {b.execution_role for h in spec.hosts for b in h.benchmarks} == {None}


def test_the_permissions_a_campaign_asks_for_reach_the_role_as_written() -> None:
    spec = compile_campaign(
        campaign(
            permissions={
                "managed_policies": [SAGEMAKER_POLICY],
                "statements": [
                    {
                        "sid": "Models",
                        "effect": "Allow",
                        "actions": ["bedrock:InvokeModel"],
                        "resources": ["arn:aws:bedrock:us-east-1::foundation-model/*"],
                    }
                ],
            }
        ),
        VALUES,
    )

    assert spec.role is not None
    assert spec.role.managed_policy_arns == (SAGEMAKER_POLICY,)
    assert spec.role.statements == (
        StatementSpec(
            sid="Models",
            effect="Allow",
            actions=("bedrock:InvokeModel",),
            resources=("arn:aws:bedrock:us-east-1::foundation-model/*",),
        ),
    )
    assert spec.role.execution_role is None


def test_an_execution_role_is_named_for_the_run_and_trusts_sagemaker() -> None:
    longest = "a" * (MAX_CAMPAIGN_NAME - 2) + "-z"
    spec = compile_campaign(
        campaign(
            name=longest,
            hosts=[fmbench_host(), {**fmbench_host(), "name": "second"}],
            permissions={"sagemaker_execution_role": True},
        ),
        VALUES,
    )

    assert spec.role is not None and spec.role.execution_role is not None
    execution = spec.role.execution_role
    assert execution.name == f"fmbench-{longest}-ab12cd34ef56-sm"
    assert len(execution.name) <= 64  # IAM's limit, with the whole run id kept
    assert execution.service == "sagemaker.amazonaws.com"
    assert execution.managed_policy_arns == (SAGEMAKER_POLICY,)
    assert [b.execution_role for h in spec.hosts for b in h.benchmarks] == [
        execution.name,
        execution.name,
    ]
    assert StackSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    ("region", "partition"),
    [("us-east-1", "aws"), ("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")],
)
def test_arns_the_spec_writes_are_in_the_regions_partition(
    region: str, partition: str
) -> None:
    # The catalog prices no host outside `aws`, so the helper is asked directly.
    assert aws_partition(region) == partition


def test_fmbench_configs_on_s3_are_the_only_inputs_the_role_may_read() -> None:
    spec = compile_campaign(
        campaign(
            hosts=[
                fmbench_host(config="s3://team-configs/llama3/g6e.yml"),
                {
                    **fmbench_host(config="s3://team-configs/llama3/g6e.yml"),
                    "name": "b",
                },
                {**fmbench_host(config="https://example.com/config.yml"), "name": "c"},
                {**fmbench_host(), "name": "d"},
            ]
        ),
        VALUES,
    )

    assert spec.role is not None
    assert spec.role.input_object_arns == ("arn:aws:s3:::team-configs/llama3/g6e.yml",)


def test_a_spec_saved_before_permissions_existed_still_loads() -> None:
    spec = compile_campaign(example("ec2-llama3-8b-g6e.yml"), VALUES)
    saved = json.loads(spec.model_dump_json())
    for field in ("statements", "input_object_arns", "execution_role"):
        del saved["role"][field]
    for host in saved["hosts"]:
        for benchmark in host["benchmarks"]:
            del benchmark["execution_role"]

    assert StackSpec.model_validate(saved) == spec


def test_the_stack_is_named_after_the_campaign_and_run() -> None:
    spec = compile_campaign(campaign(name="llama3-8b-g6e"), VALUES)

    assert spec.stack_name == "llama3-8b-g6e-ab12cd34ef56"


def test_stack_values_refuse_a_run_id_unfit_for_names() -> None:
    with pytest.raises(ValueError, match="run_id"):
        StackValues(run_id="Run_1", created_at=CREATED, operator="alice")


def test_worst_case_is_the_slowest_host_plus_bootstrap() -> None:
    spec = compile_campaign(example("ec2-llama3-8b-g6e.yml"), VALUES)

    # Each host runs one benchmark with a 5400 s timeout; the TTL is 3 h.
    assert worst_case_hours(spec, timedelta(minutes=30)) == pytest.approx(2.0)


def test_worst_case_never_exceeds_the_ttl() -> None:
    spec = compile_campaign(example("ec2-llama3-8b-g6e.yml"), VALUES)

    assert worst_case_hours(spec, timedelta(hours=10)) == pytest.approx(3.0)
