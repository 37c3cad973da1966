"""Capacity and quota fallbacks: a refused host moves on, the rest stay put.

The engine here is the real Pulumi program under the offline mocks (so every
placement tried must compile into a valid stack) followed by EC2's refusal,
printed the way `pulumi up` prints it, for the placements a test makes
unavailable. The Pulumi CLI is not installed here; the live suite runs the
real engine.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fmbench_orch.infra.mocks import OfflineMocks, _subnets
from fmbench_orch.infra.preview import preview_stack
from fmbench_orch.models.compile import StackValues, compile_campaign
from fmbench_orch.models.errors import ConfigError
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.errors import ExitCode, exit_code_for
from fmbench_orch.orchestrator.provisioners import pulumi_errors
from fmbench_orch.orchestrator.provisioners.fallbacks import (
    CapacityExhausted,
    launch_with_fallbacks,
    refused_hosts,
)

CAMPAIGN = """\
name: capacity
provider: aws
budget: {{max_usd_per_hour: {budget}}}
hosts:
  - name: big
    instance_type: g6e.xlarge
    availability_zone: us-east-1c
    fallbacks:
      - availability_zone: us-east-1b
      - instance_type: g6e.2xlarge
      - region: us-west-2
    benchmarks: [{{driver: command, run: "true"}}]
  - name: small
    instance_type: g5.xlarge
    benchmarks: [{{driver: command, run: "true"}}]
"""

VALUES = StackValues(
    run_id="cap0fb01",
    created_at=datetime(2026, 12, 3, 21, 0, tzinfo=UTC),
    operator="tester",
    operator_cidr="203.0.113.7/32",
)


def spec_of(tmp_path: Path, budget: float = 100.0, text: str = CAMPAIGN) -> StackSpec:
    path = tmp_path / "capacity.yml"
    path.write_text(text.format(budget=budget))
    return compile_campaign(load_campaign(path), VALUES)


def refusal(host: str, instance_type: str, zone: str, code: str) -> str:
    """What `pulumi up` prints when EC2 refuses one instance's launch."""
    message = {
        "InsufficientInstanceCapacity": (
            f"We currently do not have sufficient {instance_type} capacity in the "
            f"Availability Zone you requested ({zone}). Our system will be working "
            "on provisioning additional capacity."
        ),
        "VcpuLimitExceeded": (
            "You have requested more vCPU capacity than your current vCPU limit "
            "of 0 allows for the instance bucket that the specified instance "
            "type belongs to."
        ),
    }[code]
    return (
        " code: 255\n stdout: Updating (capacity-cap0fb01):\n"
        "Diagnostics:\n"
        f"  aws:ec2:Instance ({host}):\n"
        "    error: 1 error occurred:\n"
        "    \t* creating EC2 Instance: operation error EC2: RunInstances, https "
        f"response error StatusCode: 500, RequestID: 7c1e, api error {code}: "
        f"{message}\n\n"
        "  pulumi:pulumi:Stack (fmbench-orchestrator-capacity-cap0fb01):\n"
        "    error: update failed\n\n"
        " stderr: \n"
    )


class Engine:
    """`up` as the provisioner calls it: the program, then EC2's verdict."""

    def __init__(self, refuse: dict[tuple[str, str], str]) -> None:
        # (instance type, zone or region) → the EC2 error code it gets
        self.refuse = refuse
        self.launched: list[list[tuple[str, str, str]]] = []

    def __call__(self, spec: StackSpec) -> dict:
        mocks = OfflineMocks()
        preview = preview_stack(spec, mocks=mocks)
        instances = [
            r for r in preview.resources if r["type"] == "aws:ec2/instance:Instance"
        ]
        attempt = []
        for instance in instances:
            host = spec.host(instance["name"])
            zone = host.availability_zone or host.region
            attempt.append((host.name, instance["inputs"]["instanceType"], zone))
            assert instance["inputs"]["region"] == host.region
            if host.availability_zone:
                [expected] = _subnets(
                    {"filters": [{"name": "availability-zone", "values": [zone]}]},
                    host.region,
                )
                assert instance["inputs"]["subnetId"] == expected
        self.launched.append(attempt)
        for name, instance_type, zone in attempt:
            code = self.refuse.get((instance_type, zone))
            if code:
                raise pulumi_errors.classify(
                    refusal(name, instance_type, zone, code),
                    phase="up",
                    stack=spec.stack_name,
                )
        return preview.outputs


def test_a_capacity_error_on_the_first_two_placements_lands_on_the_third(
    tmp_path, caplog
):
    spec = spec_of(tmp_path)
    engine = Engine(
        {
            ("g6e.xlarge", "us-east-1c"): "InsufficientInstanceCapacity",
            ("g6e.xlarge", "us-east-1b"): "InsufficientInstanceCapacity",
        }
    )
    with caplog.at_level(logging.WARNING):
        outputs, placed = launch_with_fallbacks(spec, engine)

    assert [attempt[0] for attempt in engine.launched] == [
        ("big", "g6e.xlarge", "us-east-1c"),
        ("big", "g6e.xlarge", "us-east-1b"),
        ("big", "g6e.2xlarge", "us-east-1"),
    ]
    # The host that was never refused is declared the same way every time.
    assert {attempt[1] for attempt in engine.launched} == {
        ("small", "g5.xlarge", "us-east-1")
    }
    big = placed.host("big")
    assert (big.instance_type, big.region, big.availability_zone) == (
        "g6e.2xlarge",
        "us-east-1",
        None,
    )
    assert big.price_per_hour > spec.host("big").price_per_hour
    assert [f.region for f in big.fallbacks] == ["us-west-2"]
    assert set(outputs["hosts"]) == {"big", "small"}
    moves = [r.getMessage() for r in caplog.records if "EC2 refused" in r.message]
    assert moves == [
        "host big: EC2 refused g6e.xlarge in us-east-1c (no capacity); trying "
        "g6e.xlarge in us-east-1b (2 fallback(s) left after it)",
        "host big: EC2 refused g6e.xlarge in us-east-1b (no capacity); trying "
        "g6e.2xlarge in us-east-1 (1 fallback(s) left after it)",
    ]


def test_a_quota_error_moves_the_host_to_another_region(tmp_path):
    spec = spec_of(tmp_path)
    engine = Engine(
        {
            ("g6e.xlarge", "us-east-1c"): "VcpuLimitExceeded",
            ("g6e.xlarge", "us-east-1b"): "VcpuLimitExceeded",
            ("g6e.2xlarge", "us-east-1"): "VcpuLimitExceeded",
        }
    )
    _, placed = launch_with_fallbacks(spec, engine)

    big = placed.host("big")
    assert (big.instance_type, big.region) == ("g6e.xlarge", "us-west-2")
    # The program gave the new region its own key pair and network.
    last = engine.launched[-1]
    assert ("big", "g6e.xlarge", "us-west-2") in last
    assert "us-west-2" in placed.regions and "us-west-2" in spec.regions


def test_when_every_placement_is_refused_the_error_lists_what_was_tried(tmp_path):
    spec = spec_of(tmp_path)
    everything = {
        ("g6e.xlarge", "us-east-1c"): "InsufficientInstanceCapacity",
        ("g6e.xlarge", "us-east-1b"): "InsufficientInstanceCapacity",
        ("g6e.2xlarge", "us-east-1"): "VcpuLimitExceeded",
        ("g6e.xlarge", "us-west-2"): "InsufficientInstanceCapacity",
    }
    with pytest.raises(CapacityExhausted) as raised:
        launch_with_fallbacks(spec, Engine(everything))

    message = str(raised.value)
    assert (
        "host big could not be launched anywhere it may go; tried "
        "g6e.xlarge in us-east-1c (no capacity); g6e.xlarge in us-east-1b "
        "(no capacity); g6e.2xlarge in us-east-1 (quota); g6e.xlarge in "
        "us-west-2 (no capacity)"
    ) in message
    assert "Next:" in message
    assert exit_code_for(raised.value) == ExitCode.PROVISION_FAILED


def test_a_fallback_over_the_budget_is_skipped_and_said_so(tmp_path):
    # g6e.xlarge + g5.xlarge fit 3.0 USD/h; g6e.2xlarge + g5.xlarge do not.
    spec = spec_of(tmp_path, budget=3.0)
    engine = Engine(
        {
            ("g6e.xlarge", "us-east-1c"): "InsufficientInstanceCapacity",
            ("g6e.xlarge", "us-east-1b"): "InsufficientInstanceCapacity",
            ("g6e.xlarge", "us-west-2"): "InsufficientInstanceCapacity",
        }
    )
    with pytest.raises(CapacityExhausted) as raised:
        launch_with_fallbacks(spec, engine)

    assert "g6e.2xlarge in us-east-1 (skipped: " in str(raised.value)
    assert "over the budget of 3.00" in str(raised.value)
    assert all(("big", "g6e.2xlarge", "us-east-1") not in a for a in engine.launched)


def test_other_engine_errors_are_not_retried(tmp_path):
    spec = spec_of(tmp_path)
    calls = []

    def up(placed: StackSpec) -> None:
        calls.append(placed)
        raise pulumi_errors.classify(
            "error: creating IAM Role: api error AccessDenied: not authorized to "
            "perform: iam:CreateRole",
            phase="up",
            stack=placed.stack_name,
        )

    with pytest.raises(pulumi_errors.Unauthorized):
        launch_with_fallbacks(spec, up)
    assert len(calls) == 1


def test_refusals_are_read_from_urns_or_else_from_the_instance_type(tmp_path):
    spec = spec_of(tmp_path)
    by_urn = (
        "error: urn:pulumi:capacity-cap0fb01::fmbench-orchestrator::"
        "fmbench:index:BenchmarkHost$aws:ec2/instance:Instance::small: "
        "InsufficientInstanceCapacity: We currently do not have sufficient "
        "g5.xlarge capacity in the Availability Zone you requested (us-east-1a)."
    )
    by_type = (
        "error: InsufficientInstanceCapacity: We currently do not have "
        "sufficient g6e.xlarge capacity in the Availability Zone you requested."
    )
    assert [h.name for h in refused_hosts(by_urn, spec)] == ["small"]
    assert [h.name for h in refused_hosts(by_type, spec)] == ["big"]
    assert refused_hosts("error: VcpuLimitExceeded", spec) == []


def test_the_spec_as_launched_takes_the_fallback_the_host_got(tmp_path):
    spec = spec_of(tmp_path)
    placed = spec.placed_as(
        {"big": ("g6e.xlarge", "us-west-2"), "small": ("g5.xlarge", "us-east-1")}
    )
    assert placed.host("big").region == "us-west-2"
    assert placed.host("big").fallbacks == ()
    assert placed.host("small") == spec.host("small")
    assert spec.placed_as({"big": ("g6e.xlarge", "us-east-1")}) == spec


@pytest.mark.parametrize(
    ("fallback", "where", "says"),
    [
        ("{availability_zone: us-west-2a}", "fallbacks[0].availability_zone", "zone"),
        ("{instance_type: g9.nothing}", "fallbacks[0].instance_type", "g9.nothing"),
        ("{}", "fallbacks[0]", "at least one of"),
        ("{region: mars-1}", "fallbacks[0].region", "not an AWS region"),
    ],
)
def test_bad_fallbacks_name_their_field(tmp_path, fallback, where, says):
    text = (
        "name: capacity\nprovider: aws\nhosts:\n  - instance_type: g6e.xlarge\n"
        f"    fallbacks: [{fallback}]\n"
        '    benchmarks: [{driver: command, run: "true"}]\n'
    )
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_campaign(path)
    assert f"hosts[0].{where}" in str(raised.value)
    assert says in str(raised.value)


def test_a_fixed_ami_cannot_follow_a_host_to_another_region(tmp_path):
    path = tmp_path / "ami.yml"
    path.write_text(
        "name: capacity\nprovider: aws\nhosts:\n  - instance_type: g6e.xlarge\n"
        "    ami: ami-0123456789abcdef0\n    ssh_user: ubuntu\n"
        "    fallbacks: [{region: us-west-2}]\n"
        '    benchmarks: [{driver: command, run: "true"}]\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_campaign(path)
    assert "hosts[0].fallbacks[0]" in str(raised.value)
    assert "needs an alias" in str(raised.value)
