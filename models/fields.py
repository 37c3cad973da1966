"""Field types and limits shared by the campaign file's models.

Paths the user wrote relative to the campaign file are resolved here against
the loader's `base_dir` (see `models.loader`). A validator that checks
several fields at once puts `loc` in its error's context: the path, below
the validator's own place, of the field to fix, so the message names
`hosts[1].name` rather than the whole campaign.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from fmbench_orch.models.durations import parse_duration

# A campaign is reviewed by a person; more hosts than this is a typo (count:
# 1000) far more often than a plan, and would exhaust every default EC2 quota.
MAX_HOSTS_PER_CAMPAIGN = 256
# A week: a campaign that needs longer should be split; hosts cost money.
MAX_TTL = timedelta(days=7)
# Host and benchmark names become directory names, SSH known_hosts entries and
# EC2 Name tags; a DNS label's 63 characters is plenty and fits them all.
MAX_NAME = 63

SLUG = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")


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
def existing_path(value: str | Path, info: ValidationInfo) -> Path:
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


def check_region(region: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", region):
        raise PydanticCustomError(
            "region",
            "'{region}' is not an AWS region such as us-east-1",
            {"region": region},
        )
    return region
