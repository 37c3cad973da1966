"""The run store: run directories kept in the user's long-lived S3 bucket.

`upload_run` copies a run directory to `s3://bucket/prefix/<campaign>/<run-id>/`
and `harvest_run` brings one back. Both are idempotent and resumable, file
by file: an object whose size and checksum already match (the SHA-256 kept
in its metadata, or the MD5 ETag of a single-part upload) is skipped, so
running either again after an interruption only moves what is missing. The
upload writes an index last; a stored run without one was cut short.

The run's private SSH key (`keys/`) never leaves the operator's machine. The
campaign's own bucket is only the hosts' drop zone, emptied and destroyed
with the stack, so it is refused as a store. `AWS_ENDPOINT_URL_S3` or
`AWS_ENDPOINT_URL` points the client at another S3 endpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from fmbench_orch.orchestrator.errors import ExitCode, OrchestratorError
from fmbench_orch.orchestrator.rundir import RunDirectory

log = logging.getLogger(__name__)

STORE_SCHEME = "s3://"
# Written after every file; its presence says the upload finished.
INDEX_NAME = "fmbench-orch-store.json"
# Object metadata key (x-amz-meta-sha256) holding the file's SHA-256.
SHA256_METADATA = "sha256"
# Never uploaded: the run's private key, and half-written files of a writer.
EXCLUDED_DIRS = ("keys",)
EXCLUDED_SUFFIXES = (".tmp",)
# S3 throttles and drops connections now and then; botocore's standard mode
# backs off between attempts (ten ≈ half a minute of retrying).
S3_MAX_ATTEMPTS = 10
# Files are hashed in chunks of this size (memory stays flat on big logs).
READ_CHUNK = 1024 * 1024


class StoreError(OrchestratorError):
    """The store could not be used; the message says what to fix or rerun."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, message: str, *, url: str, cause: BaseException | None = None):
        super().__init__(message, phase="store", cause=cause)
        self.url = url


class StoredRunNotFound(StoreError):
    exit_code = ExitCode.NOT_FOUND


@dataclass(frozen=True)
class StoreLocation:
    bucket: str
    prefix: str  # no leading or trailing "/"; may be empty

    @classmethod
    def parse(cls, url: str) -> StoreLocation:
        if not url.startswith(STORE_SCHEME):
            raise StoreError(
                f"{url!r} is not an S3 URL; write it as s3://bucket/prefix", url=url
            )
        bucket, _, prefix = url[len(STORE_SCHEME) :].partition("/")
        if not bucket or any(part in {".", ".."} for part in prefix.split("/")):
            raise StoreError(
                f"{url!r} names no bucket or has '.'/'..' in its prefix; write it "
                "as s3://bucket/prefix",
                url=url,
            )
        return cls(bucket, prefix.strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(part for part in (self.prefix, *parts) if part)

    def url(self, *parts: str) -> str:
        return f"{STORE_SCHEME}{self.bucket}/{self.key(*parts)}"


@dataclass(frozen=True)
class TransferSummary:
    """What an upload or harvest moved; `str()` is the line the CLI prints."""

    direction: str  # "upload" | "harvest"
    url: str
    directory: Path
    transferred: int
    skipped: int
    bytes_transferred: int
    complete: bool = True

    def __str__(self) -> str:
        moved = f"{self.transferred} file(s), {self.bytes_transferred:,} bytes"
        if self.direction == "upload":
            return f"{moved} uploaded to {self.url}; {self.skipped} already there"
        note = "" if self.complete else "; the stored run is incomplete"
        return (
            f"{moved} harvested from {self.url} into {self.directory}; "
            f"{self.skipped} already here{note}"
        )


def s3_client() -> Any:
    """An S3 client that honours AWS_ENDPOINT_URL(_S3) and retries with backoff."""
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
    config = Config(
        retries={"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
        # A custom endpoint (MinIO, moto, a VPC endpoint by IP) has no
        # bucket subdomains.
        s3={"addressing_style": "path"} if endpoint else {},
    )
    return boto3.client("s3", endpoint_url=endpoint or None, config=config)


def upload_run(run_dir: Path, store_url: str, *, client: Any = None) -> TransferSummary:
    """Copy `run_dir` to `<store_url>/<campaign>/<run-id>/`, skipping what is there."""
    directory = RunDirectory.open(run_dir)
    spec = directory.load_spec()
    location = StoreLocation.parse(store_url)
    if spec.bucket is not None and location.bucket == spec.bucket.name:
        raise StoreError(
            f"s3://{location.bucket} is the campaign's drop-zone bucket, emptied and "
            "destroyed with the stack; pass --store a long-lived bucket of your own",
            url=store_url,
        )
    client = client or s3_client()
    run_key = location.key(spec.campaign, spec.run_id)
    url = location.url(spec.campaign, spec.run_id)
    with _s3_errors(url, "list"):
        stored = _listing(client, location.bucket, run_key)

    index: dict[str, dict[str, Any]] = {}
    transferred = skipped = sent = 0
    for relative, path in _run_files(directory.path):
        digest, md5, size = _digests(path)
        index[relative] = {"sha256": digest, "size": size}
        key = f"{run_key}/{relative}"
        with _s3_errors(url, "upload"):
            if _is_stored(client, location.bucket, key, stored, digest, md5):
                skipped += 1
                continue
            client.upload_file(
                str(path),
                location.bucket,
                key,
                ExtraArgs={"Metadata": {SHA256_METADATA: digest}},
            )
        log.debug("uploaded %s (%d bytes)", key, size)
        transferred += 1
        sent += size

    document = json.dumps(
        {"campaign": spec.campaign, "run_id": spec.run_id, "files": index},
        indent=2,
        sort_keys=True,
    ).encode()
    key = f"{run_key}/{INDEX_NAME}"
    digest = hashlib.sha256(document).hexdigest()
    md5 = hashlib.md5(document, usedforsecurity=False).hexdigest()
    with _s3_errors(url, "upload"):
        if not _is_stored(client, location.bucket, key, stored, digest, md5):
            client.put_object(
                Bucket=location.bucket,
                Key=key,
                Body=document,
                Metadata={SHA256_METADATA: digest},
                ContentType="application/json",
            )
    return TransferSummary("upload", url, directory.path, transferred, skipped, sent)


def stored_run_name(run_url: str) -> tuple[str, str]:
    """(campaign, run id): the last two parts of a stored run's URL."""
    parts = PurePosixPath(StoreLocation.parse(run_url).prefix).parts
    if len(parts) < 2:
        raise StoreError(
            f"{run_url} does not end in <campaign>/<run-id>; pass the run's own "
            "folder, e.g. s3://bucket/prefix/quickstart/2612031941a0",
            url=run_url,
        )
    return parts[-2], parts[-1]


def harvest_run(
    run_url: str, destination: Path, *, client: Any = None
) -> TransferSummary:
    """Bring the run stored at `s3://…/<campaign>/<run-id>` into `destination`."""
    stored_run_name(run_url)  # refuses a URL that is not one run's folder
    location = StoreLocation.parse(run_url)
    client = client or s3_client()
    with _s3_errors(run_url, "list"):
        stored = _listing(client, location.bucket, location.prefix)
    if not stored:
        raise StoredRunNotFound(
            f"nothing is stored at {run_url}; list the stored runs with "
            f"`aws s3 ls {location.url().rsplit('/', 1)[0]}/`",
            url=run_url,
        )
    index = _read_index(client, location, stored, run_url)

    transferred = skipped = received = 0
    for key in sorted(stored):
        relative = key[len(location.prefix) + 1 :]
        if relative == INDEX_NAME:
            continue
        target = _inside(destination, relative, run_url)
        expected = (index.get(relative) or {}).get("sha256")
        if expected and target.is_file() and _digests(target)[0] == expected:
            skipped += 1
            continue
        with _s3_errors(run_url, "download"):
            received += _download(
                client, location.bucket, key, target, expected, run_url
            )
        transferred += 1
    missing = sorted(set(index) - {k[len(location.prefix) + 1 :] for k in stored})
    complete = bool(index) and not missing
    if not complete:
        log.warning(
            "%s is incomplete (%s); rerun the upload from the run directory",
            run_url,
            f"{len(missing)} file(s) missing" if index else f"no {INDEX_NAME}",
        )
    return TransferSummary(
        "harvest", run_url, destination, transferred, skipped, received, complete
    )


def _run_files(run_dir: Path) -> Iterator[tuple[str, Path]]:
    """(key suffix, path) of every file to store, in a stable order."""
    for path in sorted(run_dir.rglob("*")):
        relative = path.relative_to(run_dir)
        if not path.is_file() or path.is_symlink():
            continue
        if relative.parts[0] in EXCLUDED_DIRS or path.name.endswith(EXCLUDED_SUFFIXES):
            continue
        if relative.name == INDEX_NAME:
            continue
        yield relative.as_posix(), path


def _digests(path: Path) -> tuple[str, str, int]:
    """SHA-256 and MD5 (hex) and size, in one read."""
    sha256, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with path.open("rb") as source:
        while chunk := source.read(READ_CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha256.hexdigest(), md5.hexdigest(), size


def _listing(client: Any, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    """Every object under `prefix/`, by key: its ETag (unquoted) and size."""
    found = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for item in page.get("Contents", []):
            found[item["Key"]] = {
                "etag": item.get("ETag", "").strip('"'),
                "size": item["Size"],
            }
    return found


def _is_stored(
    client: Any,
    bucket: str,
    key: str,
    stored: dict[str, dict[str, Any]],
    sha256: str,
    md5: str,
) -> bool:
    """Whether `key` already holds these bytes (SHA-256 and MD5, hex)."""
    listed = stored.get(key)
    if listed is None:
        return False
    if "-" not in listed["etag"] and listed["etag"] == md5:
        return True  # a single-part upload's ETag is its MD5
    head = client.head_object(Bucket=bucket, Key=key)
    return head.get("Metadata", {}).get(SHA256_METADATA) == sha256


def _read_index(
    client: Any, location: StoreLocation, stored: dict[str, Any], url: str
) -> dict[str, dict[str, Any]]:
    key = location.key(INDEX_NAME)
    if key not in stored:
        return {}
    with _s3_errors(url, "download"):
        body = client.get_object(Bucket=location.bucket, Key=key)["Body"].read()
    try:
        return dict(json.loads(body)["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"{location.url(INDEX_NAME)} is not a store index ({exc}); upload the "
            "run again from its run directory",
            url=url,
        ) from exc


def _inside(destination: Path, relative: str, url: str) -> Path:
    """The local path of a stored file; refuses keys that would leave the run."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or ".." in parts:
        raise StoreError(
            f"{url} holds an object named {relative!r}, which would land outside "
            f"{destination}; remove it from the store",
            url=url,
        )
    return destination.joinpath(*parts)


def _download(
    client: Any, bucket: str, key: str, target: Path, expected: str | None, url: str
) -> int:
    """Stream one object to `target` through a temporary file; returns its size."""
    reply = client.get_object(Bucket=bucket, Key=key)
    expected = expected or reply.get("Metadata", {}).get(SHA256_METADATA)
    target.parent.mkdir(parents=True, exist_ok=True)
    sha256, size = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
    ) as partial:
        try:
            for chunk in reply["Body"].iter_chunks(READ_CHUNK):
                partial.write(chunk)
                sha256.update(chunk)
                size += len(chunk)
        except BaseException:
            Path(partial.name).unlink(missing_ok=True)
            raise
    if expected and sha256.hexdigest() != expected:
        Path(partial.name).unlink(missing_ok=True)
        raise StoreError(
            f"s3://{bucket}/{key} arrived with another checksum than it was stored "
            "with; run harvest again (it resumes), and if it repeats, upload the "
            "run again",
            url=url,
        )
    os.replace(partial.name, target)
    return size


# S3 error codes a user can act on, and what to tell them.
_S3_ERRORS: dict[str, tuple[type[StoreError], str]] = {
    "NoSuchBucket": (
        StoredRunNotFound,
        "the bucket does not exist; create it or fix the s3:// URL",
    ),
    "AccessDenied": (
        StoreError,
        "access denied; the credentials need s3:ListBucket, s3:GetObject and "
        "s3:PutObject on it",
    ),
    "InvalidAccessKeyId": (StoreError, "the AWS credentials are not valid; renew them"),
    "SignatureDoesNotMatch": (StoreError, "the AWS secret key is wrong; renew it"),
    "ExpiredToken": (StoreError, "the AWS session expired; log in again"),
}


@contextmanager
def _s3_errors(url: str, action: str) -> Iterator[None]:
    """S3 failures inside become a StoreError saying what to do next."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError as exc:
        raise StoreError(
            f"cannot {action} {url}: no AWS credentials found; set AWS_PROFILE or "
            "the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables",
            url=url,
            cause=exc,
        ) from exc
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        kind, advice = _S3_ERRORS.get(
            code, (StoreError, f"S3 answered {code or 'an error'}; rerun to resume")
        )
        raise kind(f"cannot {action} {url}: {advice}", url=url, cause=exc) from exc
    except (BotoCoreError, OSError) as exc:
        raise StoreError(
            f"cannot {action} {url}: {exc}; check the network (and "
            "AWS_ENDPOINT_URL if set), then rerun: it resumes where it stopped",
            url=url,
            cause=exc,
        ) from exc
