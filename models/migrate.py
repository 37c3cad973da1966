"""`migrate`: a legacy fmbench-orchestrator campaign becomes a campaign file.

A pure conversion: the texts of the legacy `config.yml`, `infra.yml` and
`ami_mapping.yml` plus the options go in; the new campaign (and, when the
legacy file mixes created and existing hosts, a second campaign for the
existing ones) and a list of notes for the user come out. What each legacy
key becomes is in `models.legacy_keys`; how the templates are read is in
`models.legacy`. The only file system access is checking that the files the
legacy campaign names exist, so the notes can say which are missing.
"""

from __future__ import annotations

import math
import os
import re
import textwrap
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fmbench_orch.models.benchmark import DEFAULT_BENCHMARK_TIMEOUT_SECONDS
from fmbench_orch.models.campaign import DEFAULT_TTL, MAX_CAMPAIGN_NAME, CampaignConfig
from fmbench_orch.models.durations import format_duration
from fmbench_orch.models.errors import ConfigError, Problem
from fmbench_orch.models.fields import MAX_TTL
from fmbench_orch.models.legacy import LegacyCampaign, LegacyText, load_legacy
from fmbench_orch.models.legacy_hosts import HostMigration, convert_instance
from fmbench_orch.models.legacy_keys import LEGACY_KEYS_BY_BECOMES, report_keys
from fmbench_orch.models.loader import format_path, interpolate

STATIC_SUFFIX = "-static"
# The header comment wraps to the house 88 columns ("# " included).
HEADER_WIDTH = 86
# Long values (ARNs, URLs) stay on one line rather than fold mid-value.
YAML_WIDTH = 1_000
# Bootstrap (FMBench's ~240 packages) and the model download come before the
# first benchmark; the legacy tool allowed 1500 s for its startup script alone.
BOOTSTRAP_ALLOWANCE = timedelta(minutes=45)
# Stand-ins for the `${env:…}` placeholders of static hosts, used only to check
# the rest of the migrated file: a documentation address and a cheap type.
_STAND_INS = {"ADDRESS": "192.0.2.1", "INSTANCE_TYPE": "m5.large"}
_ENV_REF = re.compile(r"\$\{env:(FMBENCH_HOST_\d+_(ADDRESS|INSTANCE_TYPE))\}")


@dataclass(frozen=True)
class MigrateOptions:
    """The command line's choices. Relative legacy paths resolve under
    `legacy_root`; the campaign's paths are written relative to `output`'s
    folder so that it validates where it is written."""

    output: Path
    legacy_root: Path
    region: str | None = None
    config_file: str | None = None
    write_bucket: str | None = None


@dataclass
class Migration:
    """The migrated campaign, the one for existing hosts (if any), the notes."""

    campaign: dict[str, Any]
    notes: list[str]
    static_campaign: dict[str, Any] | None = None


class Notes:
    """What the user should know, each message once with every place it applies."""

    def __init__(self) -> None:
        self._places: dict[str, list[str]] = {}

    def add(self, where: str, message: str) -> None:
        places = self._places.setdefault(message, [])
        if where and where not in places:
            places.append(where)

    def lines(self) -> list[str]:
        return [
            f"{', '.join(places)}: {message}" if places else message
            for message, places in self._places.items()
        ]


def static_output_path(output: Path) -> Path:
    """Where the campaign of a legacy file's existing hosts is written."""
    return output.with_name(f"{output.stem}{STATIC_SUFFIX}{output.suffix or '.yml'}")


def migrate_legacy(
    config: LegacyText,
    infra: LegacyText,
    ami_mapping: LegacyText,
    options: MigrateOptions,
) -> Migration:
    """Convert the legacy trio; raise ConfigError naming the legacy file and key."""
    values = {
        "region": options.region,
        "config_file": options.config_file,
        "write_bucket": options.write_bucket,
    }
    legacy = load_legacy(config, infra, ami_mapping, values)
    notes = Notes()
    if options.region and legacy.region != options.region:
        notes.add("aws.region", f"{legacy.region} is used; --region was ignored")

    instances = legacy.data.get("instances")
    if not isinstance(instances, list) or not instances:
        raise legacy.problem(
            ("instances",), "list the instances to benchmark (a non-empty list)"
        )
    name = _campaign_name(legacy, notes)
    paths = PathMover(options.legacy_root, options.output.parent, notes)
    hf_token = _hf_token_upload(legacy, paths)

    created: list[HostMigration] = []
    existing: list[HostMigration] = []
    for index in range(len(instances)):
        host = convert_instance(legacy, index, paths, hf_token, notes)
        if host is not None:
            (existing if host.static else created).append(host)
    if not created and not existing:
        raise legacy.problem(
            ("instances",),
            "every instance has `deploy: no`, so there is nothing to migrate; set "
            "deploy: yes on the ones to benchmark",
        )
    report_keys(legacy, [h.index for h in created + existing], notes)
    _name_hosts(created)

    vpc_id = _vpc_id(legacy)
    main_hosts, provider = (created, "aws") if created else (existing, "static")
    campaign = _campaign(name, provider, legacy, main_hosts, vpc_id, notes)
    _check(campaign, main_hosts, legacy, options.output.parent)
    static = None
    if created and existing:
        stem = name[: MAX_CAMPAIGN_NAME - len(STATIC_SUFFIX)].rstrip("-")
        static = _campaign(
            stem + STATIC_SUFFIX, "static", legacy, existing, None, notes
        )
        _check(static, existing, legacy, options.output.parent)
        notes.add(
            "",
            "the legacy file mixes created and existing hosts; a campaign has one "
            "provider, so the existing ones are in "
            f"{static_output_path(options.output).name} (provider: static) — run "
            "it separately",
        )
    for document in (campaign, static):
        if document is not None:
            _share_defaults(document)
    return Migration(campaign, notes.lines(), static)


def render_campaign(
    campaign: dict[str, Any], notes: list[str], sources: list[Path]
) -> str:
    """The campaign as YAML, under a header saying where it came from and the notes."""
    header = [
        "Migrated by `fmbench-orch migrate` from the legacy fmbench-orchestrator",
        "campaign in:",
        *(f"  {source}" for source in sources),
    ]
    if notes:
        header += ["", "Review these notes before running it:"]
        for note in notes:
            header += textwrap.wrap(
                note,
                HEADER_WIDTH,
                initial_indent="- ",
                subsequent_indent="  ",
                break_long_words=False,  # paths and URLs stay whole
                break_on_hyphens=False,
            )
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header)
    body = yaml.dump(
        campaign,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=YAML_WIDTH,
    )
    return f"{comment}\n{body}"


class _Dumper(yaml.SafeDumper):
    """Writes shared values out in full: anchors would only puzzle a reader."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class PathMover:
    """Rewrites legacy paths (relative to the legacy root) for the new file."""

    def __init__(self, legacy_root: Path, output_dir: Path, notes: Notes) -> None:
        self.legacy_root = Path(os.path.abspath(legacy_root))
        self.output_dir = Path(os.path.abspath(output_dir))
        self.notes = notes

    def move(self, value: str, where: str) -> str:
        if value.startswith("~") or Path(value).is_absolute():
            found, written = Path(value).expanduser(), value
        else:
            found = Path(os.path.normpath(self.legacy_root / value))
            written = self._relative(found)
        if not found.exists():
            self.notes.add(
                where,
                f"{value} does not exist (looked in {found.parent}); create it, or "
                "pass --legacy-root the folder the legacy tool ran in and migrate "
                "again",
            )
        return written

    def _relative(self, path: Path) -> str:
        """Relative to the output folder when they share more than the root."""
        try:
            common = Path(os.path.commonpath([path, self.output_dir]))
        except ValueError:  # another drive: no relative path exists
            return str(path)
        if common == Path(common.anchor):
            return str(path)
        return Path(os.path.relpath(path, self.output_dir)).as_posix()


def _hf_token_upload(legacy: LegacyCampaign, paths: PathMover) -> str | None:
    aws = legacy.data.get("aws")
    token = aws.get("hf_token_fpath") if isinstance(aws, dict) else None
    if token is None:
        return None
    if not isinstance(token, str) or not token:
        raise legacy.problem(
            ("aws", "hf_token_fpath"), "write the path of the Hugging Face token file"
        )
    return paths.move(token, "aws.hf_token_fpath")


def _campaign_name(legacy: LegacyCampaign, notes: Notes) -> str:
    general = legacy.data.get("general")
    raw = general.get("name") if isinstance(general, dict) else None
    if not isinstance(raw, str) or not raw.strip():
        raise legacy.problem(
            ("general", "name"), "the campaign needs a name; add general.name"
        )
    slug = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")
    if not slug[:1].isalpha():
        slug = f"campaign-{slug}".rstrip("-")
    slug = slug[:MAX_CAMPAIGN_NAME].rstrip("-")
    if slug != raw:
        notes.add(
            "general.name",
            f"'{raw}' becomes name '{slug}' (lowercase letters, digits and hyphens: "
            "it names stacks and buckets)",
        )
    return slug


def _vpc_id(legacy: LegacyCampaign) -> str | None:
    group = legacy.data.get("security_group")
    vpc_id = group.get("vpc_id") if isinstance(group, dict) else None
    return vpc_id if isinstance(vpc_id, str) and vpc_id else None


def _name_hosts(hosts: list[HostMigration]) -> None:
    """Created hosts of one type get numbered names (host names must differ)."""
    types = [host.document["instance_type"] for host in hosts]
    seen: dict[str, int] = {}
    for host, instance_type in zip(hosts, types, strict=True):
        if types.count(instance_type) > 1:
            seen[instance_type] = seen.get(instance_type, 0) + 1
            stem = instance_type.replace(".", "-")
            host.document = {"name": f"{stem}-{seen[instance_type]}", **host.document}


# Host keys that move to `defaults:` when every host has the same value.
_SHAREABLE = ("ami", "ssh_user", "storage", "capacity", "upload_files")


def _campaign(
    name: str,
    provider: str,
    legacy: LegacyCampaign,
    hosts: list[HostMigration],
    vpc_id: str | None,
    notes: Notes,
) -> dict[str, Any]:
    campaign: dict[str, Any] = {
        "name": name,
        "description": "Migrated from the legacy fmbench-orchestrator campaign "
        f"'{legacy.data['general']['name']}'",
        "provider": provider,
        "region": legacy.region,
    }
    ttl = _ttl(hosts, notes, name)
    if ttl is not None:
        campaign["ttl"] = ttl
    if vpc_id:
        campaign["defaults"] = {"network": {"vpc_id": vpc_id}}
    campaign["hosts"] = [dict(host.document) for host in hosts]
    return campaign


def _share_defaults(campaign: dict[str, Any]) -> None:
    """Move what every host has in common to `defaults:`, as a person would."""
    hosts = campaign["hosts"]
    defaults = campaign.setdefault("defaults", {})
    if len(hosts) > 1:
        for key in _SHAREABLE:
            shared = _shared_value([host.get(key) for host in hosts])
            if shared is not None:
                defaults[key] = shared
                for host in hosts:
                    _remove_shared(host, key, shared)
    if not defaults:
        del campaign["defaults"]
    campaign["hosts"] = campaign.pop("hosts")  # after defaults, as people read it


def _shared_value(values: list[Any]) -> Any:
    """What every host has in common: the whole value, or a mapping's common part."""
    if values[0] is None:
        return None
    if values.count(values[0]) == len(values):
        return values[0]
    if not all(isinstance(value, dict) for value in values):
        return None
    common = {
        key: item
        for key, item in values[0].items()
        if all(value.get(key, _MISSING) == item for value in values)
    }
    return common or None


def _remove_shared(document: dict[str, Any], key: str, shared: Any) -> None:
    value = document[key]
    if isinstance(value, dict) and value != shared:
        document[key] = {k: v for k, v in value.items() if k not in shared}
    else:
        del document[key]


_MISSING = object()


def _ttl(hosts: list[HostMigration], notes: Notes, name: str) -> str | None:
    """A TTL long enough for the slowest host's benchmarks, if the default isn't."""
    longest = max(
        sum(
            benchmark.get("timeout_seconds", DEFAULT_BENCHMARK_TIMEOUT_SECONDS)
            for benchmark in host.document["benchmarks"]
        )
        for host in hosts
    )
    needed = timedelta(seconds=longest) + BOOTSTRAP_ALLOWANCE
    if needed <= DEFAULT_TTL:
        return None
    ttl = min(timedelta(hours=math.ceil(needed.total_seconds() / 3600)), MAX_TTL)
    notes.add(
        name,
        f"ttl {format_duration(ttl)}: hosts shut themselves down at the TTL, and the "
        f"slowest host's benchmark timeouts add up to {format_duration(needed)} "
        "with bootstrap"
        + ("" if ttl >= needed else " — more than the 7d limit; split that host"),
    )
    return format_duration(ttl)


def _check(
    document: dict[str, Any],
    hosts: list[HostMigration],
    legacy: LegacyCampaign,
    output_dir: Path,
) -> None:
    """Validate the migrated campaign; name the legacy instance behind a problem."""
    environ = {
        match.group(1): _STAND_INS[match.group(2)]
        for match in _ENV_REF.finditer(repr(document))
    }
    resolved = interpolate(document, environ, legacy.where(())[0])
    context = {"base_dir": output_dir, "check_paths": False}
    try:
        CampaignConfig.model_validate(resolved, context=context)
    except ValidationError as error:
        from fmbench_orch.models.validation_errors import problems_from

        problems = [
            _legacy_problem(problem, hosts, legacy) for problem in problems_from(error)
        ]
        raise ConfigError(legacy.where(("instances",))[0], problems) from None


def _legacy_problem(
    problem: Problem, hosts: list[HostMigration], legacy: LegacyCampaign
) -> Problem:
    """A problem of the migrated file, placed at the legacy key it came from."""
    message = f"migrated to {problem.path}, which is invalid: {problem.message}"
    match = re.match(r"hosts\[(\d+)\]", problem.path)
    if match is None:
        return Problem("(campaign)", message)
    index = hosts[int(match.group(1))].index
    path: tuple[str | int, ...] = ("instances", index)
    entry = LEGACY_KEYS_BY_BECOMES.get(re.sub(r"\[\d+\]", "[]", problem.path))
    if (
        entry is not None
        and entry.key.startswith("instances[].")
        and "[]." not in (entry.key.removeprefix("instances[]."))
    ):
        key_path = (*path, *entry.key.removeprefix("instances[].").split("."))
        if legacy.where(key_path)[1] is not None:
            path = key_path
    return Problem(format_path(path), message, legacy.where(path)[1])
