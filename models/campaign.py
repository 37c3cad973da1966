"""The campaign file: what the user wrote, validated strictly.

Every model forbids unknown keys, and every default the tool applies is
declared here, nowhere else. Paths the user wrote relative to the campaign
file arrive here already resolved by the loader (see `models.loader`).

A validator that checks several fields at once puts `loc` in its error's
context: the path, below the validator's own place, of the field to fix, so
the message names `hosts[1].name` rather than the whole campaign.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    PrivateAttr,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fmbench_orch.models import catalog
from fmbench_orch.models.durations import format_duration, parse_duration

# Bucket names (3–63 chars) are built as `fmbench-<campaign>-<run id>`, so the
# campaign name keeps to 40 to leave room for the prefix and a 12-char run id.
MAX_CAMPAIGN_NAME = 40
# A campaign is reviewed by a person; more hosts than this is a typo (count:
# 1000) far more often than a plan, and would exhaust every default EC2 quota.
MAX_HOSTS_PER_CAMPAIGN = 256
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
# A week: a campaign that needs longer should be split; hosts cost money.
MAX_TTL = timedelta(days=7)
DEFAULT_TTL = timedelta(hours=6)
# FMBench runs the model server and the whole sweep: hours are normal.
DEFAULT_BENCHMARK_TIMEOUT_SECONDS = 7200
# FMBench's own default on PyPI at the time of writing; pin it so a campaign
# reproduces, and so `fmbench:` configs resolve at the same tag.
DEFAULT_FMBENCH_VERSION = "2.1.6"
# Host and benchmark names become directory names, SSH known_hosts entries and
# EC2 Name tags; a DNS label's 63 characters is plenty and fits them all.
MAX_NAME = 63
# EC2 and S3 allow 50 tags per resource; the tool sets six of its own
# (fmbench:campaign, run, ttl, owner, host and Name).
MAX_USER_TAGS = 44
# AWS's own limits on a tag's key and value.
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256

SLUG = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FMBENCH_SHORTHAND = "fmbench:"


def _slug(value: str) -> str:
    if not SLUG.fullmatch(value) or "--" in value:
        raise PydanticCustomError(
            "slug",
            "got '{value}'; use lowercase letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen (it is used in "
            "stack, bucket and host names), e.g. 'llama3-8b-g6e'",
            {"value": value},
        )
    return value


Slug = Annotated[str, AfterValidator(_slug)]
NameSlug = Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_slug)]


def _duration(value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise PydanticCustomError("duration", str(error)) from None


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _resolve_path(value: str | Path, info: ValidationInfo) -> Path:
    path = Path(value).expanduser()
    base = (info.context or {}).get("base_dir")
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


# Paths may lead outside the campaign's directory, written out (`../data`,
# `~/.hf_token`) or through a symlink: whoever writes a campaign already runs
# any command on its hosts (with the local provider, on this machine), so
# confining paths would stop no one and would break shared datasets.
def _existing_path(value: str | Path, info: ValidationInfo) -> Path:
    path = _resolve_path(value, info)
    if (info.context or {}).get("check_paths", True) and not path.exists():
        raise PydanticCustomError(
            "path_missing",
            "file '{path}' does not exist; paths are relative to the campaign file",
            {"path": str(path)},
        )
    return path


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Budget(StrictModel):
    """Spending limits; `plan` and `run` refuse a campaign that exceeds them."""

    max_usd_per_hour: float = Field(gt=0, description="Sum of all hosts' USD/h.")
    max_hours: float | None = Field(
        default=None, gt=0, description="Upper bound on the campaign's wall time."
    )


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

    local: Annotated[Path, BeforeValidator(_existing_path)] = Field(
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


class SecretSource(StrictModel):
    """Where a secret is read from, at upload time; its value is kept nowhere."""

    env: str | None = Field(
        default=None, description="An environment variable that holds it."
    )
    file: Annotated[Path, BeforeValidator(_existing_path)] | None = Field(
        default=None,
        description="A file that holds it, relative to the campaign file.",
    )

    @model_validator(mode="before")
    @classmethod
    def _not_the_secret_itself(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            # The value is never echoed: it may be the token itself.
            raise PydanticCustomError(
                "secret_inline",
                "write where the secret is read from (env: NAME or file: PATH), "
                "never the secret itself: campaign files are committed, shared "
                "and logged",
            )
        return raw

    @field_validator("env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not ENV_NAME.fullmatch(name):
            raise PydanticCustomError(
                "env_name",
                "'{name}' is not an environment variable name such as HF_TOKEN",
                {"name": name},
            )
        return name

    @model_validator(mode="after")
    def _one_source_that_is_there(self, info: ValidationInfo) -> SecretSource:
        if (self.env is None) == (self.file is None):
            raise PydanticCustomError(
                "secret_source",
                "give exactly one of env: NAME or file: PATH",
            )
        context = info.context or {}
        environ = context.get("environ")
        checked = environ is not None and context.get("check_paths", True)
        if checked and self.env is not None and not environ.get(self.env):
            raise PydanticCustomError(
                "env_unset",
                "environment variable {name} is not set or empty; export it "
                "before the run (it is read when the secret is uploaded)",
                {"name": self.env, "loc": ("env",)},
            )
        return self


class Secrets(StrictModel):
    """Secrets uploaded to every host as 0600 files; never logged or recorded."""

    hf_token: SecretSource | None = Field(
        default=None,
        description="The Hugging Face token, uploaded to FMBench's "
        "/tmp/fmbench-read/scripts/hf_token.txt.",
    )


class StaticConnection(StrictModel):
    """How to reach a host the user already has (provider: static)."""

    address: str = Field(min_length=1, description="Host name or IP address.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    key_file: Annotated[Path, BeforeValidator(_existing_path)] = Field(
        description="Private key for ssh_user, relative to the campaign file."
    )
    host_key: str | None = Field(
        default=None,
        pattern=r"^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+",
        description="The server's public key line; else ~/.ssh/known_hosts is used.",
    )


class BenchmarkBase(StrictModel):
    """One benchmark run on a host; a host runs its benchmarks in order."""

    name: NameSlug | None = Field(
        default=None,
        description="Unique on the host; defaults from the config file name "
        "(fmbench) or to <driver>-<position>.",
    )
    model_id: str | None = Field(
        default=None, description="The model benchmarked, as the report names it."
    )
    batch_sizes: list[PositiveInt] | None = Field(
        default=None, min_length=1, description="Batch sizes to sweep."
    )
    sequence_lengths: list[PositiveInt] | None = Field(
        default=None, min_length=1, description="Sequence lengths to sweep."
    )
    num_iterations: PositiveInt | None = Field(
        default=None, description="Repetitions of each measurement."
    )
    timeout_seconds: PositiveInt = Field(
        default=DEFAULT_BENCHMARK_TIMEOUT_SECONDS,
        le=int(MAX_TTL.total_seconds()),
        description="The benchmark is stopped and marked timeout after this long.",
    )


class FmbenchBenchmark(BenchmarkBase):
    """Installs FMBench on the host and runs it with one of its configs."""

    driver: Literal["fmbench"] = Field(description="Selects this kind of benchmark.")
    config: str = Field(
        min_length=1,
        description="A local path, an http(s):// or s3:// URL, or fmbench:<path> "
        "for a config shipped in FMBench's repository.",
    )
    version: str | None = Field(
        default=None,
        description=f"FMBench release from PyPI; {DEFAULT_FMBENCH_VERSION} unless "
        "repo is given.",
    )
    repo: str | None = Field(
        default=None, description="Install FMBench from this git repository instead."
    )
    ref: str | None = Field(
        default=None, description="Branch, tag or commit of repo; required with it."
    )
    args: dict[str, str] = Field(default={}, description="Passed as -A key=value.")
    local_mode: bool = Field(
        default=True, description="Run FMBench with --local-mode yes."
    )
    write_bucket: str | None = Field(
        default=None, description="Defaults to the campaign's results bucket."
    )

    @field_validator("config")
    @classmethod
    def _config_exists(cls, config: str, info: ValidationInfo) -> str:
        if config.startswith((FMBENCH_SHORTHAND, "http://", "https://", "s3://")):
            if config == FMBENCH_SHORTHAND:
                raise PydanticCustomError(
                    "fmbench_shorthand",
                    "name a config after 'fmbench:', e.g. "
                    "fmbench:llama3/8b/config-ec2-llama3-8b-g6e-2xlarge.yml",
                )
            return config
        return str(_existing_path(config, info))

    @model_validator(mode="after")
    def _one_source(self) -> FmbenchBenchmark:
        if self.repo and self.version:
            raise PydanticCustomError(
                "fmbench_source",
                "give version (a PyPI release) or repo + ref, not both",
            )
        if bool(self.repo) != bool(self.ref):
            missing = "ref" if self.repo else "repo"
            raise PydanticCustomError(
                "fmbench_source",
                "repo and ref go together; add {missing} (ref: a branch, tag or "
                "commit of repo)",
                {"missing": missing, "loc": (missing,)},
            )
        if not self.repo and self.version is None:
            self.version = DEFAULT_FMBENCH_VERSION
        shorthand = self.config.startswith(FMBENCH_SHORTHAND)
        if shorthand and self.repo and github_owner_repo(self.repo) is None:
            raise PydanticCustomError(
                "fmbench_shorthand_repo",
                "the fmbench: shorthand needs a GitHub repo "
                "(https://github.com/<owner>/<name>); give config as a URL instead",
                {"loc": ("repo",)},
            )
        return self


class CommandBenchmark(BenchmarkBase):
    """Any command, run with bash in its own work directory on the host."""

    driver: Literal["command"] = Field(description="Selects this kind of benchmark.")
    run: str = Field(min_length=1, description="Run with bash on the host.")
    results: str = Field(
        default="results", description="Directory harvested after the run."
    )
    metrics: str | None = Field(
        default=None, description="JSON object of numbers, relative to the workdir."
    )


Benchmark = Annotated[
    FmbenchBenchmark | CommandBenchmark, Field(discriminator="driver")
]


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
        return region if region is None else _check_region(region)

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
        return region if region is None else _check_region(region)

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
        _name_benchmarks(self.benchmarks)
        return self


def _name_benchmarks(benchmarks: list[FmbenchBenchmark | CommandBenchmark]) -> None:
    """Give unnamed benchmarks a name; refuse two with the same one."""
    seen: dict[str, int] = {}
    for index, benchmark in enumerate(benchmarks):
        if benchmark.name is None:
            benchmark.name = _default_benchmark_name(benchmark, index)
        if benchmark.name in seen:
            raise PydanticCustomError(
                "duplicate_benchmark",
                "benchmarks[{first}] and benchmarks[{second}] are both named "
                "'{name}'; give each a unique name",
                {
                    "first": seen[benchmark.name],
                    "second": index,
                    "name": benchmark.name,
                    "loc": ("benchmarks", index, "name"),
                },
            )
        seen[benchmark.name] = index


def _default_benchmark_name(
    benchmark: FmbenchBenchmark | CommandBenchmark, index: int
) -> str:
    if isinstance(benchmark, FmbenchBenchmark):
        stem = Path(benchmark.config.split("?")[0]).stem.lower()
        stem = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
        if stem and stem[0].isalpha():
            return stem
    return f"{benchmark.driver}-{index + 1}"


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


class CampaignConfig(StrictModel):
    """A campaign: hosts to create, the benchmarks each runs, and the budget."""

    name: Slug = Field(
        max_length=MAX_CAMPAIGN_NAME,
        description="Names the stack, the bucket and the run directory.",
    )
    description: str | None = Field(default=None, description="Shown in the report.")
    provider: Literal["local", "aws", "static"] = Field(
        default="local",
        description="aws creates EC2 hosts; local runs SSH hosts on this machine; "
        "static uses hosts you already have.",
    )
    region: str = Field(
        default="us-east-1", description="AWS region of every host without its own."
    )
    budget: Budget | None = Field(
        default=None, description="Spending limits; none if unset."
    )
    ttl: Duration = Field(
        default=DEFAULT_TTL,
        description="Hosts shut themselves down this long after creation "
        "(e.g. 90m, 6h, 2d); defaults to budget.max_hours when set.",
    )
    owner: str | None = Field(
        default=None, description="Tagged on every resource; defaults to the operator."
    )
    tags: dict[str, str] = Field(
        default={}, description="Extra tags on every resource (not fmbench:, aws:)."
    )
    secrets: Secrets | None = Field(
        default=None,
        description="Secrets every host gets, each read from an environment "
        "variable or a file when it is uploaded.",
    )
    defaults: HostDefaults | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Host fields merged under every host; a host's own value wins.",
    )
    hosts: list[HostConfig] = Field(
        min_length=1,
        max_length=MAX_HOSTS_PER_CAMPAIGN,
        description="The hosts and their benchmarks.",
    )

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        defaults = raw.get("defaults")
        hosts = raw.get("hosts")
        if not isinstance(defaults, dict) or not isinstance(hosts, list):
            return raw
        # Unknown keys are reported at defaults.<key> by HostDefaults itself;
        # the known ones still merge, so a typo is not echoed once per host.
        known = {k: v for k, v in defaults.items() if k in HostDefaults.model_fields}
        merged = [
            _deep_merge(known, host) if isinstance(host, dict) else host
            for host in hosts
        ]
        return {**raw, "hosts": merged}

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        return _check_region(region)

    @field_validator("ttl")
    @classmethod
    def _ttl_bounds(cls, ttl: timedelta) -> timedelta:
        if ttl < timedelta(minutes=5) or ttl > MAX_TTL:
            raise PydanticCustomError(
                "ttl_range",
                "got {ttl}; ttl must be between 5m and 7d (hosts cost money)",
                {"ttl": format_duration(ttl)},
            )
        return ttl

    @field_validator("tags")
    @classmethod
    def _own_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        if len(tags) > MAX_USER_TAGS:
            raise PydanticCustomError(
                "too_many_tags",
                "{count} tags; AWS allows 50 per resource and the tool sets 6, so "
                "at most {limit} — drop some",
                {"count": len(tags), "limit": MAX_USER_TAGS},
            )
        for key, value in tags.items():
            if len(key) > MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
                raise PydanticCustomError(
                    "tag_too_long",
                    "AWS limits a tag's key to {key_limit} characters and its "
                    "value to {value_limit}; shorten it",
                    {
                        "key_limit": MAX_TAG_KEY,
                        "value_limit": MAX_TAG_VALUE,
                        "loc": (key,),
                    },
                )
            if key.startswith(("fmbench:", "aws:")):
                raise PydanticCustomError(
                    "reserved_tag",
                    "tag '{key}' uses a reserved prefix (fmbench: is set by the tool, "
                    "aws: by AWS); rename it",
                    {"key": key, "loc": (key,)},
                )
        return tags

    @model_validator(mode="after")
    def _ttl_within_budget(self) -> CampaignConfig:
        max_hours = self.budget.max_hours if self.budget else None
        if max_hours is None:
            return self
        budget_ttl = timedelta(hours=max_hours)
        if "ttl" not in self.model_fields_set:
            self.ttl = min(budget_ttl, MAX_TTL)
        elif self.ttl > budget_ttl:
            raise PydanticCustomError(
                "ttl_budget",
                "ttl ({ttl}) is longer than budget.max_hours ({hours} h), so hosts "
                "could outlive the budget; lower ttl or raise max_hours",
                {
                    "ttl": format_duration(self.ttl),
                    "hours": f"{max_hours:g}",
                    "loc": ("ttl",),
                },
            )
        return self

    @model_validator(mode="after")
    def _hosts_fit_provider(self) -> CampaignConfig:
        seen: dict[str, int] = {}
        total = 0
        for index, host in enumerate(self.hosts):
            if host.region is None:
                host.region = self.region
            try:
                catalog.get_instance_type(host.instance_type).price_per_hour(
                    host.region
                )
            except catalog.PriceUnknown as error:
                raise PydanticCustomError(
                    "price_unknown",
                    "{error}",
                    {"error": str(error), "loc": ("hosts", index, "region")},
                ) from None
            _check_placements(host, index, self.provider)
            total += host.count
            for name in host.expanded_names():
                if name in seen:
                    raise PydanticCustomError(
                        "duplicate_host",
                        "hosts[{first}] and hosts[{second}] both make a host named "
                        "'{name}'; give one of them another `name:`",
                        {
                            "first": seen[name],
                            "second": index,
                            "name": name,
                            "loc": ("hosts", index, "name"),
                        },
                    )
                seen[name] = index
            if self.provider == "static" and host.static is None:
                raise PydanticCustomError(
                    "static_missing",
                    "hosts[{index}] needs `static:` with the address and key_file "
                    "of a host you already have, because provider is static",
                    {"index": index, "loc": ("hosts", index, "static")},
                )
            if self.provider != "static" and host.static is not None:
                raise PydanticCustomError(
                    "static_unexpected",
                    "hosts[{index}] has `static:` but provider is {provider}; set "
                    "provider: static or remove it",
                    {
                        "index": index,
                        "provider": self.provider,
                        "loc": ("hosts", index, "static"),
                    },
                )
        if total > MAX_HOSTS_PER_CAMPAIGN:
            raise PydanticCustomError(
                "too_many_hosts",
                "the campaign asks for {total} hosts in all; the limit is {limit} — "
                "split it into several campaigns",
                {"total": total, "limit": MAX_HOSTS_PER_CAMPAIGN, "loc": ("hosts",)},
            )
        return self


def _check_placements(host: HostConfig, index: int, provider: str) -> None:
    """The host's zone and each fallback name a place the host can launch."""
    assert host.region is not None  # the campaign's region was filled in
    _check_zone(host.availability_zone, host.region, ("hosts", index))
    if host.fallbacks and provider == "static":
        raise PydanticCustomError(
            "fallbacks_static",
            "hosts[{index}] has fallbacks, but static hosts already exist; remove "
            "`fallbacks:` or use provider aws",
            {"index": index, "loc": ("hosts", index, "fallbacks")},
        )
    for number, fallback in enumerate(host.fallbacks):
        loc = ("hosts", index, "fallbacks", number)
        region = fallback.region or host.region
        kind = catalog.get_instance_type(fallback.instance_type or host.instance_type)
        try:
            kind.price_per_hour(region)
        except catalog.PriceUnknown as error:
            raise PydanticCustomError(
                "price_unknown", "{error}", {"error": str(error), "loc": loc}
            ) from None
        _check_zone(fallback.availability_zone, region, loc)
        primary = catalog.get_instance_type(host.instance_type)
        fixed_ami = host.ami not in catalog.AMI_ALIASES
        if fixed_ami and (
            region != host.region or kind.architecture != primary.architecture
        ):
            raise PydanticCustomError(
                "fallback_ami",
                "{ami} is an AMI of {region} for {arch}; a fallback to another "
                "region or architecture needs an alias (ami: gpu, cpu, neuron, "
                "arm) — or move this fallback into a host of its own",
                {
                    "ami": host.ami,
                    "region": host.region,
                    "arch": primary.architecture,
                    "loc": loc,
                },
            )
        if not fixed_ami and not host._ami_defaulted:
            try:
                catalog.resolve_ami_alias(str(host.ami), kind.architecture)
            except catalog.AmiAliasMismatch as error:
                raise PydanticCustomError(
                    "ami_alias", "{error}", {"error": str(error), "loc": loc}
                ) from None


def _check_zone(zone: str | None, region: str, loc: tuple[Any, ...]) -> None:
    if zone is None:
        return
    if not re.fullmatch(re.escape(region) + r"[a-z]", zone):
        raise PydanticCustomError(
            "availability_zone",
            "availability zone '{zone}' is not a zone of {region} (such as {region}a)",
            {"zone": zone, "region": region, "loc": (*loc, "availability_zone")},
        )


def _check_instance_type(name: str) -> str:
    try:
        catalog.get_instance_type(name)
    except catalog.UnknownInstanceType as error:
        raise PydanticCustomError("instance_type", str(error)) from None
    return name


def _check_region(region: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", region):
        raise PydanticCustomError(
            "region",
            "'{region}' is not an AWS region such as us-east-1",
            {"region": region},
        )
    return region


def github_owner_repo(repository: str) -> str | None:
    """`owner/name` of a GitHub repository URL, or None for other hosts."""
    match = re.fullmatch(
        r"(?:https://github\.com/|git@github\.com:)([\w.-]+/[\w.-]+?)(?:\.git)?/?",
        repository,
    )
    return match.group(1) if match else None


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
