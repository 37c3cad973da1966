"""GitOps: which campaigns a pull request affects, and the stack each runs on.

A pull request's diff (from the merge base to its head) names changed paths.
A campaign is affected when its own file changed, when a local file it
references changed (an upload, a local FMBench config, a static host's key
file), or when a file in `stacks/` that names it changed. Every file is read
at the head revision through git, never from the working tree, so the answer
is the same on any checkout of the pull request.

Each affected campaign runs on its pull request's stack, `pr-<n>-<campaign>`:
a name Pulumi accepts and short enough that `fmbench-<stack>` is still a
valid S3 bucket name.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fmbench_orch.infra.stack_files import KEY_CAMPAIGN, PROJECT_NAME, STACKS_DIR
from fmbench_orch.models.campaign import MAX_CAMPAIGN_NAME
from fmbench_orch.models.fields import SLUG
from fmbench_orch.models.loader import MAX_CAMPAIGN_BYTES
from fmbench_orch.orchestrator.errors import ExitCode, OrchestratorError

# Campaign files live in `examples/` and in any folder named `campaigns/`.
EXAMPLES_DIR = "examples"
CAMPAIGNS_DIR = "campaigns"
CAMPAIGN_SUFFIXES = (".yml", ".yaml")
# The campaign keys whose values are local paths, relative to the campaign
# file: upload_files[].local, an fmbench benchmark's config, static.key_file.
PATH_KEYS = frozenset({"local", "config", "key_file"})
REMOTE_PREFIXES = ("fmbench:", "http://", "https://", "s3://")
STACK_FILE = re.compile(rf"^{STACKS_DIR}/Pulumi\.(?P<stack>[^/]+)\.ya?ml$")
POLICY_FILE = re.compile(rf"^{STACKS_DIR}/policy\.(?P<stack>[^/]+)\.json$")
STACK_CAMPAIGN_KEY = f"{PROJECT_NAME}:{KEY_CAMPAIGN}"

# The results bucket is `fmbench-<stack>` and S3 allows 63 characters.
BUCKET_PREFIX = "fmbench-"
MAX_STACK_NAME = 63 - len(BUCKET_PREFIX)
# S3 refuses bucket names with these endings (access point and Object Lambda
# aliases, directory buckets, multi-region access points).
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", ".mrap")
# Enough to keep two long campaign names that share a prefix apart.
NAME_HASH_LENGTH = 6
# GitHub numbers pull requests with 32-bit integers; ten digits hold them all.
MAX_PR_NUMBER = 9_999_999_999
FALLBACK_CAMPAIGN = "campaign"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Reader = Callable[[str], bytes | None]


class GitFailed(OrchestratorError):
    """git could not answer: an unknown revision, no merge base, not a repository."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, command: Sequence[str], stderr: str) -> None:
        self.command = tuple(command)
        self.stderr = stderr.strip()
        super().__init__(
            f"`{' '.join(self.command)}` failed: {self.stderr or 'no output'}; "
            "check the revisions exist here (in CI, check out with fetch-depth: 0) "
            "and that the directory is a git repository",
            phase="changed",
        )


class StackNameCollision(OrchestratorError):
    """Two affected campaigns would run on the same pull-request stack."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, stack: str, files: Sequence[str]) -> None:
        self.stack = stack
        self.files = tuple(files)
        super().__init__(
            f"{' and '.join(self.files)} would both run on stack {stack}; give "
            "each campaign a unique `name:`",
            phase="changed",
        )


@dataclass(frozen=True)
class Change:
    """One path in a diff; `status` is git's letter (A, M, D, T)."""

    status: str
    path: str

    @property
    def deleted(self) -> bool:
        return self.status == "D"


@dataclass(frozen=True)
class AffectedCampaign:
    """A campaign file the diff touches, and why."""

    path: str
    name: str | None
    provider: str | None
    reasons: tuple[str, ...]

    def stack_name(self, pr: int) -> str:
        """The pull request's stack; from the file name if `name:` is unusable."""
        return pr_stack_name(pr, self.name or Path(self.path).stem)

    def as_json(self, pr: int | None = None) -> dict[str, Any]:
        record: dict[str, Any] = {
            "file": self.path,
            "name": self.name,
            "provider": self.provider,
            "reasons": list(self.reasons),
        }
        if pr is not None:
            record["stack"] = self.stack_name(pr)
        return record


@dataclass(frozen=True)
class ChangeSet:
    """What a diff means for campaigns: those to plan and run, and those removed."""

    base: str
    head: str
    campaigns: tuple[AffectedCampaign, ...]
    removed: tuple[str, ...] = field(default=())

    def as_json(self, pr: int | None = None) -> dict[str, Any]:
        if pr is not None:
            check_unique_stacks(self.campaigns, pr)
        return {
            "base": self.base,
            "head": self.head,
            "campaigns": [campaign.as_json(pr) for campaign in self.campaigns],
            "removed": list(self.removed),
        }


def pr_stack_name(pr: int, campaign: str) -> str:
    """`pr-<n>-<campaign>`; a long name is cut and ends in a hash of the whole.

    The same pull request and campaign always give the same name, and the
    name uses only lowercase letters, digits and single hyphens.
    """
    if not 1 <= pr <= MAX_PR_NUMBER:
        raise ValueError(f"pull request number {pr} is not between 1 and 10^10")
    slug = campaign_slug(campaign)
    prefix = f"pr-{pr}-"
    name = prefix + slug
    if len(name) <= MAX_STACK_NAME and not name.endswith(RESERVED_BUCKET_SUFFIXES):
        return name
    digest = hashlib.sha256(campaign.encode()).hexdigest()[:NAME_HASH_LENGTH]
    room = MAX_STACK_NAME - len(prefix) - len(digest) - 1
    return f"{prefix}{slug[:room].rstrip('-')}-{digest}"


def campaign_slug(name: str) -> str:
    """A campaign name as stack names need it (already so for valid campaigns)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or FALLBACK_CAMPAIGN


def is_campaign_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and len(name) <= MAX_CAMPAIGN_NAME
        and bool(SLUG.fullmatch(name))
        and "--" not in name
    )


def check_unique_stacks(campaigns: Iterable[AffectedCampaign], pr: int) -> None:
    by_stack: dict[str, list[str]] = {}
    for campaign in campaigns:
        by_stack.setdefault(campaign.stack_name(pr), []).append(campaign.path)
    for stack, files in by_stack.items():
        if len(files) > 1:
            raise StackNameCollision(stack, files)


def in_campaign_folder(path: str) -> bool:
    """Where campaign files live: `examples/` or any `campaigns/` folder."""
    parts = path.split("/")
    return path.endswith(CAMPAIGN_SUFFIXES) and (
        parts[0] == EXAMPLES_DIR or CAMPAIGNS_DIR in parts[:-1]
    )


def parse_yaml(raw: bytes | None) -> tuple[bool, Any]:
    """`(parsed, document)`; not parsed when missing, too big or not YAML."""
    if raw is None or len(raw) > MAX_CAMPAIGN_BYTES:
        return False, None
    try:
        return True, yaml.load(raw.decode("utf-8"), Loader=_Loader)
    except (UnicodeDecodeError, yaml.YAMLError):
        return False, None


def looks_like_campaign(parsed: bool, document: Any) -> bool:
    """A mapping with `hosts:`; a broken file counts, so validate reports it."""
    return not parsed or (isinstance(document, dict) and "hosts" in document)


def referenced_paths(document: Any, campaign_path: str) -> set[str]:
    """Repository paths of the local files a campaign document names."""
    base = posixpath.dirname(campaign_path)
    found: set[str] = set()

    def walk(value: Any, key: object) -> None:
        if isinstance(value, dict):
            for child_key, child in value.items():
                walk(child, child_key)
        elif isinstance(value, list):
            for child in value:
                walk(child, key)
        elif isinstance(value, str) and key in PATH_KEYS and _is_local(value):
            path = posixpath.normpath(posixpath.join(base, value))
            if not path.startswith("../"):
                found.add(path)

    walk(document, None)
    return found


def _is_local(value: str) -> bool:
    return not (
        value.startswith(REMOTE_PREFIXES)
        or value.startswith(("/", "~"))
        or "${" in value
    )


def affected_campaigns(
    changes: Sequence[Change],
    head: Reader,
    head_paths: Iterable[str],
    base: Reader,
) -> tuple[list[AffectedCampaign], list[str]]:
    """Campaigns the changes affect at head, and campaign files they deleted.

    `head` and `base` read a file at the head and at the merge base.
    """
    documents = campaigns_at(head, head_paths)
    changed = {change.path for change in changes}
    reasons: dict[str, list[str]] = {}
    for path, (_, document) in documents.items():
        if path in changed:
            reasons.setdefault(path, []).append("changed")
        for used in sorted(referenced_paths(document, path) & changed):
            reasons.setdefault(path, []).append(f"uses {used}")
    for change in changes:
        campaign = None if change.deleted else campaign_of_stack_file(change.path, head)
        if campaign in documents:
            reasons.setdefault(campaign, []).append(f"stack file {change.path}")

    affected = [
        _affected(path, documents[path], tuple(reasons[path]))
        for path in sorted(reasons)
    ]
    removed = sorted(
        change.path
        for change in changes
        if change.deleted
        and in_campaign_folder(change.path)
        and looks_like_campaign(*parse_yaml(base(change.path)))
    )
    return affected, removed


def campaigns_at(head: Reader, paths: Iterable[str]) -> dict[str, tuple[bool, Any]]:
    """Every campaign file at head, parsed: those in campaign folders, and
    those a stack file names wherever they are."""
    documents: dict[str, tuple[bool, Any]] = {}
    stack_files = []
    for path in paths:
        if STACK_FILE.match(path):
            stack_files.append(path)
        elif in_campaign_folder(path):
            parsed = parse_yaml(head(path))
            if looks_like_campaign(*parsed):
                documents[path] = parsed
    for path in stack_files:
        campaign = campaign_of_stack_file(path, head)
        if campaign is not None and campaign not in documents:
            raw = head(campaign)
            if raw is not None:
                documents[campaign] = parse_yaml(raw)
    return documents


def campaign_of_stack_file(path: str, head: Reader) -> str | None:
    """The campaign a `stacks/` file drives, as a repository path."""
    policy = POLICY_FILE.match(path)
    if policy:
        stack = policy.group("stack")
        for suffix in CAMPAIGN_SUFFIXES:
            campaign = campaign_of_stack_file(
                f"{STACKS_DIR}/Pulumi.{stack}{suffix}", head
            )
            if campaign is not None:
                return campaign
        return None
    if not STACK_FILE.match(path):
        return None
    parsed, document = parse_yaml(head(path))
    config = document.get("config") if parsed and isinstance(document, dict) else None
    campaign = config.get(STACK_CAMPAIGN_KEY) if isinstance(config, dict) else None
    if not isinstance(campaign, str) or campaign.startswith("/"):
        return None
    return posixpath.normpath(campaign)


def _affected(
    path: str, parsed: tuple[bool, Any], reasons: tuple[str, ...]
) -> AffectedCampaign:
    document = parsed[1] if isinstance(parsed[1], Mapping) else {}
    name = document.get("name")
    provider = document.get("provider", "local")
    return AffectedCampaign(
        path=path,
        name=name if is_campaign_name(name) else None,
        provider=provider if isinstance(provider, str) else None,
        reasons=reasons,
    )


class GitRepository:
    """The few git questions `changed` asks, each one subprocess."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def commit(self, revision: str) -> str:
        return self._git("rev-parse", "--verify", f"{revision}^{{commit}}").strip()

    def merge_base(self, base: str, head: str) -> str:
        return self._git("merge-base", base, head).strip()

    def diff(self, base: str, head: str) -> list[Change]:
        """Paths changed from `base` to `head`; a rename is a delete and an add."""
        out = self._git("diff", "--name-status", "-z", "--no-renames", base, head)
        fields = out.split("\0")
        return [
            Change(status=fields[index][:1], path=fields[index + 1])
            for index in range(0, len(fields) - 1, 2)
        ]

    def paths(self, revision: str) -> list[str]:
        out = self._git("ls-tree", "-r", "--name-only", "-z", revision)
        return [path for path in out.split("\0") if path]

    def reader(self, revision: str) -> Reader:
        def read(path: str) -> bytes | None:
            done = subprocess.run(
                ["git", "cat-file", "blob", f"{revision}:{path}"],
                cwd=self.root,
                capture_output=True,
                check=False,
            )
            return done.stdout if done.returncode == 0 else None

        return read

    def _git(self, *args: str) -> str:
        command = ["git", *args]
        try:
            done = subprocess.run(
                command, cwd=self.root, capture_output=True, text=True, check=False
            )
        except FileNotFoundError as error:
            raise GitFailed(command, "git is not installed") from error
        if done.returncode != 0:
            raise GitFailed(command, done.stderr)
        return done.stdout


def changed_campaigns(root: Path, base: str, head: str = "HEAD") -> ChangeSet:
    """What `head` changes since it forked from `base` (as a pull request shows)."""
    repository = GitRepository(root)
    base_commit, head_commit = repository.commit(base), repository.commit(head)
    fork_point = repository.merge_base(base_commit, head_commit)
    campaigns, removed = affected_campaigns(
        repository.diff(fork_point, head_commit),
        repository.reader(head_commit),
        repository.paths(head_commit),
        repository.reader(fork_point),
    )
    return ChangeSet(base_commit, head_commit, tuple(campaigns), tuple(removed))
