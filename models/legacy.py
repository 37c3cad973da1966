"""The legacy orchestrator's campaign files: templates, merged and resolved.

The legacy `config.yml` and `infra.yml` are Jinja-style templates that only
become YAML once `{{ name }}` is substituted. Substitution happens in two
steps. First every known placeholder is replaced, as text, by a plain token
(`__fmbench_legacy_region__`), which keeps every line where it was and is a
valid YAML scalar wherever the placeholder stood; the files are then parsed
and merged (infra.yml wins on a duplicate top-level key). Second the tokens
are replaced by their values inside the parsed strings. Doing it in this
order lets the region come from the files' own `aws.region`, whichever of the
two files holds it, and a value (a path with `: ` or `#`, say) can never
change the structure of the document.

An `ami_id` that is exactly an AMI alias placeholder (`{{gpu}}`) stays an
`AmiAlias`, so the migration can keep the alias instead of a fixed image id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fmbench_orch.models.errors import ConfigError, Problem
from fmbench_orch.models.loader import format_path, lines_of

AMI_PLACEHOLDERS = ("gpu", "cpu", "neuron")
# The placeholders the legacy tool substituted, and the migrate option for each.
VALUE_PLACEHOLDERS = {
    "region": "--region",
    "config_file": "--config-file",
    "write_bucket": "--write-bucket",
}
KNOWN_PLACEHOLDERS = (*VALUE_PLACEHOLDERS, *AMI_PLACEHOLDERS)
# The legacy tool took the region from the operator's AWS session; offline we
# fall back to the region FMBench's examples and the legacy AMI comments assume.
DEFAULT_REGION = "us-east-1"

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_TOKEN = re.compile(r"__fmbench_legacy_(" + "|".join(KNOWN_PLACEHOLDERS) + r")__")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class LegacyText:
    """One legacy file as read from disk: its path (for messages) and text."""

    path: Path
    text: str


@dataclass(frozen=True)
class AmiAlias:
    """An `ami_id` that was an alias placeholder such as `{{gpu}}`."""

    name: str


@dataclass
class _Parsed:
    source: LegacyText
    data: dict[str, Any]
    lines: dict[FieldPath, int]


@dataclass
class LegacyCampaign:
    """config.yml and infra.yml merged, every placeholder resolved."""

    data: dict[str, Any]
    region: str
    ami_mapping: dict[str, dict[str, str]]
    owners: dict[str, _Parsed] = field(repr=False)

    def where(self, path: FieldPath) -> tuple[Path, int | None]:
        """The file and line a merged field came from."""
        owner = self.owners.get(str(path[0])) if path else None
        if owner is None:
            return next(iter(self.owners.values())).source.path, None
        return owner.source.path, owner.lines.get(path)

    def problem(self, path: FieldPath, message: str) -> ConfigError:
        source, line = self.where(path)
        return ConfigError(source, [Problem(format_path(path), message, line)])


def load_legacy(
    config: LegacyText,
    infra: LegacyText,
    ami_mapping: LegacyText,
    values: dict[str, str | None],
) -> LegacyCampaign:
    """Parse, merge and resolve the legacy trio; raise ConfigError naming file/line.

    `values` holds the options for `region`, `config_file` and `write_bucket`
    (None when not given). The region used is the merged `aws.region` when it
    is a literal, else `values["region"]`.
    """
    parsed = [_parse_template(config), _parse_template(infra)]
    owners: dict[str, _Parsed] = {}
    for document in parsed:
        owners.update(dict.fromkeys(document.data, document))
    merged = {key: owner.data[key] for key, owner in owners.items()}

    region = _campaign_region(merged, values.get("region"))
    mapping = _read_ami_mapping(ami_mapping)
    campaign = LegacyCampaign({}, region, mapping, owners)
    resolved = {**dict.fromkeys(VALUE_PLACEHOLDERS), **values, "region": region}
    campaign.data = _resolve(merged, (), resolved, campaign)
    return campaign


def _parse_template(source: LegacyText) -> _Parsed:
    problems: list[Problem] = []
    lines_out: list[str] = []
    for number, line in enumerate(source.text.splitlines(keepends=True), start=1):
        if line.lstrip().startswith("#"):
            lines_out.append(line)  # never read, so its placeholders need no value
            continue

        def token(match: re.Match[str], number: int = number) -> str:
            name = match.group(1)
            if name in KNOWN_PLACEHOLDERS:
                return f"__fmbench_legacy_{name}__"
            problems.append(
                Problem(
                    "",
                    f"unknown placeholder {{{{{name}}}}}; migrate substitutes only "
                    f"{', '.join('{{' + known + '}}' for known in KNOWN_PLACEHOLDERS)}"
                    " — replace it with its value in this file and rerun",
                    number,
                )
            )
            return match.group(0)

        line = _PLACEHOLDER.sub(token, line)
        if "{%" in line:
            problems.append(
                Problem(
                    "",
                    "template statements ({% … %}) are not supported; write the "
                    "rendered YAML instead and rerun",
                    number,
                )
            )
        lines_out.append(line)
    if problems:
        raise ConfigError(source.path, problems)

    data, lines = _parse_yaml(source.path, "".join(lines_out))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problem = Problem("", "a legacy campaign file must be a YAML mapping", 1)
        raise ConfigError(source.path, [problem])
    return _Parsed(source, data, lines)


def _parse_yaml(path: Path, text: str) -> tuple[Any, dict[FieldPath, int]]:
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        return loader.construct_document(node), lines_of(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        detail = getattr(error, "problem", None) or str(error)
        message = f"not valid YAML once placeholders are substituted: {detail}"
        raise ConfigError(path, [Problem("", message, line)]) from None
    finally:
        loader.dispose()


def _campaign_region(merged: dict[str, Any], option: str | None) -> str:
    aws = merged.get("aws")
    written = aws.get("region") if isinstance(aws, dict) else None
    if isinstance(written, str) and written and not _TOKEN.search(written):
        return written
    return option or DEFAULT_REGION


def _read_ami_mapping(source: LegacyText) -> dict[str, dict[str, str]]:
    data, lines = _parse_yaml(source.path, source.text)
    data = data or {}
    problems = []
    if not isinstance(data, dict):
        data = {}
        problems.append(Problem("", "write a mapping of region → {gpu, cpu, neuron}"))
    for region, amis in data.items():
        if not isinstance(amis, dict) or not all(
            isinstance(ami, str) for ami in amis.values()
        ):
            message = "write a mapping of alias → ami-… id, e.g. {gpu: ami-0123…}"
            problems.append(Problem(str(region), message, lines.get((region,))))
    if problems:
        raise ConfigError(source.path, problems)
    return data


def _resolve(
    value: Any, path: FieldPath, values: dict[str, str | None], campaign: LegacyCampaign
) -> Any:
    if isinstance(value, dict):
        return {
            key: _resolve(item, (*path, key), values, campaign)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _resolve(item, (*path, index), values, campaign)
            for index, item in enumerate(value)
        ]
    if not isinstance(value, str) or not _TOKEN.search(value):
        return value

    whole = _TOKEN.fullmatch(value)
    if whole and path[-1:] == ("ami_id",) and whole.group(1) in AMI_PLACEHOLDERS:
        return AmiAlias(whole.group(1))
    if whole and path[-1:] == ("write_bucket",) and values["write_bucket"] is None:
        return None  # the campaign's own results bucket serves instead

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in AMI_PLACEHOLDERS:
            ami = campaign.ami_mapping.get(campaign.region, {}).get(name)
            if ami is None:
                raise campaign.problem(
                    path,
                    f"{{{{{name}}}}} needs a {name} AMI for {campaign.region} in "
                    "ami_mapping.yml; add it there and rerun",
                )
            return ami
        given = values[name]
        if given is None:
            raise campaign.problem(
                path,
                f"{{{{{name}}}}} is used here; pass {VALUE_PLACEHOLDERS[name]} (the "
                "value the legacy tool's flag gave it) and rerun",
            )
        return given

    return _TOKEN.sub(substitute, value)
