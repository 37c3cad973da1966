"""Stacks left in the Pulumi backend after their runs were lost.

A run whose directory and registry entry are gone (a wiped laptop, a CI
runner that vanished) still has its stack in the backend. The self-managed
backends — `file://` and `s3://` — keep one checkpoint per stack at
`.pulumi/stacks/<project>/<stack>.json` (or `.json.gz`); the reaper reads
them directly, without the CLI or the engine, and a stack whose resources
carry an `fmbench:ttl` that has passed is due. Its resources go with the tag
sweep; the stack itself, stale state by then, is removed with
`pulumi stack rm --force` when the CLI is on PATH, and otherwise named with
that command. Pulumi Cloud backends are not listed here (`pulumi stack ls`
shows them).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fmbench_orch.models.compile import TAG_RUN, TAG_TTL
from fmbench_orch.orchestrator.aws_leftovers import (
    Clients,
    created_from_run_id,
    is_due,
)

log = logging.getLogger(__name__)

PROJECT = "fmbench-orchestrator"
# The self-managed backends' layout: one checkpoint per stack, per project.
STACKS_FOLDER = ".pulumi/stacks"
CHECKPOINT_SUFFIXES = (".json", ".json.gz")
# Types that are bookkeeping, not cloud resources.
BOOKKEEPING_TYPES = ("pulumi:pulumi:Stack", "pulumi:providers:")
# `pulumi stack rm` of stale state touches no cloud API: seconds.
STACK_RM_TIMEOUT_S = 120
# S3 backends without ?region= are read through this region's endpoint.
DEFAULT_S3_REGION = "us-east-1"


@dataclass(frozen=True)
class BackendStack:
    """One stack of the project, read from its checkpoint."""

    name: str
    resources: int
    tags: Mapping[str, str]

    @property
    def run_id(self) -> str | None:
        return self.tags.get(TAG_RUN)

    @property
    def qualified_name(self) -> str:
        return f"organization/{PROJECT}/{self.name}"

    def remove_command(self, backend: str) -> str:
        return (
            f"PULUMI_BACKEND_URL={backend} pulumi stack rm --force --yes "
            f"{self.qualified_name}"
        )


def list_stacks(backend: str, clients: Clients) -> tuple[list[BackendStack], str]:
    """The project's stacks in a self-managed backend; and why none, if so."""
    scheme = urlparse(backend).scheme
    try:
        if scheme == "file":
            checkpoints = _file_checkpoints(backend)
        elif scheme == "s3":
            checkpoints = _s3_checkpoints(backend, clients)
        else:
            return [], f"stacks in {backend} are not listed; see `pulumi stack ls`"
    except Exception as error:
        return [], f"could not list the stacks in {backend}: {error}"
    stacks = []
    for name, data in checkpoints:
        try:
            stacks.append(_stack(name, data))
        except (ValueError, KeyError, TypeError) as error:
            log.warning("stack %s: unreadable checkpoint (%s); skipped", name, error)
    return stacks, ""


def due_stacks(
    stacks: Iterable[BackendStack],
    registered: set[str],
    now: datetime,
    older_than: timedelta | None,
) -> list[BackendStack]:
    """Ours (tagged), past their TTL or `older_than`, and in no live run."""
    return [
        stack
        for stack in stacks
        if stack.run_id
        and stack.name not in registered
        and is_due(stack.tags, created_from_run_id(stack.run_id), now, older_than)
    ]


def remove_stack(stack: BackendStack, backend: str) -> str | None:
    """`pulumi stack rm --force`; None when done, else what to run by hand."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return f"the Pulumi CLI is not on PATH; run `{stack.remove_command(backend)}`"
    from fmbench_orch.orchestrator.provisioners.aws import passphrase_env

    done = subprocess.run(
        [pulumi, "stack", "rm", "--force", "--yes", stack.qualified_name],
        env={**os.environ, "PULUMI_BACKEND_URL": backend, **passphrase_env()},
        capture_output=True,
        text=True,
        timeout=STACK_RM_TIMEOUT_S,
    )
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return f"{reason[0]}; run `{stack.remove_command(backend)}`"
    return None


def _stack(name: str, data: bytes) -> BackendStack:
    document = json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    resources = (document.get("checkpoint") or {}).get("latest") or {}
    found = [r for r in resources.get("resources") or [] if _is_cloud(r)]
    tags: dict[str, str] = {}
    for resource in found:
        for side in ("outputs", "inputs"):
            tags.update(_our_tags(resource.get(side) or {}))
    return BackendStack(name=name, resources=len(found), tags=tags)


def _is_cloud(resource: Mapping[str, Any]) -> bool:
    return not str(resource.get("type", "")).startswith(BOOKKEEPING_TYPES)


def _our_tags(properties: Mapping[str, Any]) -> dict[str, str]:
    tags = properties.get("tags") or properties.get("tagsAll") or {}
    if not isinstance(tags, Mapping):
        return {}
    return {k: str(v) for k, v in tags.items() if k in (TAG_RUN, TAG_TTL)}


def _stack_name(file_name: str) -> str | None:
    for suffix in CHECKPOINT_SUFFIXES:
        if file_name.endswith(suffix):
            return file_name.removesuffix(suffix)
    return None


def _file_checkpoints(backend: str) -> list[tuple[str, bytes]]:
    folder = Path(urlparse(backend).path) / STACKS_FOLDER / PROJECT
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        name = _stack_name(path.name)
        if name is not None and path.is_file():
            found.append((name, path.read_bytes()))
    return found


def _s3_checkpoints(backend: str, clients: Clients) -> list[tuple[str, bytes]]:
    url = urlparse(backend)
    query = dict(part.split("=", 1) for part in url.query.split("&") if "=" in part)
    s3 = clients("s3", query.get("region", DEFAULT_S3_REGION))
    prefix = "/".join(p for p in (url.path.strip("/"), STACKS_FOLDER, PROJECT) if p)
    found = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=url.netloc, Prefix=prefix + "/"
    )
    for page in pages:
        for item in page.get("Contents", []):
            name = _stack_name(item["Key"].rsplit("/", 1)[-1])
            if name is not None:
                body = s3.get_object(Bucket=url.netloc, Key=item["Key"])["Body"]
                found.append((name, body.read()))
    return found
