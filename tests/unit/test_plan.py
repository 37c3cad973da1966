"""`plan`: what a campaign creates and what it can cost, before anything starts."""

from pathlib import Path

import pytest

from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.catalog import get_instance_type
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.orchestrator.plan import (
    BOOTSTRAP_ALLOWANCE,
    OPERATOR_ADDRESS,
    PLAN_RUN_ID,
    plan_spec,
    plan_summary,
    resources,
)

EXAMPLES = Path(__file__).parents[2] / "examples"


def campaign(
    hosts: list[str], timeout_seconds: int = 3600, **fields: object
) -> CampaignConfig:
    return CampaignConfig.model_validate(
        {
            "name": "plan-unit",
            "provider": "aws",
            "hosts": [
                {
                    "instance_type": instance_type,
                    "benchmarks": [
                        {
                            "driver": "command",
                            "run": "true",
                            "timeout_seconds": timeout_seconds,
                        }
                    ],
                }
                for instance_type in hosts
            ],
            **fields,
        }
    )


def price(instance_type: str, region: str = "us-east-1") -> float:
    return get_instance_type(instance_type).price_per_hour(region)


def test_the_plan_lists_every_host_with_its_price_and_the_total() -> None:
    summary = plan_summary(plan_spec(load_campaign(EXAMPLES / "ec2-llama3-8b-g6e.yml")))

    assert [(h["name"], h["usd_per_hour"]) for h in summary["hosts"]] == [
        ("g6e-2xlarge", price("g6e.2xlarge")),
        ("g6e-4xlarge", price("g6e.4xlarge")),
    ]
    assert summary["usd_per_hour"] == round(
        price("g6e.2xlarge") + price("g6e.4xlarge"), 4
    )
    assert summary["budget"]["within"] is True


def test_count_hosts_are_priced_one_by_one() -> None:
    loaded = CampaignConfig.model_validate(
        {
            "name": "plan-count",
            "hosts": [
                {
                    "instance_type": "g5.xlarge",
                    "count": 3,
                    "benchmarks": [{"driver": "command", "run": "true"}],
                }
            ],
        }
    )

    summary = plan_summary(plan_spec(loaded))

    assert len(summary["hosts"]) == 3
    assert summary["usd_per_hour"] == pytest.approx(3 * price("g5.xlarge"))


def test_the_worst_case_is_the_slowest_host_running_to_every_timeout() -> None:
    summary = plan_summary(plan_spec(campaign(["g6e.2xlarge"], 3600, ttl="6h")))

    hours = 1 + BOOTSTRAP_ALLOWANCE.total_seconds() / 3600
    assert summary["worst_case_hours"] == pytest.approx(hours)
    assert summary["worst_case_usd"] == pytest.approx(
        round(price("g6e.2xlarge") * hours, 2)
    )


def test_the_worst_case_is_capped_by_the_ttl() -> None:
    loaded = campaign(["g6e.2xlarge", "g6e.4xlarge"], 5 * 3600, ttl="2h")

    summary = plan_summary(plan_spec(loaded))

    assert summary["ttl_hours"] == 2
    assert summary["worst_case_hours"] == 2
    assert summary["worst_case_usd"] == pytest.approx(
        round(2 * (price("g6e.2xlarge") + price("g6e.4xlarge")), 2)
    )


def test_a_campaign_over_its_hourly_budget_is_detected_with_the_fix() -> None:
    loaded = campaign(["g6e.2xlarge", "g6e.4xlarge"], budget={"max_usd_per_hour": 3})

    budget = plan_summary(plan_spec(loaded))["budget"]

    assert budget["within"] is False
    [problem] = budget["problems"]
    assert "over the budget's max_usd_per_hour of 3.00" in problem
    assert "raise budget.max_usd_per_hour" in problem


def test_a_campaign_without_a_budget_is_never_over_it() -> None:
    budget = plan_summary(plan_spec(campaign(["p5.48xlarge"])))["budget"]

    assert (budget["max_usd_per_hour"], budget["within"]) == (None, True)


def test_an_aws_plan_lists_what_the_real_program_declares_in_order() -> None:
    loaded = campaign(["g6e.2xlarge", "g5.xlarge"])

    spec = plan_spec(loaded)

    stack = f"plan-unit-{PLAN_RUN_ID}"
    declared = [
        (r["type"], r["name"]) for r in resources(spec) if r["type"].startswith("aws:")
    ]
    assert declared[0] == ("aws:s3/bucket:Bucket", f"fmbench-{stack}")
    assert ("aws:iam/role:Role", f"fmbench-{stack}") in declared
    assert ("aws:iam/instanceProfile:InstanceProfile", f"fmbench-{stack}") in declared
    assert ("aws:ec2/keyPair:KeyPair", f"{stack}-us-east-1") in declared
    assert ("aws:ec2/securityGroup:SecurityGroup", f"{stack}-us-east-1") in declared
    assert declared[-2:] == [
        ("aws:ec2/instance:Instance", "g6e-2xlarge"),
        ("aws:ec2/instance:Instance", "g5-xlarge"),
    ]
    instance = next(
        r
        for r in resources(spec)
        if (r["type"], r["name"]) == ("aws:ec2/instance:Instance", "g6e-2xlarge")
    )
    assert instance["inputs"]["metadataOptions"]["httpTokens"] == "required"
    assert instance["inputs"]["rootBlockDevice"]["encrypted"] is True


def test_a_security_group_is_planned_per_region() -> None:
    loaded = CampaignConfig.model_validate(
        {
            "name": "two-regions",
            "provider": "aws",
            "hosts": [
                {
                    "name": f"gpu-{region}",
                    "instance_type": "g5.xlarge",
                    "region": region,
                    "benchmarks": [{"driver": "command", "run": "true"}],
                }
                for region in ("us-west-2", "us-east-1")
            ],
        }
    )

    groups = [r for r in resources(plan_spec(loaded)) if "SecurityGroup" in r["type"]]

    assert [g["name"] for g in groups] == [
        "two-regions-plan-us-east-1",
        "two-regions-plan-us-west-2",
    ]


def test_a_local_plan_creates_no_cloud_resources() -> None:
    quickstart = plan_summary(plan_spec(load_campaign(EXAMPLES / "quickstart.yml")))

    assert {r["type"] for r in quickstart["resources"]} == {"local:ssh-host"}
    assert len(quickstart["resources"]) == 3


def test_the_plan_says_who_may_reach_ssh_and_uses_a_given_operator_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FMBENCH_OPERATOR_CIDR", raising=False)
    unknown = plan_summary(plan_spec(campaign(["g6e.2xlarge"])))
    monkeypatch.setenv("FMBENCH_OPERATOR_CIDR", "198.51.100.4")
    given = plan_summary(plan_spec(campaign(["g6e.2xlarge"])))

    assert unknown["ssh_ingress"] == [OPERATOR_ADDRESS]
    assert given["ssh_ingress"] == ["198.51.100.4/32"]
    [group] = [r for r in given["resources"] if r["type"].endswith("SecurityGroup")]
    assert [rule["cidrBlocks"] for rule in group["inputs"]["ingress"]] == [
        ["198.51.100.4/32"]
    ]


def test_a_local_plan_has_no_ssh_ingress_to_show() -> None:
    local = campaign(["g6e.2xlarge"]).model_copy(update={"provider": "local"})

    assert plan_summary(plan_spec(local))["ssh_ingress"] == []
