"""The campaign file reference, written from the models themselves.

`python -m fmbench_orch.models.reference > docs/campaign-reference.md` prints
every field of a campaign file — its path, type, default and description — as
Markdown, one section per nested model. A test keeps the committed copy equal
to what this prints, so the reference cannot drift from the code.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.durations import format_duration
from fmbench_orch.models.host import HostConfig, HostDefaults

REGENERATE = "python -m fmbench_orch.models.reference > docs/campaign-reference.md"

_INTRO = f"""\
# Campaign file reference

Every field a campaign file may hold. Generated from the models in
`models/` (campaign, host, benchmark) by `{REGENERATE}`;
change the models, not this file.

- Unknown keys are errors, at every level.
- Relative paths are relative to the campaign file, not the current directory.
- `${{env:NAME}}` and `${{env:NAME:-default}}` take values from the environment
  (shell-quoted inside a `run` command); `$${{env:NAME}}` is a literal.
- YAML anchors and `<<:` merge keys work; tags that build objects do not.
- Durations are seconds or number+unit parts: `90s`, `45m`, `6h`, `2d`, `1h30m`.
- A slug is lowercase letters, digits and single hyphens, starting with a letter
  and not ending with a hyphen, e.g. `llama3-8b-g6e`.
"""

# Validators of reusable field types, by function name, in a reader's words.
_VALIDATED_TYPES = {
    "_slug": "slug",
    "_duration": "duration",
    "existing_path": "path to an existing file",
    "_cidr": "CIDR block",
}
_SCALARS = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "true or false",
    Path: "path",
    timedelta: "duration",
}


@dataclass(frozen=True)
class Section:
    """One nested model and the path at which a campaign file holds it."""

    path: str
    model: type[BaseModel]
    variant: str | None = None  # e.g. "driver: fmbench" for a tagged union


def render() -> str:
    """The whole reference as Markdown."""
    parts = [_INTRO]
    for section in sections(CampaignConfig):
        parts.append(_render_section(section))
    return "\n".join(parts)


def sections(
    model: type[BaseModel], path: str = "", variant: str | None = None
) -> Iterator[Section]:
    """The model's own section, then each nested model's, depth first."""
    yield Section(path, model, variant)
    if model is HostDefaults:
        return  # its nested models are the hosts' own, documented there
    for name, field in model.model_fields.items():
        for child, child_path, child_variant in _nested(field, _join(path, name)):
            yield from sections(child, child_path, child_variant)


def _render_section(section: Section) -> str:
    title = f"`{section.path}`" if section.path else "Top level"
    if section.variant:
        title += f" with `{section.variant}`"
    lines = [f"## {title}", ""]
    doc = (section.model.__doc__ or "").strip().splitlines()
    if section.model is HostDefaults:
        doc = [_defaults_note()]
    if doc:
        lines += [doc[0], ""]
    lines += [
        "| field | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in section.model.model_fields.items():
        path = _join(section.path, name)
        if section.model is HostDefaults:
            kind = f"as `hosts[].{name}`"
        else:
            kind = _field_type(field, path)
        cells = (f"`{path}`", kind, _default(field), field.description or "")
        lines.append("| " + " | ".join(_cell(text) for text in cells) + " |")
    return "\n".join(lines) + "\n"


def _defaults_note() -> str:
    left_out = [
        n for n in HostConfig.model_fields if n not in HostDefaults.model_fields
    ]
    names = " and ".join(f"`{name}`" for name in left_out)
    return (
        f"Every field of `hosts[]` except {names}, all optional. A host starts "
        "from these values: its own values win, and mappings (`storage`, "
        "`network`, `capacity`) merge key by key."
    )


def _nested(
    field: FieldInfo, path: str
) -> Iterator[tuple[type[BaseModel], str, str | None]]:
    """The models a field holds: (model, its path, the union tag that picks it)."""
    annotation = _strip(field.annotation)
    if typing.get_origin(annotation) is list:
        annotation = _strip(typing.get_args(annotation)[0])
        path += "[]"
    members = _members(annotation)
    tagged = len(members) > 1
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            yield member, path, _tag(member) if tagged else None


def _tag(model: type[BaseModel]) -> str | None:
    driver = model.model_fields.get("driver")
    if driver is None:
        return None
    return f"driver: {typing.get_args(driver.annotation)[0]}"


def _field_type(field: FieldInfo, path: str) -> str:
    metadata = [*field.metadata, *_metadata(field.annotation)]
    annotation = _strip(field.annotation)
    if typing.get_origin(annotation) is list:
        item = typing.get_args(annotation)[0]
        words = _type_words(annotation, path)
        bounds = _bounds(metadata, is_list=True)
        if _models(item):
            return ", ".join([words, *bounds])
        item_words = ", ".join([_type_words(item, path), *_bounds(_metadata(item))])
        return ", ".join(["list", *bounds]) + f"; each item: {item_words}"
    words = _validated(metadata) or _type_words(field.annotation, path)
    return ", ".join([words, *_bounds(metadata)])


def _type_words(annotation: Any, path: str) -> str:
    metadata = _metadata(annotation)
    annotation = _strip(annotation)
    validated = _validated(metadata)
    if validated:
        return validated
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " or ".join(f"`{value}`" for value in typing.get_args(annotation))
    if origin is list:
        item = typing.get_args(annotation)[0]
        return f"list of mappings, see `{path}[]`" if _models(item) else "list"
    if origin is dict:
        key, value = typing.get_args(annotation)
        return f"mapping of {_type_words(key, path)} to {_type_words(value, path)}"
    if _models(annotation):
        return f"mapping, see `{path}`"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(metadata: list[Any], is_list: bool = False) -> list[str]:
    """Constraints in words: lower bound, upper bound, length, pattern."""
    lower = upper = pattern = None
    shortest = longest = None
    for item in _flatten(metadata):
        if isinstance(item, annotated_types.Gt):
            lower = f"> {item.gt:g}"
        elif isinstance(item, annotated_types.Ge):
            lower = f"≥ {item.ge:g}"
        elif isinstance(item, annotated_types.Lt):
            upper = f"< {item.lt:g}"
        elif isinstance(item, annotated_types.Le):
            upper = f"≤ {item.le:g}"
        elif isinstance(item, annotated_types.MinLen):
            shortest = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            longest = item.max_length
        elif getattr(item, "pattern", None):
            pattern = f"matching `{item.pattern}`"
    words = [word for word in (lower, upper) if word]
    length = _length(shortest, longest, "items" if is_list else "characters")
    return [*words, *([length] if length else []), *([pattern] if pattern else [])]


def _length(shortest: int | None, longest: int | None, unit: str) -> str | None:
    if shortest and longest:
        return f"{shortest} to {longest} {unit}"
    if shortest == 1:
        return "not empty"
    if shortest:
        return f"at least {shortest} {unit}"
    if longest:
        return f"at most {longest} {unit}"
    return None


def _flatten(metadata: list[Any]) -> Iterator[Any]:
    """Constraints, looking inside `Annotated[str, Field(pattern=…)]`."""
    for item in metadata:
        if isinstance(item, FieldInfo):
            yield from _flatten(item.metadata)
        else:
            yield item


def _validated(metadata: list[Any]) -> str | None:
    for item in metadata:
        name = getattr(getattr(item, "func", None), "__name__", None)
        if name in _VALIDATED_TYPES:
            return _VALIDATED_TYPES[name]
    return None


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "—"
    if isinstance(value, BaseModel):
        return "see its fields"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if value == [] or value == {}:
        return "empty"
    return f"`{value}`"


def _strip(annotation: Any) -> Any:
    """The annotation without Annotated[...] and without `| None`."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _metadata(annotation: Any) -> list[Any]:
    """Annotated[...] metadata, looking through `| None`."""
    found: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            found += list(annotation.__metadata__)
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return found
            annotation = members[0]
        else:
            return found


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(_strip(a) for a in typing.get_args(annotation))
    return (annotation,)


def _models(annotation: Any) -> bool:
    return any(
        isinstance(member, type) and issubclass(member, BaseModel)
        for member in _members(_strip(annotation))
    )


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.stdout.write(render())
