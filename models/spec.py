"""The stack spec: a campaign compiled into everything a provisioner needs.

A `StackSpec` is fully resolved (regions, AMIs, tags, storage, prices,
benchmarks) and serializes to JSON. The Pulumi program, the local provider and
the runner all read it; none of them looks at the campaign file again.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageSpec(SpecModel):
    """Either a fixed AMI id or a public SSM parameter that names the current one."""

    alias: str | None = None
    ami_id: str | None = None
    ssm_parameter: str | None = None


class StorageSpec(SpecModel):
    device_name: str
    size_gib: int
    volume_type: Literal["gp2", "gp3", "io1", "io2"]
    iops: int | None
    throughput_mibps: int | None
    encrypted: bool


class NetworkSpec(SpecModel):
    vpc_id: str | None
    subnet_ids: tuple[str, ...]
    ssh_ingress_cidrs: tuple[str, ...]


class CapacitySpec(SpecModel):
    reservation_id: str | None
    resource_group_arn: str | None
    preference: Literal["open", "none"] | None


class UploadSpec(SpecModel):
    """A file for the host: from `local`, or a secret read from `env` at upload.

    Only where a secret comes from is kept, never its value: the spec is
    saved in the run directory and handed to Pulumi.
    """

    local: Path | None = None
    env: str | None = None
    remote: str
    secret: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> UploadSpec:
        if (self.local is None) == (self.env is None):
            raise ValueError("an upload comes from exactly one of local or env")
        if self.env is not None and not self.secret:
            raise ValueError("an upload from an environment variable is a secret")
        return self


class StaticSpec(SpecModel):
    """Connection facts of a host the user already has (static provider)."""

    address: str
    port: int
    key_file: Path
    host_key: str | None


class BenchmarkSpec(SpecModel):
    name: str
    driver: Literal["fmbench", "command"]
    timeout_seconds: int
    model_id: str | None = None
    batch_sizes: tuple[int, ...] | None = None
    sequence_lengths: tuple[int, ...] | None = None
    num_iterations: int | None = None
    # fmbench
    config: str | None = None
    config_is_local: bool = False
    fmbench_version: str | None = None
    fmbench_repo: str | None = None
    fmbench_ref: str | None = None
    args: dict[str, str] = {}
    local_mode: bool = True
    write_bucket: str | None = None
    # The stack's SageMaker execution role by name; FMBench gets its ARN.
    execution_role: str | None = None
    # command
    run: str | None = None
    results: str | None = None
    metrics: str | None = None


class Placement(SpecModel):
    """Where and as what a host launches: its own choice or one of its fallbacks."""

    instance_type: str
    region: str
    availability_zone: str | None
    architecture: Literal["x86_64", "arm64"]
    accelerator_kind: Literal["nvidia", "neuron"] | None
    image: ImageSpec
    price_per_hour: float

    def describe(self) -> str:
        where = self.availability_zone or self.region
        return f"{self.instance_type} in {where}"


class HostSpec(SpecModel):
    name: str
    group: str
    index: int
    instance_type: str
    region: str
    architecture: Literal["x86_64", "arm64"]
    accelerator_kind: Literal["nvidia", "neuron"] | None
    image: ImageSpec
    ssh_user: str
    storage: StorageSpec
    network: NetworkSpec
    capacity: CapacitySpec | None
    spot: bool
    price_per_hour: float
    tags: dict[str, str]
    uploads: tuple[UploadSpec, ...]
    benchmarks: tuple[BenchmarkSpec, ...]
    static: StaticSpec | None = None
    availability_zone: str | None = None
    # With spot: replace a reclaimed host with an On-Demand one and rerun.
    on_spot_interruption: Literal["fail", "on-demand"] = "fail"
    # Tried in order when EC2 has no capacity or quota for the placement above.
    fallbacks: tuple[Placement, ...] = ()

    @property
    def placement(self) -> Placement:
        return Placement(
            **{name: getattr(self, name) for name in Placement.model_fields}
        )

    def placed(self, placement: Placement) -> HostSpec:
        """This host launched as `placement`, with the fallbacks after it left."""
        later = self.fallbacks[self.fallbacks.index(placement) + 1 :]
        return self.model_copy(update={**dict(placement), "fallbacks": later})


class BucketSpec(SpecModel):
    name: str
    region: str
    expire_days: int


class StatementSpec(SpecModel):
    """One inline IAM statement the campaign added to the hosts' role."""

    sid: str | None
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    resources: tuple[str, ...]


class ExecutionRoleSpec(SpecModel):
    """The role SageMaker endpoints run as; the hosts may pass it to `service` only."""

    name: str
    service: str
    managed_policy_arns: tuple[str, ...]


class RoleSpec(SpecModel):
    """The hosts' role and what it may do beyond the results bucket.

    The fields after `managed_policy_arns` default to nothing, so a spec saved
    before they existed still loads.
    """

    name: str
    bucket_prefix: str
    managed_policy_arns: tuple[str, ...]
    statements: tuple[StatementSpec, ...] = ()
    # Objects the hosts read (FMBench configs given as s3:// URLs), as ARNs.
    input_object_arns: tuple[str, ...] = ()
    execution_role: ExecutionRoleSpec | None = None


class StackSpec(SpecModel):
    campaign: str
    description: str | None
    provider: Literal["local", "aws", "static"]
    run_id: str
    stack_name: str
    region: str
    owner: str
    created_at: datetime
    expires_at: datetime
    tags: dict[str, str]
    bucket: BucketSpec | None
    role: RoleSpec | None
    hosts: tuple[HostSpec, ...]
    max_usd_per_hour: float | None
    max_hours: float | None

    @property
    def usd_per_hour(self) -> float:
        return sum(host.price_per_hour for host in self.hosts)

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region the stack may create something in, fallbacks included."""
        found = [self.region]
        for host in self.hosts:
            found += [host.region, *(place.region for place in host.fallbacks)]
        return tuple(dict.fromkeys(found))

    def with_host(self, host: HostSpec) -> StackSpec:
        """The spec with the host of the same name replaced by `host`."""
        hosts = tuple(host if h.name == host.name else h for h in self.hosts)
        return self.model_copy(update={"hosts": hosts})

    def on_demand(self, names: set[str]) -> StackSpec:
        """The spec with the named hosts On-Demand instead of Spot."""
        hosts = tuple(
            h.model_copy(update={"spot": False}) if h.name in names else h
            for h in self.hosts
        )
        return self.model_copy(update={"hosts": hosts})

    def only(self, names: set[str]) -> StackSpec:
        """The spec narrowed to the named hosts (for running some of them again)."""
        hosts = tuple(h for h in self.hosts if h.name in names)
        return self.model_copy(update={"hosts": hosts})

    def placed_as(self, instance_types: dict[str, tuple[str, str]]) -> StackSpec:
        """The spec as launched: host name → (instance type, region) it got.

        A host that got one of its fallbacks takes that placement; the others
        are unchanged.
        """
        spec = self
        for host in self.hosts:
            got = instance_types.get(host.name)
            if got is None or got == (host.instance_type, host.region):
                continue
            for placement in host.fallbacks:
                if (placement.instance_type, placement.region) == got:
                    spec = spec.with_host(host.placed(placement))
                    break
        return spec

    def host(self, name: str) -> HostSpec:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)
