"""Removing leftovers in dependency order: instances, groups, keys, buckets, endpoints.

Instances are terminated and awaited first, since their security groups
cannot go while a network interface still uses them; buckets are emptied
(every version) before they are deleted. A resource already gone counts
as removed, so a second reap, or one after `down`, is harmless.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from fmbench_orch.orchestrator.aws_leftovers import (
    Clients,
    Leftover,
    error_code,
    find,
)

log = logging.getLogger(__name__)

# boto's own poll for instance_terminated; 40 polls cover a GPU host's slow
# shutdown (several minutes when it flushes a large EBS volume).
TERMINATE_POLL_S = 15
TERMINATE_POLLS = 40
# A security group stays in use for a minute or two after its instances are
# terminated (their network interfaces detach late): retry with doubling waits.
GROUP_DELETE_ATTEMPTS = 6
GROUP_DELETE_FIRST_BACKOFF_S = 5.0
# delete_objects takes at most 1000 keys per call.
S3_DELETE_BATCH = 1000
# Codes that mean the resource is already gone: removing it again is success.
GONE_CODES = frozenset(
    {
        "InvalidInstanceID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidKeyPair.NotFound",
        "NoSuchBucket",
    }
)


@dataclass
class Removal:
    removed: list[Leftover] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def remove(leftovers: list[Leftover], clients: Clients) -> Removal:
    """Remove `leftovers` in dependency order; say what went and what could not."""
    removal = Removal()
    by_kind: dict[str, list[Leftover]] = {}
    for item in leftovers:
        by_kind.setdefault(item.kind, []).append(item)
    _terminate(by_kind.get("instance", []), clients, removal)
    steps = (
        ("security-group", _delete_group),
        ("key-pair", _delete_key_pair),
        ("bucket", _delete_bucket),
        ("endpoint", _delete_endpoint),
    )
    for kind, delete in steps:
        for item in by_kind.get(kind, []):
            try:
                delete(item, clients)
            except Exception as error:
                if not _gone(error):
                    log.warning("could not remove %s %s: %s", kind, item.id, error)
                    removal.failures.append(
                        f"{kind} {item.id} in {item.region}: {error}"
                    )
                    continue
            log.info("removed %s %s in %s", kind, item.id, item.region)
            removal.removed.append(item)
    return removal


def sweep_run(regions: list[str], run_id: str, clients: Clients) -> Removal:
    """Remove whatever still carries `fmbench:run = run_id` in `regions`.

    Run after a stack's destroy: an update interrupted mid-create leaves
    resources AWS made but the state never recorded, and clearing the pending
    creates forgets them; their tags still name the run.
    """
    from datetime import UTC, datetime

    sweep = find(regions, datetime.now(UTC), None, clients)
    mine = [item for item in sweep.due + sweep.fresh if item.run_id == run_id]
    if mine:
        log.warning(
            "run %s: %d resource(s) outlived its stack (an interrupted update "
            "leaves them outside the state): %s; removing them",
            run_id,
            len(mine),
            ", ".join(f"{item.kind} {item.id}" for item in mine),
        )
    removal = remove(mine, clients)
    removal.failures += sweep.problems
    return removal


def _terminate(instances: list[Leftover], clients: Clients, removal: Removal) -> None:
    by_region: dict[str, list[Leftover]] = {}
    for item in instances:
        by_region.setdefault(item.region, []).append(item)
    for region, items in sorted(by_region.items()):
        ids = [item.id for item in items]
        ec2 = clients("ec2", region)
        try:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids,
                WaiterConfig={
                    "Delay": TERMINATE_POLL_S,
                    "MaxAttempts": TERMINATE_POLLS,
                },
            )
        except Exception as error:
            if not _gone(error):
                log.warning("could not terminate %s in %s: %s", ids, region, error)
                removal.failures += [f"instance {i} in {region}: {error}" for i in ids]
                continue
        log.info("terminated %s in %s", ", ".join(ids), region)
        removal.removed += items


def _delete_group(item: Leftover, clients: Clients) -> None:
    ec2 = clients("ec2", item.region)
    backoff = GROUP_DELETE_FIRST_BACKOFF_S
    for attempt in range(1, GROUP_DELETE_ATTEMPTS + 1):
        try:
            ec2.delete_security_group(GroupId=item.id)
            return
        except Exception as error:
            in_use = error_code(error) == "DependencyViolation"
            if not in_use or attempt == GROUP_DELETE_ATTEMPTS:
                raise
            log.debug("security group %s still in use; retrying", item.id)
            time.sleep(backoff)
            backoff *= 2


def _delete_key_pair(item: Leftover, clients: Clients) -> None:
    clients("ec2", item.region).delete_key_pair(KeyName=item.id)


def _delete_bucket(item: Leftover, clients: Clients) -> None:
    s3 = clients("s3", item.region)
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=item.id)
    batch: list[dict[str, str]] = []
    for page in pages:
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            batch.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
            if len(batch) == S3_DELETE_BATCH:
                s3.delete_objects(Bucket=item.id, Delete={"Objects": batch})
                batch = []
    if batch:
        s3.delete_objects(Bucket=item.id, Delete={"Objects": batch})
    s3.delete_bucket(Bucket=item.id)


def _delete_endpoint(item: Leftover, clients: Clients) -> None:
    clients("sagemaker", item.region).delete_endpoint(EndpointName=item.id)


def _gone(error: BaseException) -> bool:
    code = error_code(error)
    if code == "ValidationException":
        return "could not find" in str(error).lower()
    return code in GONE_CODES
