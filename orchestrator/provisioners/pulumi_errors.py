"""The Pulumi engine's failures, classified in one table into typed errors.

The engine reports everything as text on stderr; callers branch on the type
of the error this module returns, never on the text. Each entry says what
happened and what the user can do next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fmbench_orch.orchestrator.errors import ExitCode, ProvisionFailed

PULUMI_INSTALL_HINT = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/install/, e.g. "
    "`curl -fsSL https://get.pulumi.com | sh`) and make sure `pulumi` is on PATH"
)


class EngineError(ProvisionFailed):
    """A failure the Pulumi engine reported; `kind` names the table entry."""

    kind = "engine"
    # The engine's whole error text, for callers that need more than the type
    # (the capacity fallbacks read which hosts were refused from it).
    output: str = ""


class ConcurrentUpdate(EngineError):
    kind = "concurrent-update"


class PendingOperations(EngineError):
    kind = "pending-operations"


class InsufficientCapacity(EngineError):
    kind = "insufficient-capacity"


class QuotaExceeded(EngineError):
    kind = "quota"


class Unauthorized(EngineError):
    kind = "unauthorized"


class NoDefaultVpc(EngineError):
    kind = "no-default-vpc"
    exit_code = ExitCode.INVALID_INPUT


class PulumiMissing(EngineError):
    kind = "pulumi-missing"
    exit_code = ExitCode.INVALID_INPUT


class PolicyViolation(EngineError):
    kind = "policy"
    exit_code = ExitCode.INVALID_INPUT


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    error: type[EngineError]
    advice: str


def _rule(pattern: str, error: type[EngineError], advice: str) -> Rule:
    return Rule(re.compile(pattern, re.IGNORECASE), error, advice)


# First match wins: the specific AWS causes before the generic engine states.
RULES = (
    _rule(
        r"InsufficientInstanceCapacity",
        InsufficientCapacity,
        "AWS has no capacity for this instance type in that zone right now; try "
        "another region or zone, a capacity reservation, or retry later",
    ),
    _rule(
        r"VcpuLimitExceeded|MaxSpotInstanceCountExceeded|InstanceLimitExceeded"
        r"|exceed(ed)? (your|the) .*quota",
        QuotaExceeded,
        "your account's EC2 quota for this instance family is too low; request an "
        "increase in the Service Quotas console (EC2 → Running On-Demand … "
        "instances) or use fewer/smaller hosts",
    ),
    _rule(
        r"UnauthorizedOperation|AccessDenied|not authorized to perform"
        r"|InvalidClientTokenId|ExpiredToken|no valid credential",
        Unauthorized,
        "the AWS credentials lack a permission or have expired; refresh them "
        "(aws sso login / aws configure) and check the IAM policy named above",
    ),
    _rule(
        r"no matching EC2 VPC found",
        NoDefaultVpc,
        "the host's region has no default VPC (many accounts delete it); give "
        "the host network.vpc_id and network.subnet_ids, or create one with "
        "`aws ec2 create-default-vpc --region <region>`",
    ),
    _rule(
        r"conflict: Another update is currently in progress|\[409\] Conflict"
        r"|the stack is currently locked",
        ConcurrentUpdate,
        "another update holds this stack's lock; wait for it, or if it died: "
        "with Pulumi Cloud run `pulumi cancel` on the stack, with a file or S3 "
        "backend delete the stack's file under .pulumi/locks/ in the backend",
    ),
    _rule(
        r"pending operations|interrupted while creating",
        PendingOperations,
        "an earlier update was interrupted; `fmbench-orch down RUN_DIR` refreshes "
        "with --clear-pending-creates and destroys what exists",
    ),
    _rule(
        r"mandatory policy violation|policy violation",
        PolicyViolation,
        "the policy pack refused the stack; fix the campaign as the policy says "
        "(see `fmbench-orch plan`)",
    ),
)


def classify(stderr: str, *, phase: str, stack: str) -> EngineError:
    """The typed error for an engine failure, with the next step in its message."""
    for rule in RULES:
        if rule.pattern.search(stderr):
            detail = _first_error_line(stderr, rule.pattern)
            error = rule.error(
                f"{stack}: {phase} failed ({rule.error.kind}): {detail}\n"
                f"Next: {rule.advice}",
                phase=phase,
            )
            break
    else:
        error = EngineError(
            f"{stack}: {phase} failed: {_first_error_line(stderr, None)}\n"
            "Next: read the engine output above; nothing created is left running "
            "unless the message says teardown failed",
            phase=phase,
        )
    error.output = stderr
    return error


def missing_cli(phase: str) -> PulumiMissing:
    return PulumiMissing(
        f"the aws provider drives Pulumi, but no `pulumi` command was found; "
        f"{PULUMI_INSTALL_HINT}",
        phase=phase,
    )


def _first_error_line(stderr: str, pattern: re.Pattern[str] | None) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if pattern is not None:
        for line in lines:
            if pattern.search(line):
                return line[:300]
    for line in lines:
        if "error" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else "(no output)"
