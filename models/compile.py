"""The compile step: a validated campaign becomes a fully resolved StackSpec.

A pure function — no network, no clock, no randomness. What needs any of
those (the run id, the creation time, the operator's address) is decided once
when a stack is created and passed in as `StackValues`, which the stack keeps
in its configuration, so compiling the same campaign for the same stack
always gives the same spec (and `pulumi preview` shows no diff).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from fmbench_orch.models import catalog
from fmbench_orch.models.benchmark import (
    FMBENCH_SHORTHAND,
    CommandBenchmark,
    FmbenchBenchmark,
    github_owner_repo,
)
from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.host import HostConfig
from fmbench_orch.models.permissions import Permissions
from fmbench_orch.models.spec import (
    BenchmarkSpec,
    BucketSpec,
    CapacitySpec,
    ExecutionRoleSpec,
    HostSpec,
    ImageSpec,
    NetworkSpec,
    Placement,
    RoleSpec,
    StackSpec,
    StatementSpec,
    StaticSpec,
    StorageSpec,
    UploadSpec,
)

TAG_CAMPAIGN = "fmbench:campaign"
TAG_RUN = "fmbench:run"
TAG_TTL = "fmbench:ttl"
TAG_OWNER = "fmbench:owner"
TAG_HOST = "fmbench:host"

FMBENCH_REPOSITORY = "https://github.com/aws-samples/foundation-model-benchmarking-tool"
# Objects in the drop-zone bucket outlive nothing: harvest copies them out
# before teardown. The lifecycle rule only matters if teardown never ran.
BUCKET_EXPIRE_DAYS = 7
# FMBench accepts this literal when it should not write to S3 at all.
FMBENCH_NO_BUCKET = "placeholder"
RUN_ID_PATTERN = r"^[a-z0-9]{4,12}$"
# FMBench reads the Hugging Face token from this file of its read area.
HF_TOKEN_REMOTE = "/tmp/fmbench-read/scripts/hf_token.txt"
# IAM role names stop at 64 characters, and fmbench-<campaign>-<run id> takes
# up to 61 (MAX_CAMPAIGN_NAME, RUN_ID_PATTERN): the execution role's suffix
# keeps the whole run id, so two runs of one campaign never share a role.
EXECUTION_ROLE_SUFFIX = "-sm"
# The service that assumes the execution role, and the only one the hosts
# may pass it to.
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
# What the SageMaker endpoints FMBench deploys run with. FMBench's own EC2
# guide ("Run FMBench on Amazon EC2", docs/ec2.md in its repository) gives one
# role both this AWS managed policy and SageMaker's trust, and uses it for the
# host and its endpoints alike; here that role is split in two, and the policy
# goes with the trust.
SAGEMAKER_EXECUTION_POLICY = "AmazonSageMakerFullAccess"
# Regions of AWS's separate partitions, by prefix; every other is `aws`.
PARTITIONS = {"cn-": "aws-cn", "us-gov-": "aws-us-gov"}


class StackValues(BaseModel):
    """What is fixed when a stack is created and kept for its whole life."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(pattern=RUN_ID_PATTERN)
    created_at: datetime
    operator: str = Field(min_length=1)
    operator_cidr: str | None = None


def compile_campaign(campaign: CampaignConfig, values: StackValues) -> StackSpec:
    """Resolve everything the provisioners and the runner need."""
    owner = campaign.owner or values.operator
    expires_at = values.created_at + campaign.ttl
    tags = {
        **campaign.tags,
        TAG_CAMPAIGN: campaign.name,
        TAG_RUN: values.run_id,
        TAG_TTL: expires_at.isoformat(timespec="seconds"),
        TAG_OWNER: owner,
    }
    stack_name = f"{campaign.name}-{values.run_id}"
    bucket = role = None
    if campaign.provider == "aws":
        bucket = BucketSpec(
            name=f"fmbench-{stack_name}",
            region=campaign.region,
            expire_days=BUCKET_EXPIRE_DAYS,
        )
        role = _role_spec(campaign, f"fmbench-{stack_name}"[:64], values.run_id)
    write_bucket = bucket.name if bucket else FMBENCH_NO_BUCKET
    execution_role = role.execution_role.name if role and role.execution_role else None
    secrets = secret_uploads(campaign)
    hosts = tuple(
        _host_spec(host, index, tags, values, write_bucket, secrets, execution_role)
        for host in campaign.hosts
        for index in range(host.count)
    )
    return StackSpec(
        campaign=campaign.name,
        description=campaign.description,
        provider=campaign.provider,
        run_id=values.run_id,
        stack_name=stack_name,
        region=campaign.region,
        owner=owner,
        created_at=values.created_at,
        expires_at=expires_at,
        tags=tags,
        bucket=bucket,
        role=role,
        hosts=hosts,
        max_usd_per_hour=campaign.budget.max_usd_per_hour if campaign.budget else None,
        max_hours=campaign.budget.max_hours if campaign.budget else None,
    )


def _role_spec(campaign: CampaignConfig, name: str, run_id: str) -> RoleSpec:
    """The hosts' role: the bucket, the S3 configs, and what the campaign asks."""
    permissions = campaign.permissions or Permissions()
    partition = aws_partition(campaign.region)
    execution_role = None
    if permissions.sagemaker_execution_role:
        execution_role = ExecutionRoleSpec(
            name=f"{name}{EXECUTION_ROLE_SUFFIX}",
            service=SAGEMAKER_SERVICE,
            managed_policy_arns=(
                f"arn:{partition}:iam::aws:policy/{SAGEMAKER_EXECUTION_POLICY}",
            ),
        )
    return RoleSpec(
        name=name,
        bucket_prefix=f"{run_id}/",
        managed_policy_arns=tuple(permissions.managed_policies),
        statements=tuple(
            StatementSpec(
                sid=statement.sid,
                effect=statement.effect,
                actions=tuple(statement.actions),
                resources=tuple(statement.resources),
            )
            for statement in permissions.statements
        ),
        input_object_arns=fmbench_input_arns(campaign, partition),
        execution_role=execution_role,
    )


def fmbench_input_arns(campaign: CampaignConfig, partition: str) -> tuple[str, ...]:
    """The S3 objects FMBench reads on the hosts: configs given as s3:// URLs.

    `fmbench:` and https:// configs need no grant, and local ones are uploaded.
    """
    # Limitation: only the config file itself is granted — a config run with
    # local_mode off also reads its datasets from its own read bucket, which
    # the campaign must then grant in permissions.statements.
    arns = [
        f"arn:{partition}:s3:::{benchmark.config.removeprefix('s3://')}"
        for host in campaign.hosts
        for benchmark in host.benchmarks
        if isinstance(benchmark, FmbenchBenchmark)
        and benchmark.config.startswith("s3://")
    ]
    return tuple(dict.fromkeys(arns))


def aws_partition(region: str) -> str:
    """The AWS partition a region belongs to, as ARNs spell it."""
    for prefix, partition in PARTITIONS.items():
        if region.startswith(prefix):
            return partition
    return "aws"


def _host_spec(
    host: HostConfig,
    index: int,
    tags: dict[str, str],
    values: StackValues,
    write_bucket: str,
    secrets: tuple[UploadSpec, ...],
    execution_role: str | None,
) -> HostSpec:
    kind = catalog.get_instance_type(host.instance_type)
    region = host.region or "us-east-1"
    name = host.expanded_names()[index]
    static = host.static
    return HostSpec(
        name=name,
        group=host.name or name,
        index=index,
        instance_type=host.instance_type,
        region=region,
        architecture=kind.architecture,
        accelerator_kind=kind.accelerator_kind,
        image=_image(host.ami, kind.architecture),
        ssh_user=host.ssh_user or catalog.AMI_ALIAS_SSH_USER,
        storage=StorageSpec(**host.storage.model_dump()),
        network=NetworkSpec(
            vpc_id=host.network.vpc_id,
            subnet_ids=tuple(host.network.subnet_ids),
            ssh_ingress_cidrs=tuple(
                host.network.ssh_ingress_cidrs
                if host.network.ssh_ingress_cidrs is not None
                else ([values.operator_cidr] if values.operator_cidr else [])
            ),
        ),
        capacity=CapacitySpec(**host.capacity.model_dump()) if host.capacity else None,
        spot=host.spot,
        on_spot_interruption=host.on_spot_interruption,
        price_per_hour=kind.price_per_hour(region),
        tags={**tags, TAG_HOST: name},
        uploads=(
            *secrets,
            *(
                UploadSpec(
                    local=upload.local, remote=upload.remote, secret=upload.secret
                )
                for upload in host.upload_files
            ),
        ),
        benchmarks=tuple(
            _benchmark_spec(benchmark, write_bucket, execution_role)
            for benchmark in host.benchmarks
        ),
        static=StaticSpec(**static.model_dump()) if static else None,
        availability_zone=host.availability_zone,
        fallbacks=tuple(
            _placement(
                host,
                fallback.instance_type or host.instance_type,
                fallback.region or region,
                fallback.availability_zone,
            )
            for fallback in host.fallbacks
        ),
    )


def _placement(
    host: HostConfig, instance_type: str, region: str, zone: str | None
) -> Placement:
    """A fallback's placement; the host's AMI alias unless it was only a default."""
    kind = catalog.get_instance_type(instance_type)
    ami = kind.ami_alias if host._ami_defaulted else host.ami
    return Placement(
        instance_type=instance_type,
        region=region,
        availability_zone=zone,
        architecture=kind.architecture,
        accelerator_kind=kind.accelerator_kind,
        image=_image(ami, kind.architecture),
        price_per_hour=kind.price_per_hour(region),
    )


def secret_uploads(campaign: CampaignConfig) -> tuple[UploadSpec, ...]:
    """Every host's secret uploads: where each is read from, never its value."""
    if campaign.secrets is None or campaign.secrets.hf_token is None:
        return ()
    source = campaign.secrets.hf_token
    return (
        UploadSpec(
            local=source.file, env=source.env, remote=HF_TOKEN_REMOTE, secret=True
        ),
    )


def _image(ami: str | None, architecture: str) -> ImageSpec:
    if ami is None or ami in catalog.AMI_ALIASES:
        alias = ami or ("arm" if architecture == "arm64" else "cpu")
        return ImageSpec(
            alias=alias, ssm_parameter=catalog.resolve_ami_alias(alias, architecture)
        )
    return ImageSpec(ami_id=ami)


def _benchmark_spec(
    benchmark: FmbenchBenchmark | CommandBenchmark,
    write_bucket: str,
    execution_role: str | None,
) -> BenchmarkSpec:
    assert benchmark.name is not None  # set by HostConfig's validator
    common = {
        "name": benchmark.name,
        "driver": benchmark.driver,
        "timeout_seconds": benchmark.timeout_seconds,
        "model_id": benchmark.model_id,
        "batch_sizes": _tuple(benchmark.batch_sizes),
        "sequence_lengths": _tuple(benchmark.sequence_lengths),
        "num_iterations": benchmark.num_iterations,
    }
    if isinstance(benchmark, CommandBenchmark):
        return BenchmarkSpec(
            **common,
            run=benchmark.run,
            results=benchmark.results,
            metrics=benchmark.metrics,
        )
    config = resolve_fmbench_config(benchmark)
    return BenchmarkSpec(
        **common,
        config=config,
        config_is_local=not re.match(r"^(https?|s3)://", config),
        fmbench_version=benchmark.version,
        fmbench_repo=benchmark.repo,
        fmbench_ref=benchmark.ref,
        args=dict(benchmark.args),
        local_mode=benchmark.local_mode,
        write_bucket=benchmark.write_bucket or write_bucket,
        execution_role=execution_role,
    )


def resolve_fmbench_config(benchmark: FmbenchBenchmark) -> str:
    """`fmbench:<path>` → the config at the installed FMBench's own tag or ref.

    The legacy tool read the moving main branch, so the same campaign could
    benchmark a different config next week; pinning to the installed version
    keeps a campaign reproducible.
    """
    config = benchmark.config
    if not config.startswith(FMBENCH_SHORTHAND):
        return config
    relative = config.removeprefix(FMBENCH_SHORTHAND).lstrip("/")
    repository, ref = FMBENCH_REPOSITORY, f"refs/tags/v{benchmark.version}"
    if benchmark.repo:
        repository, ref = benchmark.repo, str(benchmark.ref)
    owner_repo = github_owner_repo(repository)
    assert owner_repo is not None  # FmbenchBenchmark refuses other repositories
    return f"https://raw.githubusercontent.com/{owner_repo}/{ref}/fmbench/configs/{relative}"


def _tuple(values: list[int] | None) -> tuple[int, ...] | None:
    return tuple(values) if values is not None else None


def worst_case_hours(spec: StackSpec, bootstrap_allowance: timedelta) -> float:
    """Hours the slowest host can stay alive: its timeouts, capped by the TTL."""
    ttl = spec.expires_at - spec.created_at
    longest = max(
        (
            bootstrap_allowance
            + timedelta(seconds=sum(b.timeout_seconds for b in host.benchmarks))
            for host in spec.hosts
        ),
        default=timedelta(0),
    )
    return min(longest, ttl).total_seconds() / 3600
