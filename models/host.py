"""A host in the campaign file: the instance, its disk and network, its benchmarks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PrivateAttr,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fmbench_orch.models import catalog
from fmbench_orch.models.benchmark import Benchmark, name_benchmarks
from fmbench_orch.models.fields import (
    MAX_HOSTS_PER_CAMPAIGN,
    NameSlug,
    StrictModel,
    check_region,
    existing_path,
)

# A host runs its benchmarks one after another; more is a generated file gone
# wrong, not a plan.
MAX_BENCHMARKS_PER_HOST = 100
# Each fallback is one more `pulumi up` when EC2 refuses the one before.
MAX_FALLBACKS_PER_HOST = 8
# EBS gp3/io2 volumes top out at 16 TiB / 64 TiB; 16 TiB is the gp3 limit.
MAX_VOLUME_GIB = 16_384
# EBS limits on provisioned IOPS per GiB of volume, and gp3's free baseline.
IOPS_PER_GIB = {"gp3": 500, "io1": 50, "io2": 1000}
GP3_BASELINE_IOPS = 3000
# The legacy orchestrator's setting for its 250 GiB gp3 volumes.
DEFAULT_GP3_IOPS = 16000


class Storage(StrictModel):
    """The host's root EBS volume (models and FMBench's results live on it)."""

    device_name: str = Field(
        default="/dev/sda1", description="Root device name of the AMI."
    )
    size_gib: int = Field(
        default=250, ge=8, le=MAX_VOLUME_GIB, description="Size in GiB."
    )
    volume_type: Literal["gp2", "gp3", "io1", "io2"] = Field(
        default="gp3", description="EBS volume type."
    )
    iops: int | None = Field(
        default=None,
        ge=100,
        le=256_000,
        description="Provisioned IOPS. gp3 defaults to 16000 (the legacy tool's "
        "setting) or what the size allows; io1/io2 need it; gp2's follow the size.",
    )
    throughput_mibps: int | None = Field(
        default=None, ge=125, le=2000, description="gp3 only; AWS's default if unset."
    )
    encrypted: bool = Field(default=True, description="Encrypt with the EBS key.")

    @model_validator(mode="after")
    def _iops_fit_volume_type(self) -> Storage:
        per_gib = IOPS_PER_GIB.get(self.volume_type)
        if per_gib is None:
            if self.iops is not None:
                raise PydanticCustomError(
                    "iops_gp2",
                    "gp2 volumes take no iops (they follow the size); remove it or "
                    "set volume_type: gp3",
                    {"loc": ("iops",)},
                )
        elif self.iops is None:
            if self.volume_type != "gp3":
                raise PydanticCustomError(
                    "iops_required",
                    "{kind} volumes need iops; add e.g. iops: 16000",
                    {"kind": self.volume_type, "loc": ("iops",)},
                )
            self.iops = max(
                GP3_BASELINE_IOPS, min(DEFAULT_GP3_IOPS, per_gib * self.size_gib)
            )
        elif self.iops > per_gib * self.size_gib:
            raise PydanticCustomError(
                "iops_ratio",
                "{iops} IOPS is more than a {size} GiB {kind} volume allows "
                "({per_gib} per GiB); lower iops or raise size_gib",
                {
                    "iops": self.iops,
                    "size": self.size_gib,
                    "kind": self.volume_type,
                    "per_gib": per_gib,
                    "loc": ("iops",),
                },
            )
        if self.volume_type != "gp3" and self.throughput_mibps is not None:
            raise PydanticCustomError(
                "throughput_gp3",
                "throughput_mibps applies to gp3 volumes only; remove it or set "
                "volume_type: gp3",
                {"loc": ("throughput_mibps",)},
            )
        return self


def _cidr(cidr: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise PydanticCustomError(
            "cidr",
            "'{cidr}' is not a CIDR block such as 203.0.113.7/32",
            {"cidr": cidr},
        ) from None
    return cidr


class Network(StrictModel):
    """Where the host is placed and who may reach it over SSH."""

    vpc_id: str | None = Field(
        default=None,
        pattern=r"^vpc-[0-9a-f]+$",
        description="The region's default VPC if unset.",
    )
    subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]+$")]] = Field(
        default=[], description="Subnets to launch in; the VPC's default if empty."
    )
    ssh_ingress_cidrs: list[Annotated[str, AfterValidator(_cidr)]] | None = Field(
        default=None,
        description="Who may reach port 22; defaults to the operator's address /32.",
    )


class Capacity(StrictModel):
    """An EC2 capacity reservation to launch into (GPU capacity is scarce)."""

    reservation_id: str | None = Field(
        default=None,
        pattern=r"^cr-[0-9a-f]+$",
        description="One reservation; or give resource_group_arn.",
    )
    resource_group_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws",
        description="A resource group of reservations; or give reservation_id.",
    )
    preference: Literal["open", "none"] | None = Field(
        default=None,
        description="Without a target: open uses any matching open reservation, "
        "none never does.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> Capacity:
        if self.reservation_id and self.resource_group_arn:
            raise PydanticCustomError(
                "capacity_target",
                "give reservation_id or resource_group_arn, not both",
            )
        return self


class UploadFile(StrictModel):
    """A file copied to the host before its first benchmark."""

    local: Annotated[Path, BeforeValidator(existing_path)] = Field(
        description="The file here, relative to the campaign file."
    )
    remote: str = Field(
        min_length=1,
        description="Where on the host: absolute, or relative to the home "
        "directory; no '..'.",
    )
    secret: bool = Field(
        default=False, description="Uploaded as a 0600 file, never logged."
    )

    @field_validator("remote")
    @classmethod
    def _stays_where_written(cls, remote: str) -> str:
        # Absolute paths are allowed (FMBench reads /tmp/fmbench-read); `..`
        # is not: it would hide where a file really lands from a reviewer.
        if ".." in remote.split("/"):
            raise PydanticCustomError(
                "remote_climbs",
                "'{remote}' climbs out with '..'; write the path it should reach "
                "(absolute, or relative to the home directory) without '..'",
                {"remote": remote},
            )
        if "\0" in remote:
            raise PydanticCustomError(
                "remote_nul", "a remote path cannot hold a NUL character"
            )
        return remote


class StaticConnection(StrictModel):
    """How to reach a host the user already has (provider: static)."""

    address: str = Field(min_length=1, description="Host name or IP address.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    key_file: Annotated[Path, BeforeValidator(existing_path)] = Field(
        description="Private key for ssh_user, relative to the campaign file."
    )
    host_key: str | None = Field(
        default=None,
        pattern=r"^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+",
        description="The server's public key line; else ~/.ssh/known_hosts is used.",
    )


class Fallback(StrictModel):
    """Where to launch a host instead when EC2 has no capacity or quota for it.

    Unset fields keep the host's own instance type and region; an unset zone
    lets the tool pick one that offers the type.
    """

    instance_type: str | None = Field(
        default=None, description="Another instance type from the catalog."
    )
    region: str | None = Field(default=None, description="Another AWS region.")
    availability_zone: str | None = Field(
        default=None, description="A zone of the (fallback's) region, e.g. us-east-1b."
    )

    @field_validator("instance_type")
    @classmethod
    def _known_instance_type(cls, name: str | None) -> str | None:
        return name if name is None else _check_instance_type(name)

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str | None) -> str | None:
        return region if region is None else check_region(region)

    @model_validator(mode="after")
    def _says_something(self) -> Fallback:
        if (
            self.instance_type is None
            and self.region is None
            and (self.availability_zone is None)
        ):
            raise PydanticCustomError(
                "empty_fallback",
                "a fallback names at least one of instance_type, region, "
                "availability_zone",
            )
        return self


class HostConfig(StrictModel):
    """One host (or `count` alike hosts) and the benchmarks it runs."""

    name: NameSlug | None = Field(
        default=None,
        description="Unique in the campaign; defaults from the type.",
    )
    instance_type: str = Field(
        description="An EC2 instance type from the catalog, e.g. g6e.2xlarge."
    )
    count: int = Field(
        default=1,
        ge=1,
        le=MAX_HOSTS_PER_CAMPAIGN,
        description="Alike hosts to make, named <name>-1, <name>-2, …",
    )
    region: str | None = Field(default=None, description="The campaign's if unset.")
    ami: str | None = Field(
        default=None,
        description="An ami-… id, or an alias: gpu, cpu, neuron, arm. Defaults "
        "to the alias that fits the instance type.",
    )
    ssh_user: str | None = Field(
        default=None,
        description="Login user; ubuntu with an alias, required with an ami-… id.",
    )
    storage: Storage = Field(default=Storage(), description="The root volume.")
    network: Network = Field(default=Network(), description="Placement and SSH.")
    capacity: Capacity | None = Field(
        default=None, description="A capacity reservation to launch into."
    )
    availability_zone: str | None = Field(
        default=None,
        description="Launch in this zone of the host's region; any zone that "
        "offers the type if unset.",
    )
    fallbacks: list[Fallback] = Field(
        default=[],
        max_length=MAX_FALLBACKS_PER_HOST,
        description="Tried in order when EC2 has no capacity or quota for the "
        "host (provider aws).",
    )
    spot: bool = Field(default=False, description="Ask for a Spot instance.")
    on_spot_interruption: Literal["fail", "on-demand"] = Field(
        default="fail",
        description="With spot, when EC2 reclaims the host: fail what it had not "
        "finished, or replace it with an On-Demand host and rerun its benchmarks "
        "that did not succeed (on-demand).",
    )
    upload_files: list[UploadFile] = Field(
        default=[], description="Files copied to the host before its benchmarks."
    )
    static: StaticConnection | None = Field(
        default=None, description="How to reach the host; provider: static only."
    )
    benchmarks: list[Benchmark] = Field(
        min_length=1,
        max_length=MAX_BENCHMARKS_PER_HOST,
        description="Run in order, each to success, failure or timeout.",
    )

    # True when `ami` is the instance type's default alias, not the user's
    # choice: a fallback to another kind of type then gets its own default.
    _ami_defaulted: bool = PrivateAttr(default=False)

    def expanded_names(self) -> list[str]:
        """`count: 3` makes three hosts: name-1, name-2, name-3."""
        assert self.name is not None  # set by the validator below
        if self.count == 1:
            return [self.name]
        return [f"{self.name}-{index + 1}" for index in range(self.count)]

    @field_validator("instance_type")
    @classmethod
    def _known_instance_type(cls, name: str) -> str:
        return _check_instance_type(name)

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str | None) -> str | None:
        return region if region is None else check_region(region)

    @field_validator("ami")
    @classmethod
    def _ami_or_alias(cls, ami: str | None) -> str | None:
        if ami is None or ami in catalog.AMI_ALIASES:
            return ami
        if re.fullmatch(r"ami-[0-9a-f]{8,17}", ami):
            return ami
        raise PydanticCustomError(
            "ami",
            "'{ami}' is neither an AMI id (ami-0123456789abcdef0) nor an alias "
            "({aliases})",
            {"ami": ami, "aliases": ", ".join(catalog.AMI_ALIASES)},
        )

    @model_validator(mode="after")
    def _defaults_and_names(self) -> HostConfig:
        kind = catalog.get_instance_type(self.instance_type)
        if self.name is None:
            self.name = self.instance_type.replace(".", "-")
        if self.ami is None:
            self.ami = kind.ami_alias
            self._ami_defaulted = True
        if self.ami in catalog.AMI_ALIASES:
            try:
                catalog.resolve_ami_alias(self.ami, kind.architecture)
            except catalog.AmiAliasMismatch as error:
                raise PydanticCustomError(
                    "ami_alias", str(error), {"loc": ("ami",)}
                ) from None
            if self.ssh_user is None:
                self.ssh_user = catalog.AMI_ALIAS_SSH_USER
        elif self.ssh_user is None:
            raise PydanticCustomError(
                "ssh_user",
                "ssh_user is required with an explicit AMI id (ubuntu for Ubuntu "
                "AMIs, ec2-user for Amazon Linux)",
                {"loc": ("ssh_user",)},
            )
        if self.on_spot_interruption == "on-demand" and not self.spot:
            raise PydanticCustomError(
                "interruption_without_spot",
                "on_spot_interruption: on-demand only applies to Spot hosts; set "
                "spot: true or remove it",
                {"loc": ("on_spot_interruption",)},
            )
        name_benchmarks(self.benchmarks)
        return self


def _optional_fields(model: type[BaseModel]) -> dict[str, Any]:
    return {
        name: (
            field.annotation | None,
            Field(default=None, description=field.description),
        )
        for name, field in model.model_fields.items()
        if name not in {"name", "static"}
    }


# Every host key but `name` and `static`, all optional: merged under each host.
HostDefaults = create_model(
    "HostDefaults",
    __base__=StrictModel,
    **_optional_fields(HostConfig),
)


def _check_instance_type(name: str) -> str:
    try:
        catalog.get_instance_type(name)
    except catalog.UnknownInstanceType as error:
        raise PydanticCustomError("instance_type", str(error)) from None
    return name
