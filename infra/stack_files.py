"""Stack files for people who drive stacks with the Pulumi CLI.

`stacks/Pulumi.<stack>.yaml` (Pulumi.yaml says `stackConfigDir: stacks`)
names the campaign file and holds the values fixed when the stack was
created — run id, creation time, operator, operator CIDR, public key — so
every `pulumi preview` and `pulumi up` compiles the same spec. Reading and
writing both live here, so the two can never disagree on a key. Beside it,
`stacks/policy.<stack>.json` gives the policy pack the campaign's budget and
instance types (`--policy-pack-config`), without which those two policies
have nothing to check against.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fmbench_orch.infra.errors import (
    StackConfigInvalid,
    StackFileExists,
    StackFileMissing,
)
from fmbench_orch.models.compile import StackValues

PROJECT_NAME = "fmbench-orchestrator"
# The policies that take per-stack settings, and the settings' names.
BUDGET_POLICY = "stack-within-budget"
INSTANCE_TYPE_POLICY = "instance-type-in-catalog"
PROJECT_FILE = "Pulumi.yaml"
STACKS_DIR = "stacks"
# Pulumi's own rule for stack names.
STACK_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

KEY_CAMPAIGN = "campaign"
KEY_RUN_ID = "runId"
KEY_CREATED_AT = "createdAt"
KEY_OPERATOR = "operator"
KEY_OPERATOR_CIDR = "operatorCidr"
KEY_PUBLIC_KEY = "publicKey"
_FIELD_KEYS = {
    "run_id": KEY_RUN_ID,
    "created_at": KEY_CREATED_AT,
    "operator": KEY_OPERATOR,
    "operator_cidr": KEY_OPERATOR_CIDR,
}

_HEADER = """\
# Written by `fmbench-orch stack init`. These values are fixed for the life of
# the stack: edit the campaign file, not these values, and create a new stack
# (with a new run id) for a new run. The public key is public; its private
# half stays on the operator's machine.
"""


@dataclass(frozen=True)
class StackSettings:
    """What a stack file holds: the campaign path and the fixed values."""

    campaign: Path
    values: StackValues
    public_key: str


def write_stack_file(
    campaign_path: Path,
    stack_name: str,
    values: StackValues,
    public_key: str,
    *,
    project_dir: Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `stacks/Pulumi.<stack_name>.yaml` for a campaign; return its path.

    The campaign is loaded (and so validated) first; its region becomes the
    AWS provider's default region. The campaign path is stored relative to
    the project directory (the one holding Pulumi.yaml, found upwards from
    the campaign unless given). Refuses to replace an existing stack file
    unless `overwrite` is set, since its run id may name live resources.
    """
    if not STACK_NAME_PATTERN.match(stack_name):
        raise StackConfigInvalid(
            "stack", f"name {stack_name!r} may use only letters, digits, - _ and ."
        )
    campaign_path = campaign_path.resolve()
    campaign, root, path = _destination(
        campaign_path, f"Pulumi.{stack_name}.yaml", project_dir, overwrite
    )

    config: dict[str, Any] = {
        "aws:region": campaign.region,
        _key(KEY_CAMPAIGN): _relative(campaign_path, root),
        _key(KEY_RUN_ID): values.run_id,
        _key(KEY_CREATED_AT): values.created_at.isoformat(timespec="seconds"),
        _key(KEY_OPERATOR): values.operator,
    }
    if values.operator_cidr:
        config[_key(KEY_OPERATOR_CIDR)] = values.operator_cidr
    config[_key(KEY_PUBLIC_KEY)] = public_key.strip()

    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"config": config}, sort_keys=False, width=1000)
    path.write_text(_HEADER + text, encoding="utf-8")
    return path


def write_policy_config(
    campaign_path: Path,
    stack_name: str,
    *,
    project_dir: Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `stacks/policy.<stack_name>.json`: the campaign's budget and the
    instance types its hosts and fallbacks may use; return its path."""
    import json

    campaign, _, path = _destination(
        campaign_path.resolve(), f"policy.{stack_name}.json", project_dir, overwrite
    )
    types = {host.instance_type for host in campaign.hosts}
    types |= {
        fallback.instance_type
        for host in campaign.hosts
        for fallback in host.fallbacks
        if fallback.instance_type
    }
    config: dict[str, Any] = {
        INSTANCE_TYPE_POLICY: {"allowedInstanceTypes": sorted(types)}
    }
    if campaign.budget is not None:
        config[BUDGET_POLICY] = {"maxUsdPerHour": campaign.budget.max_usd_per_hour}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def _destination(
    campaign_path: Path, file_name: str, project_dir: Path | None, overwrite: bool
) -> tuple[Any, Path, Path]:
    """The campaign (validated), the project root and `stacks/<file_name>`."""
    from fmbench_orch.models.loader import load_campaign

    campaign = load_campaign(campaign_path, check_paths=False)
    root = (project_dir or find_project_dir(campaign_path.parent)).resolve()
    path = root / STACKS_DIR / file_name
    if path.exists() and not overwrite:
        raise StackFileExists(path)
    return campaign, root, path


def read_stack_settings(config: Mapping[str, Any], project_dir: Path) -> StackSettings:
    """The settings from a stack's config (keys without the project prefix)."""
    campaign = _required(config, KEY_CAMPAIGN)
    created_at = _required(config, KEY_CREATED_AT)
    try:
        created = datetime.fromisoformat(created_at)
    except ValueError:
        created = None
    if created is None or created.tzinfo is None:
        raise StackConfigInvalid(
            KEY_CREATED_AT, f"is {created_at!r}, not an ISO 8601 time with a zone"
        )
    try:
        values = StackValues(
            run_id=_required(config, KEY_RUN_ID),
            created_at=created,
            operator=_required(config, KEY_OPERATOR),
            operator_cidr=config.get(KEY_OPERATOR_CIDR) or None,
        )
    except ValidationError as error:
        first = error.errors()[0]
        key = _FIELD_KEYS.get(str(first["loc"][0]), str(first["loc"][0]))
        raise StackConfigInvalid(key, f"is not valid: {first['msg']}") from None
    path = Path(campaign)
    return StackSettings(
        campaign=path if path.is_absolute() else project_dir / path,
        values=values,
        public_key=_required(config, KEY_PUBLIC_KEY),
    )


def find_project_dir(start: Path) -> Path:
    """The nearest directory at or above `start` holding Pulumi.yaml."""
    for directory in (start, *start.parents):
        if (directory / PROJECT_FILE).is_file():
            return directory
    raise StackConfigInvalid(
        "project", f"has no {PROJECT_FILE} at or above {start}; run from the repository"
    )


def _key(name: str) -> str:
    return f"{PROJECT_NAME}:{name}"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)  # outside the project: kept absolute


def _required(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if not value:
        raise StackConfigInvalid(key, "is missing")
    return str(value)


def read_stack_file(stack_name: str, project_dir: Path) -> StackSettings:
    """The settings of `stacks/Pulumi.<stack_name>.yaml`, as `pulumi up` reads them."""
    import yaml

    path = project_dir / STACKS_DIR / f"Pulumi.{stack_name}.yaml"
    if not path.is_file():
        raise StackFileMissing(stack_name, path)
    config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config")
    prefix = f"{PROJECT_NAME}:"
    own = {
        key.removeprefix(prefix): value
        for key, value in (config or {}).items()
        if key.startswith(prefix)
    }
    return read_stack_settings(own, project_dir)
