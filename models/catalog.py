"""The instance catalog: hardware and On-Demand prices of EC2 instance types.

The data lives in ``models/data/instances.yaml`` (installed as package data). It
is read and validated once, on first use, and kept for the life of the process,
so compiling a campaign never touches the network. The catalog also names the
default AMI of each type as a public SSM parameter, which EC2 resolves to the
current image id in whichever region the host is launched.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import types
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StringConstraints,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

# Where the data lives inside this package, and how messages name it for a user
# who wants to edit it.
CATALOG_RESOURCE = "data/instances.yaml"
CATALOG_FILE_FOR_HUMANS = "models/data/instances.yaml"

# How many close names an unknown-type error offers, and how alike a name must
# be to count as close (difflib's default; picked without special meaning).
MAX_SUGGESTIONS = 3
SUGGESTION_CUTOFF = 0.6

# AWS region names such as us-east-1 or us-gov-west-1; catches typos like
# "us-east1" in the data file.
_REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]+$"

# The C loader parses the catalog several times faster; fall back when PyYAML
# was built without libyaml.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

AcceleratorKind = Literal["nvidia", "neuron"]
Architecture = Literal["x86_64", "arm64"]

AMI_ALIASES = ("gpu", "cpu", "neuron", "arm")
# Every alias resolves to an Ubuntu image, whose login user is this one.
AMI_ALIAS_SSH_USER = "ubuntu"

_DLAMI_BASE = "/aws/service/deeplearning/ami"
_UBUNTU_BASE = "/aws/service/canonical/ubuntu/server/22.04/stable/current"
_AMI_PARAMETERS: Mapping[tuple[str, str], str] = {
    ("gpu", "x86_64"): (
        f"{_DLAMI_BASE}/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
    ),
    ("gpu", "arm64"): (
        f"{_DLAMI_BASE}/arm64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
    ),
    ("neuron", "x86_64"): (
        "/aws/service/neuron/dlami/multi-framework/ubuntu-22.04/latest/image_id"
    ),
    ("cpu", "x86_64"): f"{_UBUNTU_BASE}/amd64/hvm/ebs-gp2/ami-id",
    ("arm", "arm64"): f"{_UBUNTU_BASE}/arm64/hvm/ebs-gp2/ami-id",
}
# The plain Ubuntu alias that fits each architecture, offered on a mismatch.
_PLAIN_ALIAS_FOR: Mapping[str, str] = {"x86_64": "cpu", "arm64": "arm"}


class UnknownInstanceType(ValueError):
    """A campaign names an instance type the catalog does not hold."""

    def __init__(
        self, name: str, suggestions: tuple[str, ...], families: tuple[str, ...]
    ):
        self.name = name
        self.suggestions = suggestions
        known = f"known families: {', '.join(families)}"
        if suggestions:
            *others, last = (repr(s) for s in suggestions)
            options = f"{', '.join(others)} or {last}" if others else last
            message = (
                f"unknown instance type {name!r}; did you mean {options}? ({known})"
            )
        else:
            message = (
                f"unknown instance type {name!r} ({known}); if AWS offers it, add it "
                f"to {CATALOG_FILE_FOR_HUMANS}"
            )
        super().__init__(message)


class PriceUnknown(ValueError):
    """The catalog has no On-Demand price for an instance type in a region."""

    def __init__(
        self, instance_type: str, region: str, priced_regions: tuple[str, ...]
    ):
        self.instance_type = instance_type
        self.region = region
        self.priced_regions = priced_regions
        if priced_regions:
            message = (
                f"no On-Demand price for {instance_type} in {region}; it has prices in "
                f"{', '.join(priced_regions)}: pick one of those regions, or add the "
                f"price to {CATALOG_FILE_FOR_HUMANS} if AWS now offers it in {region}"
            )
        else:
            message = (
                f"no On-Demand price for {instance_type} in any region; add the price "
                f"you pay in {region} to {CATALOG_FILE_FOR_HUMANS}"
            )
        super().__init__(message)


class AmiAliasMismatch(ValueError):
    """An AMI alias has no image for the instance type's architecture."""

    def __init__(self, alias: str, architecture: str, use_instead: str):
        self.alias = alias
        self.architecture = architecture
        self.use_instead = use_instead
        super().__init__(
            f"AMI alias {alias!r} has no {architecture} image; use the "
            f"{use_instead!r} alias for {architecture} instance types"
        )


class CatalogInvalid(ValueError):
    """The catalog data file does not parse or does not validate."""


class InstanceType(BaseModel):
    """One EC2 instance type: its hardware and On-Demand USD per hour by region.

    A region missing from ``prices`` means AWS does not offer the type there.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    family: str
    vcpus: PositiveInt
    memory_gib: PositiveFloat
    accelerator_count: NonNegativeInt
    accelerator: str | None
    accelerator_kind: AcceleratorKind | None
    accelerator_memory_gib: NonNegativeFloat
    architecture: Architecture
    prices: Mapping[str, PositiveFloat]

    @field_validator("prices", mode="after")
    @classmethod
    def _read_only(cls, prices: Mapping[str, float]) -> Mapping[str, float]:
        # Instances are shared by every caller of the cached catalog.
        return types.MappingProxyType(dict(prices))

    @field_serializer("prices")
    def _plain_dict(self, prices: Mapping[str, float]) -> dict[str, float]:
        return dict(prices)

    @model_validator(mode="after")
    def _consistent(self) -> InstanceType:
        if not self.name.startswith(f"{self.family}."):
            raise ValueError(f"{self.name} does not belong to family {self.family}")
        has_accelerator = self.accelerator_count > 0
        described = self.accelerator is not None and self.accelerator_kind is not None
        if has_accelerator != described:
            raise ValueError(
                f"{self.name}: give an accelerator model and kind exactly when the "
                "accelerator count is above zero"
            )
        if has_accelerator != (self.accelerator_memory_gib > 0):
            raise ValueError(f"{self.name}: accelerator memory must match the count")
        return self

    def price_per_hour(self, region: str) -> float:
        """On-Demand USD per hour in ``region``; raises PriceUnknown if none."""
        try:
            return self.prices[region]
        except KeyError:
            raise PriceUnknown(self.name, region, tuple(sorted(self.prices))) from None

    @property
    def ami_alias(self) -> str:
        """The AMI alias a host of this type gets unless the campaign names one."""
        if self.accelerator_kind == "neuron":
            return "neuron"
        if self.accelerator_kind == "nvidia":
            return "gpu"
        return _PLAIN_ALIAS_FOR[self.architecture]


def get_instance_type(name: str) -> InstanceType:
    """The catalog entry for ``name`` (exact, case-sensitive, as AWS spells it)."""
    catalog = _catalog()
    try:
        return catalog.instance_types[name]
    except KeyError:
        raise UnknownInstanceType(
            name, _close_names(name, catalog.instance_types), catalog.families
        ) from None


def instance_types() -> Mapping[str, InstanceType]:
    """Every instance type in the catalog, by name (read-only)."""
    return _catalog().instance_types


def known_regions() -> frozenset[str]:
    """Every region in which at least one instance type has a price."""
    return _catalog().regions


def catalog_source() -> str:
    """Where the prices come from and the date they are taken to be as of."""
    catalog = _catalog()
    return f"{catalog.source}, prices as of {catalog.prices_as_of.isoformat()}"


def prices_as_of() -> date:
    """The date the catalog's prices are taken to be as of."""
    return _catalog().prices_as_of


def resolve_ami_alias(alias: str, architecture: str) -> str:
    """The public SSM parameter holding the current AMI id for ``alias``.

    EC2 resolves the parameter in the host's own region at launch, so the
    compile step stays offline. Raises AmiAliasMismatch when the alias has no
    image for ``architecture`` (for example ``cpu`` on an arm64 type).
    """
    if alias not in AMI_ALIASES:
        raise ValueError(
            f"unknown AMI alias {alias!r}; use one of: {', '.join(AMI_ALIASES)}"
        )
    if architecture not in _PLAIN_ALIAS_FOR:
        raise ValueError(
            f"unknown architecture {architecture!r}; expected x86_64 or arm64"
        )
    try:
        return _AMI_PARAMETERS[(alias, architecture)]
    except KeyError:
        raise AmiAliasMismatch(
            alias, architecture, _PLAIN_ALIAS_FOR[architecture]
        ) from None


def _close_names(name: str, known: Mapping[str, InstanceType]) -> tuple[str, ...]:
    # AWS names are lowercase, so compare in lowercase: "G6E.2XLARGE" then
    # suggests its exact lowercase spelling first.
    wanted = name.lower()
    close = difflib.get_close_matches(
        wanted, known, n=MAX_SUGGESTIONS, cutoff=SUGGESTION_CUTOFF
    )
    if not close:
        # A bare family name ("g6e") is too short to be close to any size.
        close = [n for n, t in known.items() if t.family == wanted][:MAX_SUGGESTIONS]
    return tuple(close)


# --- the data file -----------------------------------------------------------

_Region = Annotated[str, StringConstraints(pattern=_REGION_PATTERN)]


class _AcceleratorEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    kind: AcceleratorKind
    memory_gib: PositiveFloat  # per accelerator


class _TypeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vcpus: PositiveInt
    memory_gib: PositiveFloat
    accelerators: NonNegativeInt = 0
    prices: dict[_Region, PositiveFloat]


class _FamilyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    architecture: Architecture
    accelerator: _AcceleratorEntry | None
    types: dict[str, _TypeEntry]


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Annotated[str, StringConstraints(min_length=1)]
    prices_as_of: date
    families: dict[str, _FamilyEntry]


@dataclass(frozen=True)
class _Catalog:
    instance_types: Mapping[str, InstanceType]
    families: tuple[str, ...]
    regions: frozenset[str]
    source: str
    prices_as_of: date


@functools.cache
def _catalog() -> _Catalog:
    resource = importlib.resources.files(__package__).joinpath(CATALOG_RESOURCE)
    return _parse_catalog(resource.read_text(encoding="utf-8"))


def _parse_catalog(text: str) -> _Catalog:
    # Limitation: PyYAML keeps the last of two rows with the same name in one
    # family without a word — it would matter only after a careless edit.
    try:
        entries = _CatalogFile.model_validate(yaml.load(text, Loader=_YAML_LOADER))
        by_name = {
            instance.name: instance
            for family, entry in entries.families.items()
            for instance in _family_types(family, entry)
        }
    except (yaml.YAMLError, ValidationError) as error:
        raise CatalogInvalid(
            f"{CATALOG_FILE_FOR_HUMANS} is invalid; fix the entry named here: {error}"
        ) from error

    return _Catalog(
        instance_types=types.MappingProxyType(by_name),
        families=tuple(sorted(entries.families)),
        regions=frozenset(r for t in by_name.values() for r in t.prices),
        source=entries.source,
        prices_as_of=entries.prices_as_of,
    )


def _family_types(family: str, entry: _FamilyEntry) -> list[InstanceType]:
    accelerator = entry.accelerator
    return [
        InstanceType(
            name=name,
            family=family,
            vcpus=row.vcpus,
            memory_gib=row.memory_gib,
            accelerator_count=row.accelerators,
            accelerator=accelerator.model if accelerator else None,
            accelerator_kind=accelerator.kind if accelerator else None,
            accelerator_memory_gib=(
                row.accelerators * accelerator.memory_gib if accelerator else 0.0
            ),
            architecture=entry.architecture,
            prices=row.prices,
        )
        for name, row in entry.types.items()
    ]
