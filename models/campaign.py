"""The campaign file: what the user wrote, validated strictly.

Every model forbids unknown keys, and every default the tool applies is
declared here or in the models it is made of (`models.host`,
`models.benchmark`), nowhere else.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fmbench_orch.models import catalog
from fmbench_orch.models.durations import format_duration
from fmbench_orch.models.fields import (
    MAX_HOSTS_PER_CAMPAIGN,
    MAX_TTL,
    Duration,
    Slug,
    StrictModel,
    check_region,
    existing_path,
)
from fmbench_orch.models.host import HostConfig, HostDefaults
from fmbench_orch.models.permissions import Permissions

# Bucket names (3–63 chars) are built as `fmbench-<campaign>-<run id>`, so the
# campaign name keeps to 40 to leave room for the prefix and a 12-char run id.
MAX_CAMPAIGN_NAME = 40
# Long enough for an FMBench sweep on a few hosts; short enough that a
# forgotten host stops billing the same working day.
DEFAULT_TTL = timedelta(hours=6)
# EC2 and S3 allow 50 tags per resource; the tool sets six of its own
# (fmbench:campaign, run, ttl, owner, host and Name).
MAX_USER_TAGS = 44
# AWS's own limits on a tag's key and value.
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256

# A secret is read from an environment variable of this shape.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Budget(StrictModel):
    """Spending limits; `plan` and `run` refuse a campaign that exceeds them."""

    max_usd_per_hour: float = Field(gt=0, description="Sum of all hosts' USD/h.")
    max_hours: float | None = Field(
        default=None, gt=0, description="Upper bound on the campaign's wall time."
    )


class SecretSource(StrictModel):
    """Where a secret is read from, at upload time; its value is kept nowhere."""

    env: str | None = Field(
        default=None, description="An environment variable that holds it."
    )
    file: Annotated[Path, BeforeValidator(existing_path)] | None = Field(
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
    permissions: Permissions | None = Field(
        default=None,
        description="What the hosts' IAM role may do beyond the run's bucket "
        "(provider aws only); none if unset.",
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
        return check_region(region)

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
    def _permissions_need_aws(self) -> CampaignConfig:
        if self.permissions is None or self.permissions.is_empty:
            return self
        if self.provider != "aws":
            raise PydanticCustomError(
                "permissions_provider",
                "permissions apply to the IAM role of EC2 hosts, so they need "
                "provider: aws (this campaign uses provider {provider}); set "
                "provider: aws or remove `permissions:`",
                {"provider": self.provider, "loc": ("permissions",)},
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


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
