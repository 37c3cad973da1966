"""Reading a campaign file: YAML, environment interpolation, validation.

YAML anchors and merge keys (`<<: *defaults`) work as in legacy files. Only
plain data is accepted: tags that construct Python objects are refused, and so
are documents whose aliases expand them past any real campaign's size (the
"billion laughs" bomb), refer to themselves, or nest absurdly deep.
`${env:NAME}` and `${env:NAME:-default}` are replaced by environment values;
inside a benchmark's `run` the value is shell-quoted, so no value can change
the meaning of the command. `$${env:…}` stands for a literal `${env:…}`.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.errors import ConfigError, Problem
from fmbench_orch.models.validation_errors import problems_from

# A campaign of 256 hosts written out longhand is ~100 KiB; anything near a
# mebibyte is a mistake (or an attack on the parser), not a campaign.
MAX_CAMPAIGN_BYTES = 1 << 20
# The largest campaign the models accept (256 hosts × 100 benchmarks of ~20
# values) is ~512k values once aliases are expanded; twice that is a bomb.
MAX_EXPANDED_VALUES = 1_000_000
# A campaign nests about six levels (hosts → benchmarks → args → value);
# deeper than this is not a campaign, and would exhaust Python's stack.
MAX_NESTING = 64

_ENV_REF = re.compile(r"\$(\$?)\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path_ = tuple[str | int, ...]


def load_campaign(
    path: Path, environ: Mapping[str, str] | None = None, check_paths: bool = True
) -> CampaignConfig:
    """Read, interpolate and validate one campaign file, or raise ConfigError."""
    document, lines = read_yaml(path)
    if document is None:
        message = "the file is empty; a campaign needs at least `name:` and `hosts:`"
        raise ConfigError(path, [Problem("", message)])
    if not isinstance(document, dict):
        message = "the file must be a YAML mapping of keys such as `name:` and `hosts:`"
        raise ConfigError(path, [Problem("", message, 1)])
    environ = os.environ if environ is None else environ
    document = interpolate(document, environ, path, lines)
    context = {
        "base_dir": path.resolve().parent,
        "check_paths": check_paths,
        "environ": environ,
    }
    try:
        return CampaignConfig.model_validate(document, context=context)
    except ValidationError as error:
        raise ConfigError(path, problems_from(error, lines)) from None


def read_yaml(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Parse a YAML file into plain data and a map of field path → line."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            path, [Problem("", f"cannot read the file ({error.strerror})")]
        ) from None
    if len(raw) > MAX_CAMPAIGN_BYTES:
        message = (
            f"the file is {len(raw)} bytes; campaign files are limited to "
            f"{MAX_CAMPAIGN_BYTES} — split it into several campaigns"
        )
        raise ConfigError(path, [Problem("", message)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"not UTF-8 text (byte {error.start}); save the file as UTF-8"
        raise ConfigError(path, [Problem("", message)]) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_shape(path, node)
        lines = lines_of(node)
        document = loader.construct_document(node)
    except yaml.YAMLError as error:
        raise ConfigError(path, [_yaml_problem(error)]) from None
    except RecursionError:
        # Only the pure-Python parser recurses this deep; libyaml stops first.
        message = f"the file nests deeper than {MAX_NESTING} levels; flatten it"
        raise ConfigError(path, [Problem("", message)]) from None
    finally:
        loader.dispose()
    return document, lines


class _Refused(Exception):
    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.line = node.start_mark.line + 1


def _check_shape(path: Path, root: yaml.Node) -> None:
    """Refuse alias bombs, self-referring aliases and deep nesting, unexpanded.

    Safe loaders build an alias as a shared reference, so a bomb costs
    nothing until something walks it (interpolation, validation) — then it
    takes hours. Sizes are counted on the node graph, each shared node once.
    """
    measured: dict[int, tuple[int, int]] = {}  # node → (values, height)
    open_nodes: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_nodes:
            raise _Refused(
                "an alias refers to a node that contains it; a campaign cannot "
                "be infinite — remove the alias",
                node,
            )
        if key not in measured:
            if depth > MAX_NESTING:
                raise _Refused(
                    f"the file nests deeper than {MAX_NESTING} levels; flatten it",
                    node,
                )
            open_nodes.add(key)
            values, height = 1, 0
            for child in _children(node):
                child_values, child_height = measure(child, depth + 1)
                values += child_values
                height = max(height, child_height + 1)
                if values > MAX_EXPANDED_VALUES:
                    raise _Refused(
                        f"anchors and aliases expand the file to more than "
                        f"{MAX_EXPANDED_VALUES} values, far more than any "
                        "campaign; write the repeated parts out or nest fewer "
                        "aliases",
                        node,
                    )
            open_nodes.discard(key)
            measured[key] = (values, height)
        values, height = measured[key]
        if depth + height > MAX_NESTING:
            raise _Refused(
                f"the file nests deeper than {MAX_NESTING} levels; flatten it", node
            )
        return values, height

    try:
        measure(root, 0)
    except _Refused as refused:
        raise ConfigError(path, [Problem("", str(refused), refused.line)]) from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _yaml_problem(error: yaml.YAMLError) -> Problem:
    mark = getattr(error, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(error, "problem", None) or str(error)
    if isinstance(error, yaml.constructor.ConstructorError):
        message = (
            f"{problem}; only plain YAML data is accepted (no !!python or other "
            "object tags)"
        )
    else:
        message = f"not valid YAML: {problem}"
    return Problem("", message, line)


def lines_of(node: yaml.Node, prefix: Path_ = ()) -> dict[Path_, int]:
    lines: dict[Path_, int] = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "<<":
                merged = (
                    value.value if isinstance(value, yaml.SequenceNode) else [value]
                )
                for source in merged:
                    for path, line in lines_of(source, prefix).items():
                        lines.setdefault(path, line)
                continue
            if isinstance(key, yaml.ScalarNode):
                lines.update(lines_of(value, (*prefix, key.value)))
                lines[(*prefix, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(lines_of(item, (*prefix, index)))
    return lines


def interpolate(
    document: Any,
    environ: Mapping[str, str],
    source: Path,
    lines: dict[Path_, int] | None = None,
) -> Any:
    """Replace `${env:…}` references everywhere; shell-quote them inside `run`."""
    problems: list[Problem] = []

    def substitute(text: str, path: Path_) -> str:
        quote = path[-1:] == ("run",)

        def replace(match: re.Match[str]) -> str:
            escaped, name, default = match.groups()
            if escaped:
                return match.group(0)[1:]
            value = environ.get(name, default)
            if value is None:
                problems.append(
                    Problem(
                        format_path(path),
                        f"environment variable {name} is not set; export it or "
                        f"write ${{env:{name}:-default}}",
                        (lines or {}).get(path),
                    )
                )
                return ""
            return shlex.quote(value) if quote else value

        return _ENV_REF.sub(replace, text)

    def walk(value: Any, path: Path_) -> Any:
        if isinstance(value, str):
            return substitute(value, path) if "${env:" in value else value
        if isinstance(value, dict):
            return {key: walk(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*path, index)) for index, item in enumerate(value)]
        return value

    result = walk(document, ())
    if problems:
        raise ConfigError(source, problems)
    return result


def format_path(path: Path_) -> str:
    text = ""
    for part in path:
        text += (
            f"[{part}]"
            if isinstance(part, int)
            else (f".{part}" if text else str(part))
        )
    return text
