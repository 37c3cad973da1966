"""`plan --check-aws`: what the account says about a campaign before `up`.

The plan itself stays offline. These checks ask AWS, with the user's
credentials, what `up` would otherwise find out half-way through: whether
each placement's instance type is offered in its region (and zone), whether
its image exists there, and whether the EC2 vCPU quotas hold the hosts.
Every placement is checked: each host and each of its fallbacks.

A problem found is a failure. A lookup these credentials may not make, and
every quota that cannot be read, is a warning: the check did not run. An
error that `up` would meet as well (a region not enabled, no endpoint) is a
failure.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from fmbench_orch.models.spec import HostSpec, Placement, StackSpec
from fmbench_orch.orchestrator import aws_leftovers
from fmbench_orch.orchestrator.aws_account import (
    Account,
    CredentialsUnusable,
    LookupFailed,
    Quota,
    quota_for,
    vcpus,
)
from fmbench_orch.orchestrator.errors import ProvisionFailed

log = logging.getLogger(__name__)

# EC2's answers for an image id that names no image this account can use.
IMAGE_MISSING = {
    "InvalidAMIID.NotFound",
    "InvalidAMIID.Malformed",
    "InvalidAMIID.Unavailable",
}
PARAMETER_MISSING = {"ParameterNotFound", "ParameterVersionNotFound"}

Verdict = Literal["ok", "warning", "failure"]
RegionQuota = tuple[str, "Quota"]

PHASE = "aws-checks"
RERUN = "run plan --check-aws again"


@dataclass(frozen=True)
class Finding:
    """One check's verdict: which hosts, where, and what to do next."""

    check: str  # credentials | offering | image | quota
    verdict: Verdict
    message: str
    hosts: tuple[str, ...] = ()
    region: str | None = None

    def describe(self) -> str:
        return (
            f"{', '.join(self.hosts)}: {self.message}" if self.hosts else self.message
        )


@dataclass
class AwsChecks:
    """Every finding of `plan --check-aws`, or why nothing was checked."""

    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "failure"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "warning"]

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failures": len(self.failures),
            "warnings": len(self.warnings),
            "skipped": self.skipped,
            "findings": [
                {**dataclasses.asdict(f), "hosts": list(f.hosts)} for f in self.findings
            ],
        }


class AwsChecksFailed(ProvisionFailed):
    """`plan --check-aws` found what would stop `up`, so it exits as `up` would."""

    def __init__(self, campaign: str, checks: AwsChecks) -> None:
        self.campaign = campaign
        self.checks = checks
        failures = checks.failures
        hosts = list(dict.fromkeys(h for f in failures for h in f.hosts))
        which = f" (hosts {', '.join(hosts)})" if hosts else ""
        super().__init__(
            f"plan --check-aws: {len(failures)} check(s) of campaign {campaign} "
            f"failed{which}; fix each failure the plan lists, then {RERUN} "
            "before up",
            host=hosts[0] if hosts else None,
            phase=PHASE,
        )


def check_spec(
    spec: StackSpec, clients: aws_leftovers.Clients | None = None
) -> AwsChecks:
    """Ask AWS about every placement of `spec`; `clients` defaults to boto3."""
    if spec.provider != "aws":
        return AwsChecks(
            skipped=f"provider {spec.provider} creates nothing on AWS; nothing to check"
        )
    account = Account(clients or aws_leftovers.boto_clients())
    checks = AwsChecks()
    try:
        for host in spec.hosts:
            checks.findings += _placement_findings(account, host)
        checks.findings += _quotas(account, spec)
    except CredentialsUnusable as error:
        message = (
            f"no usable AWS credentials ({error}); configure them (aws configure, "
            "AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), then "
            f"{RERUN}"
        )
        return AwsChecks(findings=[Finding("credentials", "failure", message)])
    return checks


# --- the checks: each gives a verdict and its message -------------------------


def _placement_findings(account: Account, host: HostSpec) -> list[Finding]:
    """Offering and image of the host's own placement, then of each fallback."""
    places = [("", host.placement)]
    places += [(f"fallback {n}: ", p) for n, p in enumerate(host.fallbacks, 1)]
    findings = []
    for label, place in places:
        for check, ask in (("offering", _offering), ("image", _image)):
            verdict, message = ask(account, place)
            findings.append(
                Finding(check, verdict, label + message, (host.name,), place.region)
            )
    return findings


def _offering(account: Account, place: Placement) -> tuple[Verdict, str]:
    kind, region, zone = place.instance_type, place.region, place.availability_zone
    try:
        zones = account.zones(kind, region)
    except LookupFailed as failed:
        action = "ec2:DescribeInstanceTypeOfferings"
        return _unchecked(region, f"where {kind} is offered", action, failed)
    if not zones:
        return "failure", (
            f"{kind} is not offered in any zone of {region}; pick another region "
            "or instance type"
        )
    if zone is not None and zone not in zones:
        return "failure", (
            f"{kind} is not offered in {zone}; {region} offers it in "
            f"{', '.join(zones)}: set availability_zone to one of those, or remove "
            "it to let up pick"
        )
    where = zone or f"{region} ({', '.join(zones)})"
    return "ok", f"{kind} is offered in {where}"


def _image(account: Account, place: Placement) -> tuple[Verdict, str]:
    region, ami = place.region, place.image.ami_id
    if ami is None:
        return _alias(account, place)
    try:
        found = account.image(ami, region)
    except LookupFailed as failed:
        if failed.code not in IMAGE_MISSING:
            return _unchecked(region, f"image {ami}", "ec2:DescribeImages", failed)
        found = None
    if found is None:
        return "failure", (
            f"image {ami} does not exist in {region}, or this account may not use "
            f"it; copy or share it into {region}, or use an alias (ami: gpu, cpu, "
            "neuron, arm)"
        )
    state, architecture = found.get("State"), found.get("Architecture")
    if state not in (None, "available"):
        return "failure", (
            f"image {ami} in {region} is {state}, not available; wait until it is "
            "or pick another image"
        )
    if architecture not in (None, place.architecture):
        return "failure", (
            f"image {ami} is {architecture} but {place.instance_type} is "
            f"{place.architecture}; pick an {place.architecture} image or an alias"
        )
    return "ok", f"image {ami} exists in {region} ({architecture})"


def _alias(account: Account, place: Placement) -> tuple[Verdict, str]:
    region, alias, parameter = (
        place.region,
        place.image.alias,
        place.image.ssm_parameter,
    )
    if parameter is None:
        return "failure", "the spec names no image; run plan again"
    try:
        ami = account.parameter(parameter, region)
    except LookupFailed as failed:
        if failed.code not in PARAMETER_MISSING:
            what = f"the image of alias {alias}"
            return _unchecked(region, what, "ssm:GetParameter", failed)
        return "failure", (
            f"alias {alias} has no image in {region}: the public parameter "
            f"{parameter} is missing there; pick another region, or set an ami-… "
            f"id that exists in {region}"
        )
    return "ok", f"alias {alias} resolves to {ami} in {region}"


def _unchecked(
    region: str, what: str, action: str, failed: LookupFailed
) -> tuple[Verdict, str]:
    """A lookup that gave no answer: a warning if only refused, else a failure."""
    if failed.kind == "denied":
        return "warning", (
            f"could not check {what} in {region} ({failed.code}): these "
            f"credentials may not call {action}; allow it to check here, or check "
            "by hand before up"
        )
    if failed.kind == "region":
        return "failure", (
            f"{region} is not enabled for this account ({failed.code}); enable it "
            "under Account → AWS Regions, or pick another region"
        )
    return "failure", (
        f"could not check {what} in {region}: {failed.reason}; check the network, "
        f"AWS_ENDPOINT_URL and the credentials, then {RERUN}"
    )


def _quotas(account: Account, spec: StackSpec) -> list[Finding]:
    """Each quota against the hosts that count against it, then the fallbacks."""
    findings: list[Finding] = []
    demand: dict[RegionQuota, dict[str, int]] = defaultdict(dict)
    for host in spec.hosts:
        quota = quota_for(host.instance_type, host.spot)
        if quota is None:
            findings.append(_unknown_quota(host.name, host.instance_type, host.region))
            continue
        demand[(host.region, quota)][host.name] = vcpus(host.instance_type)
    for key, asks in demand.items():
        need = sum(asks.values())
        findings.append(_quota_finding(account, key, tuple(asks), need, None))

    # A fallback replaces its host: it needs its own vCPUs on top of the other
    # hosts counting against the same quota. A quota that cannot be read is
    # reported once, with the first hosts that need it.
    reported = set(demand)
    for host in spec.hosts:
        for number, place in enumerate(host.fallbacks, 1):
            quota = quota_for(place.instance_type, host.spot)
            if quota is None:
                findings.append(
                    _unknown_quota(host.name, place.instance_type, place.region)
                )
                continue
            key = (place.region, quota)
            others = {n: v for n, v in demand.get(key, {}).items() if n != host.name}
            need = sum(others.values()) + vcpus(place.instance_type)
            if key in reported and account.quota_unreadable(quota.code, key[0]):
                continue
            reported.add(key)
            fallback = f"fallback {number} ({place.describe()})"
            finding = _quota_finding(account, key, (host.name,), need, fallback)
            if finding is not None:
                findings.append(finding)
    return findings


def _quota_finding(
    account: Account,
    key: RegionQuota,
    hosts: tuple[str, ...],
    need: int,
    fallback: str | None,
) -> Finding | None:
    """The verdict on one quota; for a fallback only a warning, and only if short.

    A fallback runs only when its host cannot, so its shortfall is a warning.
    """
    region, quota = key
    who = f"{fallback} would need" if fallback else "these hosts need"
    try:
        limit = account.quota(quota.code, region)
    except LookupFailed as failed:
        return Finding(
            "quota",
            "warning",
            f"could not read quota {quota.code} ({quota.name}) in {region}: "
            f"{failed.reason}; {who} {need} vCPUs of it, so check it in the "
            "Service Quotas console before up (reading it here needs "
            "servicequotas:GetServiceQuota)",
            hosts,
            region,
        )
    used, note = _in_use(account, region, quota)
    wanted = need + used
    state = (
        f"quota {quota.code} ({quota.name}) in {region} is {limit:g} vCPUs; {who} "
        f"{need} and {used} are in use{note}"
    )
    if wanted <= limit:
        return None if fallback else Finding("quota", "ok", state, hosts, region)
    fix = (
        f"request a quota increase for {quota.code} in {region} to at least "
        f"{wanted} vCPUs"
    )
    if fallback:
        message = f"{state}, so it could not launch either; {fix}, or drop it"
        return Finding("quota", "warning", message, hosts, region)
    command = (
        "aws service-quotas request-service-quota-increase --service-code ec2 "
        f"--quota-code {quota.code} --region {region} --desired-value {wanted}"
    )
    message = f"{state}; {fix} ({command}), or plan fewer or smaller hosts there"
    return Finding("quota", "failure", message, hosts, region)


def _unknown_quota(host: str, instance_type: str, region: str) -> Finding:
    return Finding(
        "quota",
        "warning",
        f"no vCPU quota is known here for {instance_type}; check its family's "
        f"quota in {region} in the Service Quotas console before up",
        (host,),
        region,
    )


def _in_use(account: Account, region: str, quota: Quota) -> tuple[int, str]:
    """vCPUs already running against `quota`, and a note when unknown."""
    try:
        return account.vcpus_in_use(region).get(quota.code, 0), ""
    except LookupFailed as failed:
        return 0, f" (running instances not counted: {failed.reason})"
