"""The mandatory checks, as pure functions over wire-format resource properties.

A resource is `(type token, logical name, props)`, with props named as on
the wire (camelCase: `instanceType`, `metadataOptions.httpTokens`) — what
pulumi-policy hands a pack and what the offline preview records. Nothing
here imports Pulumi, so `plan` runs the very same checks without the CLI.

Resource checks return messages for one resource; stack checks see every
resource at once and return `(resource name, message)` pairs, the name
empty when the stack as a whole is at fault. `POLICIES` is the one table
of names, descriptions and checks; `run_checks` applies all of it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fmbench_orch.models import catalog
from fmbench_orch.models.compile import TAG_CAMPAIGN, TAG_OWNER, TAG_RUN, TAG_TTL

INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
VPC_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_ENCRYPTIONS = (
    "aws:s3/bucketServerSideEncryptionConfiguration:"
    "BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:"
    "BucketServerSideEncryptionConfigurationV2",
)
BUCKET_ACLS = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
# Inline and customer managed IAM policies, whose documents are checked.
IAM_POLICIES = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
)
# What a statement's Action means when it grants every action.
EVERY_ACTION = frozenset({"*", "*:*"})
# The resource types fmbench stacks create that carry tags; the reaper finds
# leftovers by these tags, so every one of them must have all four.
TAGGED_TYPES = frozenset(
    {
        INSTANCE,
        VOLUME,
        SECURITY_GROUP,
        *BUCKETS,
        "aws:ec2/keyPair:KeyPair",
        "aws:iam/role:Role",
        "aws:iam/instanceProfile:InstanceProfile",
    }
)
REQUIRED_TAGS = (TAG_CAMPAIGN, TAG_RUN, TAG_TTL, TAG_OWNER)
SSH_PORT = 22
ENCRYPTION_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)

Props = Mapping[str, Any]
Resource = tuple[str, str, Props]


@dataclass(frozen=True)
class Violation:
    """One failed check: which policy, which resource ('' for the stack), why."""

    policy: str
    resource: str
    message: str

    def __str__(self) -> str:
        where = f" {self.resource}" if self.resource else ""
        return f"[{self.policy}]{where}: {self.message}"


@dataclass(frozen=True)
class PolicyConfig:
    """Per-campaign settings: the budget and an optional instance allow-list."""

    max_usd_per_hour: float | None = None
    allowed_instance_types: tuple[str, ...] | None = None

    @classmethod
    def for_spec(cls, spec: Any) -> PolicyConfig:
        """The campaign's own budget (a StackSpec); no allow-list."""
        return cls(max_usd_per_hour=spec.max_usd_per_hour)

    @classmethod
    def from_pack_config(cls, config: Mapping[str, Any]) -> PolicyConfig:
        """From pulumi-policy config (`maxUsdPerHour`, `allowedInstanceTypes`)."""
        allowed = config.get("allowedInstanceTypes")
        budget = config.get("maxUsdPerHour")
        return cls(
            max_usd_per_hour=float(budget) if budget is not None else None,
            allowed_instance_types=tuple(allowed) if allowed is not None else None,
        )


# No budget, no allow-list: what a check sees when the pack has no config.
NO_CONFIG = PolicyConfig()


# --- resource checks ---------------------------------------------------------


def check_instance_type(
    resource_type: str, props: Props, config: PolicyConfig = NO_CONFIG
) -> list[str]:
    """Hosts use catalogued instance types (and the campaign's allow-list)."""
    if resource_type != INSTANCE:
        return []
    name = props.get("instanceType")
    if name not in catalog.instance_types():
        return [
            f"instance type {name!r} is not in the catalog, so its cost is unknown; "
            f"use a catalogued type or add it to {catalog.CATALOG_FILE_FOR_HUMANS}"
        ]
    allowed = config.allowed_instance_types
    if allowed is not None and name not in allowed:
        return [
            f"instance type {name} is not in the allow-list "
            f"({', '.join(allowed) or 'empty'}); pick one of those or extend it"
        ]
    return []


def check_required_tags(
    resource_type: str, props: Props, config: PolicyConfig = NO_CONFIG
) -> list[str]:
    """Every taggable resource carries campaign, run, TTL and owner tags."""
    if resource_type not in TAGGED_TYPES:
        return []
    tags = props.get("tags") or {}
    missing = [key for key in REQUIRED_TAGS if not tags.get(key)]
    if missing:
        return [
            f"missing tag(s) {', '.join(missing)}; the reaper finds leftovers by "
            "them — declare resources from a compiled StackSpec"
        ]
    try:
        expires = datetime.fromisoformat(tags[TAG_TTL])
    except ValueError:
        expires = None
    if expires is None or expires.tzinfo is None:
        return [
            f"tag {TAG_TTL}={tags[TAG_TTL]!r} is not an ISO 8601 time with a zone; "
            "the reaper cannot tell when it expires"
        ]
    return []


def check_imdsv2(
    resource_type: str, props: Props, config: PolicyConfig = NO_CONFIG
) -> list[str]:
    """Instances accept only IMDSv2 (session tokens) or have no metadata service."""
    if resource_type != INSTANCE:
        return []
    options = props.get("metadataOptions") or {}
    if options.get("httpEndpoint") == "disabled":
        return []
    if options.get("httpTokens") != "required":
        return [
            "metadataOptions.httpTokens must be 'required' (IMDSv2 only), so a "
            "request forged through a model server cannot read the role's keys"
        ]
    return []


_UNENCRYPTED_VOLUME = (
    "the volume is not encrypted; set storage.encrypted: true in the campaign"
)


def check_ebs_encrypted(
    resource_type: str, props: Props, config: PolicyConfig = NO_CONFIG
) -> list[str]:
    """Root and data volumes are encrypted, explicitly (not by account default)."""
    if resource_type == VOLUME:
        return [] if props.get("encrypted") is True else [_UNENCRYPTED_VOLUME]
    if resource_type != INSTANCE:
        return []
    problems = []
    if (props.get("rootBlockDevice") or {}).get("encrypted") is not True:
        problems.append(f"rootBlockDevice: {_UNENCRYPTED_VOLUME}")
    for index, device in enumerate(props.get("ebsBlockDevices") or []):
        if device.get("encrypted") is not True:
            problems.append(f"ebsBlockDevices[{index}]: {_UNENCRYPTED_VOLUME}")
    return problems


def check_ssh_ingress(
    resource_type: str, props: Props, config: PolicyConfig = NO_CONFIG
) -> list[str]:
    """No rule lets the whole internet (0.0.0.0/0 or ::/0) reach port 22."""
    return [
        f"SSH (port 22) is open to {cidr}; set hosts[].network.ssh_ingress_cidrs "
        "to your own address (a /32) instead"
        for protocol, low, high, cidrs in _ingress_rules(resource_type, props)
        if _reaches_ssh(protocol, low, high)
        for cidr in cidrs
        if _is_anywhere(cidr)
    ]


def check_no_admin_statement(
    resource_type: str, props: Props, config: PolicyConfig = NO_CONFIG
) -> list[str]:
    """No inline or customer policy allows every action (Action * or NotAction).

    A policy document still unknown at preview (it names an ARN AWS has not
    assigned yet) is not read; the ones a campaign writes are known.
    """
    if resource_type not in IAM_POLICIES:
        return []
    document = props.get("policy")
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    if not isinstance(document, Mapping):
        return []
    statements = document.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    problems = []
    for index, statement in enumerate(statements):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        name = statement.get("Sid") or f"Statement[{index}]"
        if EVERY_ACTION & set(_as_list(statement.get("Action"))):
            problems.append(
                f"{name} allows every action ('*'), which hands the whole account "
                "to whatever runs on the hosts; name the actions they need (or a "
                "service's, such as sagemaker:*)"
            )
        elif "NotAction" in statement:
            problems.append(
                f"{name} allows every action but {_as_list(statement['NotAction'])} "
                "(NotAction with Allow); name the actions the hosts need instead"
            )
    return problems


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _ingress_rules(resource_type: str, props: Props) -> list[tuple[Any, ...]]:
    """(protocol, from port, to port, CIDRs) of each ingress rule a resource holds."""
    if resource_type == SECURITY_GROUP:
        rules = list(props.get("ingress") or [])
    elif resource_type == SECURITY_GROUP_RULE and props.get("type") == "ingress":
        rules = [props]
    elif resource_type == VPC_INGRESS_RULE:
        cidrs = [c for c in (props.get("cidrIpv4"), props.get("cidrIpv6")) if c]
        ports = (props.get("fromPort"), props.get("toPort"))
        return [(props.get("ipProtocol"), *ports, cidrs)]
    else:
        return []
    return [
        (
            rule.get("protocol"),
            rule.get("fromPort"),
            rule.get("toPort"),
            [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])],
        )
        for rule in rules
    ]


def _reaches_ssh(protocol: Any, low: Any, high: Any) -> bool:
    if str(protocol).lower() in {"-1", "all"}:
        return True
    if str(protocol).lower() not in {"tcp", "6"}:
        return False
    try:
        return int(low) <= SSH_PORT <= int(high)
    except (TypeError, ValueError):
        return True  # an unreadable range is treated as the worst case


def _is_anywhere(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


# --- stack checks ------------------------------------------------------------


def check_budget(
    resources: Sequence[Resource], config: PolicyConfig = NO_CONFIG
) -> list[tuple[str, str]]:
    """All hosts together cost no more per hour than the budget.

    Spot hosts count at their On-Demand price: the most they can cost.
    """
    # Limitation: with no budget configured (a CLI run without the pack's config)
    # nothing is compared; `plan` always passes the campaign's own budget.
    if config.max_usd_per_hour is None:
        return []
    total = 0.0
    for resource_type, _, props in resources:
        if resource_type != INSTANCE:
            continue
        kind = catalog.instance_types().get(props.get("instanceType"))
        if kind is None:
            continue  # check_instance_type reports it
        region = props.get("region")
        # Without a known region, take the dearest catalogued one: the worst case.
        total += kind.prices.get(region) or max(kind.prices.values(), default=0.0)
    if total <= config.max_usd_per_hour:
        return []
    return [
        (
            "",
            f"the hosts cost {total:.2f} USD/h On-Demand, over the budget of "
            f"{config.max_usd_per_hour:.2f}; remove hosts, pick smaller types or "
            "raise budget.max_usd_per_hour",
        )
    ]


def check_bucket_encrypted(
    resources: Sequence[Resource], config: PolicyConfig = NO_CONFIG
) -> list[tuple[str, str]]:
    """Every bucket has default encryption with a known algorithm."""
    encrypted = {
        props.get("bucket")
        for resource_type, _, props in resources
        if resource_type in BUCKET_ENCRYPTIONS and _algorithms_ok(props)
    }
    return [
        (name, f"bucket {bucket} has no default encryption (AES256 or aws:kms)")
        for name, bucket, props in _buckets(resources)
        if bucket not in encrypted
        and not _algorithms_ok(props.get("serverSideEncryptionConfiguration") or {})
    ]


def check_bucket_private(
    resources: Sequence[Resource], config: PolicyConfig = NO_CONFIG
) -> list[tuple[str, str]]:
    """Every bucket blocks all public access and grants no public ACL."""
    blocked = {
        props.get("bucket")
        for resource_type, _, props in resources
        if resource_type == PUBLIC_ACCESS_BLOCK
        and all(props.get(flag) is True for flag in PUBLIC_ACCESS_FLAGS)
    }
    public_acl = {
        props.get("bucket")
        for resource_type, _, props in resources
        if resource_type in BUCKET_ACLS and props.get("acl") in PUBLIC_ACLS
    }
    problems = []
    for name, bucket, props in _buckets(resources):
        if bucket not in blocked:
            problems.append(
                (
                    name,
                    f"bucket {bucket} lacks a public access block with all four "
                    "flags set; results must never be public",
                )
            )
        if props.get("acl") in PUBLIC_ACLS or bucket in public_acl:
            problems.append((name, f"bucket {bucket} has a public ACL; remove it"))
    return problems


def _buckets(resources: Sequence[Resource]) -> list[tuple[str, str, Props]]:
    return [
        (name, props.get("bucket") or name, props)
        for resource_type, name, props in resources
        if resource_type in BUCKETS
    ]


def _algorithms_ok(props: Props) -> bool:
    rules = props.get("rules") or props.get("rule") or []
    if isinstance(rules, Mapping):
        rules = [rules]
    algorithms = [
        (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
        for rule in rules
    ]
    return bool(algorithms) and all(a in ENCRYPTION_ALGORITHMS for a in algorithms)


# --- the table ---------------------------------------------------------------

ResourceCheck = Callable[[str, Props, PolicyConfig], list[str]]
StackCheck = Callable[[Sequence[Resource], PolicyConfig], list[tuple[str, str]]]


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None


POLICIES: tuple[Policy, ...] = (
    Policy(
        "instance-type-in-catalog",
        "Hosts use instance types from the catalog (and the allow-list, if set).",
        resource_check=check_instance_type,
    ),
    Policy(
        "stack-within-budget",
        "All hosts together cost no more per hour than the campaign's budget.",
        stack_check=check_budget,
    ),
    Policy(
        "required-tags",
        "Taggable resources carry fmbench:campaign, :run, :ttl and :owner.",
        resource_check=check_required_tags,
    ),
    Policy(
        "imdsv2-required",
        "Instances require IMDSv2 session tokens.",
        resource_check=check_imdsv2,
    ),
    Policy(
        "ebs-encrypted",
        "Every EBS volume is encrypted.",
        resource_check=check_ebs_encrypted,
    ),
    Policy(
        "bucket-encrypted",
        "Every S3 bucket has default encryption.",
        stack_check=check_bucket_encrypted,
    ),
    Policy(
        "bucket-not-public",
        "Every S3 bucket blocks public access.",
        stack_check=check_bucket_private,
    ),
    Policy(
        "no-open-ssh",
        "No security group opens SSH to 0.0.0.0/0 or ::/0.",
        resource_check=check_ssh_ingress,
    ),
    Policy(
        "no-admin-statement",
        "No inline or customer IAM policy allows every action.",
        resource_check=check_no_admin_statement,
    ),
)


def run_checks(
    resources: Sequence[Resource], config: PolicyConfig = NO_CONFIG
) -> list[Violation]:
    """Every policy over every resource; empty when the stack passes."""
    violations = []
    for policy in POLICIES:
        if policy.resource_check is not None:
            for resource_type, name, props in resources:
                for message in policy.resource_check(resource_type, props, config):
                    violations.append(Violation(policy.name, name, message))
        if policy.stack_check is not None:
            for name, message in policy.stack_check(resources, config):
                violations.append(Violation(policy.name, name, message))
    return violations
