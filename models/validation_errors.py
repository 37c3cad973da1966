"""Pydantic's validation errors, rewritten as problems a person can act on.

Each problem names the field path as the user wrote it, the bad value where
it helps, and the fix. Unknown keys get a "did you mean" from the fields the
model really has at that place.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from fmbench_orch.models.errors import Problem
from fmbench_orch.models.permissions import (
    ACTION_PATTERN,
    POLICY_ARN_PATTERN,
    RESOURCE_PATTERN,
    SID_PATTERN,
)

# Pydantic puts the tag of a tagged union into the location; users never
# wrote it, so it is dropped from the path they see.
_UNION_TAGS = {"fmbench", "command"}

# How alike an unknown key must be to a real field to be offered as "did you
# mean": 0.7 keeps `spott` → spot and `regoin` → region but not `mode` → remote.
SUGGESTION_CUTOFF = 0.7

# Host fields that cannot be defaults, and why (HostDefaults leaves them out).
_NOT_DEFAULTS = {
    "name": "each host needs its own name; set it on the host",
    "static": "each static host has its own address; set it on the host",
}

# Patterns of the campaign's id fields, in words a person can act on.
_PATTERN_WORDS = {
    r"^vpc-[0-9a-f]+$": "a VPC id such as vpc-0123456789abcdef0",
    r"^subnet-[0-9a-f]+$": "a subnet id such as subnet-0123456789abcdef0",
    r"^cr-[0-9a-f]+$": "a capacity reservation id such as cr-0123456789abcdef0",
    r"^arn:aws": "an ARN such as arn:aws:resource-groups:us-east-1:…:group/…",
    POLICY_ARN_PATTERN: (
        "an IAM policy ARN such as arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
    ),
    ACTION_PATTERN: "an IAM action such as sagemaker:InvokeEndpoint or bedrock:*",
    RESOURCE_PATTERN: (
        "an ARN such as arn:aws:sagemaker:us-east-1:123456789012:endpoint/*, or *"
    ),
    SID_PATTERN: "letters and digits only, as IAM statement ids are",
    r"^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+": (
        "the server's public key line, e.g. 'ssh-ed25519 AAAAC3…' as "
        "`ssh-keyscan <address>` prints it"
    ),
}

_FIXES = {
    "missing": "this field is required; add it",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "string_type": "write a text value (quote it if YAML reads it as something else)",
    "list_type": "write a list (lines starting with '- ', or [a, b])",
    "dict_type": "write a mapping of keys to values",
    "model_type": "write a mapping of keys to values",
    "too_short": "the list is too short",
    "too_long": "the list is too long",
}


def problems_from(
    error: ValidationError, lines: dict[tuple[str | int, ...], int] | None = None
) -> list[Problem]:
    from fmbench_orch.models.campaign import CampaignConfig

    problems = []
    for detail in error.errors(include_url=False):
        loc = _user_loc((*detail["loc"], *_extra_loc(detail)))
        message = _message(detail, tuple(detail["loc"]), CampaignConfig)
        problems.append(Problem(_format(loc), message, _line(loc, lines or {})))
    return problems


def _extra_loc(detail: dict[str, Any]) -> tuple[str | int, ...]:
    """Where below the error's place the fix belongs.

    Validators that check several fields name the one to fix in their
    context's `loc`; a missing or unknown driver belongs at `driver`.
    """
    if detail["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        return ("driver",)
    return tuple(detail.get("ctx", {}).get("loc", ()))


def _user_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    kept: list[str | int] = []
    for index, part in enumerate(loc):
        after_index = index > 0 and isinstance(loc[index - 1], int)
        if part in _UNION_TAGS and after_index:
            continue
        kept.append(part)
    return tuple(kept)


def _message(detail: dict[str, Any], loc: tuple[Any, ...], root: type) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        return _unknown_field(loc, root)
    if kind == "union_tag_not_found":
        return "this field is required; set driver: fmbench or driver: command"
    if kind == "union_tag_invalid":
        tag = detail.get("ctx", {}).get("tag", "")
        return f"unknown driver '{tag}'; set driver: fmbench or driver: command"
    if kind == "literal_error":
        expected = detail.get("ctx", {}).get("expected", "")
        return f"got {_show(detail['input'])}; expected {expected}"
    text = detail["msg"]
    if text.startswith("Value error, "):
        text = text.removeprefix("Value error, ")
    fix = _FIXES.get(kind)
    if kind == "missing":
        return fix  # type: ignore[return-value]
    bounds = _bounds(kind, detail.get("ctx", {}))
    if bounds:
        return f"got {_show(detail['input'])}; {bounds}"
    if fix and kind not in {"too_short", "too_long"}:
        return f"got {_show(detail['input'])}; {fix}"
    if kind == "string_pattern_mismatch":
        pattern = detail.get("ctx", {}).get("pattern", "")
        words = _PATTERN_WORDS.get(pattern)
        if words:
            return f"got {_show(detail['input'])}; write {words}"
        return f"got {_show(detail['input'])}; it must match {pattern}"
    return _sentence_case(text) if text else kind


def _sentence_case(text: str) -> str:
    """Lowercase pydantic's capital ("Input should…"), not an acronym ("AMI")."""
    if text[1:2].isupper():
        return text
    return text[0].lower() + text[1:]


def _bounds(kind: str, ctx: dict[str, Any]) -> str | None:
    words = {
        "greater_than": "must be greater than {gt}",
        "greater_than_equal": "must be at least {ge}",
        "less_than": "must be less than {lt}",
        "less_than_equal": "must be at most {le}",
        "too_short": "needs at least {min_length} item(s)",
        "too_long": "allows at most {max_length} item(s)",
        "string_too_short": "must not be empty",
        "string_too_long": "must be at most {max_length} characters",
    }
    template = words.get(kind)
    if template is None:
        return None
    return template.format(**{key: _number(value) for key, value in ctx.items()})


def _number(value: Any) -> Any:
    """0.0 reads as 0: bounds of float fields are whole numbers here."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _unknown_field(loc: tuple[str | int, ...], root: type) -> str:
    key = str(loc[-1])
    if loc[:-1] == ("defaults",) and key in _NOT_DEFAULTS:
        return f"'{key}' cannot be a default: {_NOT_DEFAULTS[key]}"
    fields = _fields_at(loc[:-1], root)
    hint = ""
    if fields:
        close = _close_field(key, fields)
        hint = (
            f"; did you mean '{close}'?"
            if close
            else f"; known fields here: {', '.join(sorted(fields))}"
        )
    return f"unknown field '{key}'{hint}"


def _close_field(key: str, fields: list[str]) -> str | None:
    """The field the user most likely meant: a prefix (`vpc` → vpc_id) or alike."""
    prefixed = [field for field in fields if len(key) >= 3 and field.startswith(key)]
    if len(prefixed) == 1:
        return prefixed[0]
    close = difflib.get_close_matches(key, fields, n=1, cutoff=SUGGESTION_CUTOFF)
    return close[0] if close else None


def _fields_at(loc: tuple[str | int, ...], root: type) -> list[str] | None:
    """The field names of the model found at `loc`, walking the annotations."""
    annotation: Any = root
    for part in loc:
        if part in _UNION_TAGS:
            annotation = _member_tagged(annotation, part)
            continue
        annotation = _unwrap(annotation, part)
        if annotation is None:
            return None
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation = args[0] if args else None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            annotation = field.annotation if field else None
        else:
            return None
    model = _unwrap(annotation, None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return None


def _member_tagged(annotation: Any, tag: str) -> Any:
    """The member of a tagged union whose `driver` literal is `tag`."""
    for member in typing.get_args(_strip_annotated(annotation)):
        driver = getattr(member, "model_fields", {}).get("driver")
        if driver is not None and tag in typing.get_args(driver.annotation):
            return member
    return None


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _unwrap(annotation: Any, part: str | int | None) -> Any:
    """Strip Annotated/Optional; pick the union member that owns `part`."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [
                m for m in members if isinstance(m, type) and issubclass(m, BaseModel)
            ]
            if len(members) == 1:
                annotation = members[0]
            elif models and isinstance(part, str):
                owners = [m for m in models if part in m.model_fields]
                annotation = owners[0] if owners else models[0]
            elif models:
                return models[0]
            else:
                return members[0]
        else:
            return annotation


def _line(
    loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]
) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _format(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
