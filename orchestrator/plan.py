"""`plan`: what a campaign will create and what it can cost, before anything starts."""

from __future__ import annotations

import getpass
import ipaddress
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.compile import StackValues, compile_campaign, worst_case_hours
from fmbench_orch.models.spec import StackSpec

# Time a host spends before its first benchmark: boot, cloud-init, installing
# FMBench (~240 packages) and pulling a model. Generous on purpose: the plan's
# worst case should never be below what a user pays.
BOOTSTRAP_ALLOWANCE = timedelta(minutes=30)
PLAN_RUN_ID = "plan"


# Where a stack's SSH ingress comes from when the campaign names none.
OPERATOR_ADDRESS = (
    "this machine's public address /32, looked up when the stack is created "
    "(FMBENCH_OPERATOR_CIDR sets it)"
)


def plan_spec(campaign: CampaignConfig) -> StackSpec:
    """The spec a stack created now would get; the run id is a placeholder.

    The operator's address is the one FMBENCH_OPERATOR_CIDR gives, if it
    does: the plan never looks it up (it stays offline).
    """
    given = os.environ.get("FMBENCH_OPERATOR_CIDR")
    values = StackValues(
        run_id=PLAN_RUN_ID,
        created_at=datetime.now(UTC),
        operator=getpass.getuser(),
        operator_cidr=str(ipaddress.ip_network(given, strict=False)) if given else None,
    )
    return compile_campaign(campaign, values)


def ssh_ingress(spec: StackSpec) -> list[str]:
    """Who may reach port 22 of the stack's hosts, as the plan can tell."""
    if spec.provider != "aws":
        return []
    cidrs = sorted({c for host in spec.hosts for c in host.network.ssh_ingress_cidrs})
    if any(not host.network.ssh_ingress_cidrs for host in spec.hosts):
        cidrs.append(OPERATOR_ADDRESS)
    return cidrs


def plan_summary(spec: StackSpec) -> dict[str, Any]:
    """Resources, cost, budget and policy verdicts of a compiled campaign.

    For `aws` the resources are what the real Pulumi program declares, run
    offline under the SDK's mocks, and the policy pack's checks run over them.
    """
    hours = worst_case_hours(spec, BOOTSTRAP_ALLOWANCE)
    declared, violations = resources(spec), []
    if spec.provider == "aws":
        from fmbench_orch.infra.preview import check_policies

        violations = [str(v) for v in check_policies(declared, spec)]
    usd_per_hour = round(spec.usd_per_hour, 4)
    over = []
    if spec.max_usd_per_hour is not None and usd_per_hour > spec.max_usd_per_hour:
        over.append(
            f"the hosts cost {usd_per_hour:.2f} USD/h, over the budget's "
            f"max_usd_per_hour of {spec.max_usd_per_hour:.2f}; remove hosts, pick "
            "smaller types or raise budget.max_usd_per_hour"
        )
    return {
        "campaign": spec.campaign,
        "provider": spec.provider,
        "region": spec.region,
        "resources": declared,
        "policy_violations": violations,
        "hosts": [
            {
                "name": host.name,
                "instance_type": host.instance_type,
                "region": host.region,
                "image": host.image.ami_id or host.image.alias,
                "benchmarks": [benchmark.name for benchmark in host.benchmarks],
                "usd_per_hour": host.price_per_hour,
                "fallbacks": [
                    f"{place.describe()} ({place.price_per_hour:.4f} USD/h)"
                    for place in host.fallbacks
                ],
            }
            for host in spec.hosts
        ],
        "usd_per_hour": usd_per_hour,
        "worst_case_hours": round(hours, 2),
        "worst_case_usd": round(usd_per_hour * hours, 2),
        "ttl_hours": round(
            (spec.expires_at - spec.created_at).total_seconds() / 3600, 2
        ),
        "ssh_ingress": ssh_ingress(spec),
        "budget": {
            "max_usd_per_hour": spec.max_usd_per_hour,
            "max_hours": spec.max_hours,
            "within": not over,
            "problems": over,
        },
    }


def resources(spec: StackSpec) -> list[dict[str, Any]]:
    """What `up` will create: `{type, name, inputs}` per resource, in order."""
    if spec.provider == "local":
        return [{"type": "local:ssh-host", "name": host.name} for host in spec.hosts]
    if spec.provider == "static":
        return []
    from fmbench_orch.infra.preview import preview_resources

    return preview_resources(spec)
