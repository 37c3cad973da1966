"""Engine failures become typed errors whose message says what to do next."""

from __future__ import annotations

import pytest

from fmbench_orch.orchestrator.errors import ExitCode
from fmbench_orch.orchestrator.provisioners import pulumi_errors as errors

# Shaped like what `pulumi up` prints on stderr for each failure.
CAPTURED = {
    "capacity": (
        "error: 1 error occurred:\n"
        "    * creating EC2 Instance: operation error EC2: RunInstances, https "
        "response error StatusCode: 500, RequestID: 1, api error "
        "InsufficientInstanceCapacity: We currently do not have sufficient "
        "g6e.2xlarge capacity in the Availability Zone you requested (us-east-1a).",
        errors.InsufficientCapacity,
        "another region or zone",
    ),
    "quota": (
        "error: creating EC2 Instance: api error VcpuLimitExceeded: You have "
        "requested more vCPU capacity than your current vCPU limit of 0 allows",
        errors.QuotaExceeded,
        "Service Quotas",
    ),
    "unauthorized": (
        "error: creating IAM Role: api error AccessDenied: User: arn:aws:iam::1:"
        "user/x is not authorized to perform: iam:CreateRole",
        errors.Unauthorized,
        "refresh them",
    ),
    "expired": (
        "error: get credentials: ExpiredToken: The security token included in the "
        "request is expired",
        errors.Unauthorized,
        "IAM policy",
    ),
    "locked": (
        "error: the stack is currently locked by 1 lock(s). Either wait for the "
        "other process(es) to end or delete the lock file with `pulumi cancel`.",
        errors.ConcurrentUpdate,
        ".pulumi/locks/",
    ),
    "no default vpc": (
        "error: aws:ec2/getVpc:getVpc resource 'default-vpc' has a problem: "
        "reading EC2 VPCs: no matching EC2 VPC found",
        errors.NoDefaultVpc,
        "create-default-vpc",
    ),
    "conflict": (
        "error: [409] Conflict: Another update is currently in progress.",
        errors.ConcurrentUpdate,
        "wait for it",
    ),
    "pending": (
        "error: the current deployment has 2 resource(s) with pending operations:\n"
        "  * urn:pulumi:x::fmbench-orchestrator::aws:ec2/instance:Instance::h, "
        "interrupted while creating",
        errors.PendingOperations,
        "--clear-pending-creates",
    ),
    "policy": (
        "Policies:\n    ❌ fmbench-guardrails@v0.1.0\n        - [mandatory]  "
        "no-world-open-ssh  (aws:ec2/securityGroup:SecurityGroup: g)\n"
        "error: preview failed: mandatory policy violation",
        errors.PolicyViolation,
        "policy pack",
    ),
}


@pytest.mark.parametrize("case", sorted(CAPTURED))
def test_each_captured_engine_failure_gets_its_type_and_next_step(case: str):
    stderr, kind, advice = CAPTURED[case]

    error = errors.classify(stderr, phase="up", stack="demo-2612031913a7")

    assert type(error) is kind
    assert "demo-2612031913a7: up failed" in str(error)
    assert advice in str(error)
    assert error.phase == "up"


def test_capacity_error_quotes_the_line_that_names_the_zone():
    stderr, _, _ = CAPTURED["capacity"]

    error = errors.classify(stderr, phase="up", stack="s")

    assert "us-east-1a" in str(error)


def test_an_unknown_failure_is_still_an_engine_error_with_its_first_error_line():
    error = errors.classify(
        "Updating (demo)\nerror: something odd happened\nmore",
        phase="destroy",
        stack="s",
    )

    assert type(error) is errors.EngineError
    assert "something odd happened" in str(error)


def test_policy_and_missing_cli_failures_are_input_errors_not_provisioning():
    policy = errors.classify("mandatory policy violation", phase="up", stack="s")

    assert policy.exit_code == ExitCode.INVALID_INPUT
    assert errors.missing_cli("up").exit_code == ExitCode.INVALID_INPUT
    assert "get.pulumi.com" in str(errors.missing_cli("up"))
    assert errors.InsufficientCapacity("x").exit_code == ExitCode.PROVISION_FAILED
