"""AWS resources a run left behind, found by their `fmbench:` tags.

Works from the account alone — no run directory, no Pulumi state — so it
finds what a lost laptop or a deleted state file left. A resource is ours
only if it carries an `fmbench:` tag key; it is due when its `fmbench:ttl`
has passed, or (when the caller gives an age) when it is older than that.
`aws_removal` removes what is due.

SageMaker endpoints FMBench deploys carry no tags of ours unless the
config adds them; endpoints named like a campaign but untagged are shown,
with the command that deletes them, and never removed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from fmbench_orch.models import catalog
from fmbench_orch.models.compile import TAG_CAMPAIGN, TAG_RUN, TAG_TTL
from fmbench_orch.models.durations import format_duration

log = logging.getLogger(__name__)

TAG_PREFIX = "fmbench:"
OUR_TAG_KEYS = [TAG_CAMPAIGN, TAG_RUN, TAG_TTL]
# The compile step names every drop-zone bucket `fmbench-<stack>`; only those
# are asked for their tags (one call per bucket, and accounts hold hundreds).
BUCKET_PREFIX = "fmbench-"
# Instance states that still bill, or will until they finish stopping.
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
# The run id `new_run_id` makes: yymmddHHMM and two hex digits.
RUN_ID_TIME = re.compile(r"^(\d{10})[0-9a-f]{2}$")
Clients = Callable[[str, str], Any]


@dataclass(frozen=True)
class Leftover:
    """One tagged resource: what it is, where, whose run, and what it costs."""

    kind: str  # instance | security-group | key-pair | bucket | endpoint
    id: str
    region: str
    tags: Mapping[str, str]
    created_at: datetime | None
    usd_per_hour: float | None = None
    detail: str = ""

    @property
    def run_id(self) -> str | None:
        return self.tags.get(TAG_RUN)

    @property
    def expires_at(self) -> datetime | None:
        """When its `fmbench:ttl` tag says it should be gone."""
        return _ttl(self.tags)

    def spent_usd(self, now: datetime) -> float | None:
        if self.usd_per_hour is None or self.created_at is None:
            return None
        hours = max((now - self.created_at).total_seconds(), 0.0) / 3600
        return self.usd_per_hour * hours

    def describe(self, now: datetime) -> str:
        spent = self.spent_usd(now)
        if self.usd_per_hour == 0:
            cost = "no hourly cost"
        elif spent is None:
            cost = "cost unknown"
        else:
            cost = f"~{spent:.2f} USD so far"
        age = _age(self.created_at, now)
        whose = f"run {self.run_id}" if self.run_id else "no run tag"
        detail = f" ({self.detail})" if self.detail else ""
        return (
            f"{self.kind:<14} {self.id}{detail}  {self.region}  {whose}  "
            f"age {age}  {cost}"
        )


@dataclass
class Sweep:
    """What a sweep found: due (to remove), fresh (kept), and what it could not."""

    due: list[Leftover] = field(default_factory=list)
    fresh: list[Leftover] = field(default_factory=list)
    untagged_endpoints: list[Leftover] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def is_due(
    tags: Mapping[str, str],
    created_at: datetime | None,
    now: datetime,
    older_than: timedelta | None,
) -> bool:
    """Past its TTL tag, or older than `older_than` (when given and known)."""
    expires_at = _ttl(tags)
    if expires_at is not None and expires_at <= now:
        return True
    created_at = created_at or created_from_run_id(tags.get(TAG_RUN))
    if older_than is None or created_at is None:
        return False
    return now - created_at >= older_than


def created_from_run_id(run_id: str | None) -> datetime | None:
    """When a run started, read from its id (for resources AWS gives no date)."""
    match = RUN_ID_TIME.match(run_id or "")
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def boto_clients() -> Clients:
    """boto3 clients per (service, region); honours AWS_ENDPOINT_URL."""
    import boto3
    from botocore.config import Config

    # Standard retry mode backs off on throttling; 5 tries ride out a burst.
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    made: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in made:
            made[(service, region)] = boto3.client(
                service, region_name=region, config=config
            )
        return made[(service, region)]

    return client


def find(
    regions: Iterable[str],
    now: datetime,
    older_than: timedelta | None,
    clients: Clients,
    campaign_names: Iterable[str] = (),
) -> Sweep:
    """List our resources in `regions` and sort them into due and fresh."""
    sweep = Sweep()
    names = {"fmbench", *campaign_names}
    regions = sorted(set(regions))
    listers = {
        "instances": _instances,
        "security groups": _groups,
        "key pairs": _key_pairs,
        "SageMaker endpoints": _endpoints,
    }
    for region in regions:
        for what, lister in listers.items():
            _collect(sweep, what, region, partial(lister, clients, region))
    _collect(sweep, "buckets", ", ".join(regions), partial(_buckets, clients, regions))
    for item in sweep.fresh[:]:
        if not any(key.startswith(TAG_PREFIX) for key in item.tags):
            sweep.fresh.remove(item)
            if any(name in item.id for name in names):
                sweep.untagged_endpoints.append(item)
        elif is_due(item.tags, item.created_at, now, older_than):
            sweep.fresh.remove(item)
            sweep.due.append(item)
    return sweep


def _collect(
    sweep: Sweep, what: str, region: str, lister: Callable[[], list[Leftover]]
) -> None:
    try:
        sweep.fresh.extend(lister())
    except Exception as error:
        log.warning("could not list %s in %s: %s", what, region, error)
        sweep.problems.append(
            f"could not list {what} in {region} ({error}); check credentials and "
            "permissions, then reap again"
        )


def _instances(clients: Clients, region: str) -> list[Leftover]:
    ec2 = clients("ec2", region)
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag-key", "Values": OUR_TAG_KEYS},
            {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES},
        ]
    )
    found = []
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                kind = instance["InstanceType"]
                found.append(
                    Leftover(
                        kind="instance",
                        id=instance["InstanceId"],
                        region=region,
                        tags=_tags(instance.get("Tags")),
                        created_at=_utc(instance.get("LaunchTime")),
                        usd_per_hour=_price(kind, region),
                        detail=f"{kind}, {instance['State']['Name']}",
                    )
                )
    return found


def _groups(clients: Clients, region: str) -> list[Leftover]:
    ec2 = clients("ec2", region)
    pages = ec2.get_paginator("describe_security_groups").paginate(
        Filters=[{"Name": "tag-key", "Values": OUR_TAG_KEYS}]
    )
    found = []
    for page in pages:
        for group in page["SecurityGroups"]:
            tags = _tags(group.get("Tags"))
            found.append(
                Leftover(
                    kind="security-group",
                    id=group["GroupId"],
                    region=region,
                    tags=tags,
                    created_at=created_from_run_id(tags.get(TAG_RUN)),
                    usd_per_hour=0.0,
                    detail=group.get("GroupName", ""),
                )
            )
    return found


def _key_pairs(clients: Clients, region: str) -> list[Leftover]:
    ec2 = clients("ec2", region)
    reply = ec2.describe_key_pairs(
        Filters=[{"Name": "tag-key", "Values": OUR_TAG_KEYS}]
    )
    found = []
    for pair in reply["KeyPairs"]:
        tags = _tags(pair.get("Tags"))
        found.append(
            Leftover(
                kind="key-pair",
                id=pair["KeyName"],
                region=region,
                tags=tags,
                created_at=_utc(pair.get("CreateTime")),
                usd_per_hour=0.0,
            )
        )
    return found


def _buckets(clients: Clients, regions: list[str]) -> list[Leftover]:
    if not regions:
        return []
    s3 = clients("s3", regions[0])
    found = []
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if not name.startswith(BUCKET_PREFIX):
            continue
        region = s3.get_bucket_location(Bucket=name).get("LocationConstraint")
        region = region or "us-east-1"  # S3 reports us-east-1 as no constraint
        if region not in regions:
            continue
        try:
            tag_set = s3.get_bucket_tagging(Bucket=name)["TagSet"]
        except Exception as error:
            if error_code(error) in {"NoSuchTagSet", "NoSuchBucket"}:
                continue
            raise
        tags = _tags(tag_set)
        found.append(
            Leftover(
                kind="bucket",
                id=name,
                region=region,
                tags=tags,
                created_at=_utc(bucket.get("CreationDate")),
                usd_per_hour=0.0,
            )
        )
    return found


def _endpoints(clients: Clients, region: str) -> list[Leftover]:
    sagemaker = clients("sagemaker", region)
    found = []
    for page in sagemaker.get_paginator("list_endpoints").paginate():
        for endpoint in page["Endpoints"]:
            reply = sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])
            tags = _tags(reply.get("Tags"))
            found.append(
                Leftover(
                    kind="endpoint",
                    id=endpoint["EndpointName"],
                    region=region,
                    tags=tags,
                    created_at=_utc(endpoint.get("CreationTime")),
                    # Limitation: SageMaker prices are not in the catalog, so an
                    # endpoint's cost so far shows as unknown — matters when
                    # deciding by cost whether to keep one.
                    usd_per_hour=None,
                    detail=endpoint.get("EndpointStatus", ""),
                )
            )
    return found


def _price(instance_type: str, region: str) -> float | None:
    try:
        return catalog.get_instance_type(instance_type).price_per_hour(region)
    except (catalog.UnknownInstanceType, catalog.PriceUnknown):
        return None


def _tags(pairs: list[dict[str, str]] | None) -> dict[str, str]:
    return {pair["Key"]: pair["Value"] for pair in pairs or []}


def _ttl(tags: Mapping[str, str]) -> datetime | None:
    try:
        return _utc(datetime.fromisoformat(tags[TAG_TTL]))
    except (KeyError, ValueError):
        return None


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _age(created_at: datetime | None, now: datetime) -> str:
    if created_at is None:
        return "unknown"
    minutes = max(int((now - created_at).total_seconds() // 60), 0)
    return format_duration(timedelta(minutes=minutes))


def error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None
