"""Capacity and quota fallbacks: a host EC2 refuses moves to its next placement.

`pulumi up` fails when EC2 answers a launch with InsufficientInstanceCapacity
or a quota error. The hosts it names (the engine prints the failed resource,
which is named after the host) move to their next fallback — another zone,
instance type or region — and `up` runs again on the changed spec: the hosts
already running stay, only the refused ones are created anew. A fallback that
would take the campaign over its budget is skipped. When a host has nothing
left to try, the error lists every placement tried and why each failed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TypeVar

from fmbench_orch.models.spec import HostSpec, StackSpec
from fmbench_orch.orchestrator.provisioners.pulumi_errors import (
    RULES,
    EngineError,
    InsufficientCapacity,
    QuotaExceeded,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# A resource's diagnostics start with `<type token> (<name>):`; the instance
# of a host is named after the host (infra/host.py).
_DIAGNOSTIC_HEAD = re.compile(
    r"^\s*aws:ec2(?:/instance)?:Instance \((?P<name>[^)]+)\):"
)
_INSTANCE_URN = re.compile(r"aws:ec2/instance:Instance::(?P<name>[A-Za-z0-9_.-]+)")
# EC2's own message: "We currently do not have sufficient g6e.xlarge capacity…".
_SHORT_TYPE = re.compile(r"sufficient (?P<type>[a-z0-9-]+\.[a-z0-9]+) capacity")


_REFUSALS = [
    rule for rule in RULES if rule.error in (InsufficientCapacity, QuotaExceeded)
]


class CapacityExhausted(EngineError):
    """Every placement of a host was refused (capacity, quota or budget)."""

    kind = "capacity-exhausted"


def launch_with_fallbacks(
    spec: StackSpec, up: Callable[[StackSpec], T]
) -> tuple[T, StackSpec]:
    """`up(spec)`, moving refused hosts to their fallbacks until it succeeds.

    Returns what `up` returned and the spec it succeeded with. Raises
    CapacityExhausted when a refused host has no placement left, and the
    engine's own error when it names no host that could move.
    """
    tried: dict[str, list[str]] = {}
    while True:
        try:
            return up(spec), spec
        except (InsufficientCapacity, QuotaExceeded) as error:
            refused = refused_hosts(error.output, spec)
            if not refused:
                raise
            reason = (
                "no capacity" if isinstance(error, InsufficientCapacity) else "quota"
            )
            for host in refused:
                tried.setdefault(host.name, []).append(
                    f"{host.placement.describe()} ({reason})"
                )
                spec = _fall_back(spec, host, tried[host.name], error)


def refused_hosts(output: str, spec: StackSpec) -> list[HostSpec]:
    """The hosts whose launch the engine output says EC2 refused, in spec order."""
    names = set(_named_in_refusals(output))
    if not names:
        # No resource named: every host of the instance type EC2 named.
        types = {m.group("type") for m in _SHORT_TYPE.finditer(output)}
        names = {host.name for host in spec.hosts if host.instance_type in types}
    return [host for host in spec.hosts if host.name in names]


def _named_in_refusals(output: str) -> list[str]:
    """Names of instances whose diagnostics (or URN line) carry a refusal."""
    names: list[str] = []
    current: str | None = None
    for line in output.splitlines():
        head = _DIAGNOSTIC_HEAD.match(line)
        if head:
            current = head.group("name")
            continue
        if not _is_refusal(line):
            continue
        urn = _INSTANCE_URN.search(line)
        if urn:
            names.append(urn.group("name"))
        elif current is not None:
            names.append(current)
    return names


def _is_refusal(line: str) -> bool:
    return any(rule.pattern.search(line) for rule in _REFUSALS)


def _fall_back(
    spec: StackSpec, host: HostSpec, tried: list[str], error: EngineError
) -> StackSpec:
    """The spec with `host` at its next fallback the budget allows."""
    for placement in host.fallbacks:
        moved = spec.with_host(host.placed(placement))
        over = _over_budget(moved)
        if over:
            tried.append(f"{placement.describe()} (skipped: {over})")
            continue
        log.warning(
            "host %s: EC2 refused %s; trying %s (%d fallback(s) left after it)",
            host.name,
            tried[-1],
            placement.describe(),
            len(host.placed(placement).fallbacks),
        )
        return moved
    raise CapacityExhausted(
        f"{spec.stack_name}: host {host.name} could not be launched anywhere it "
        f"may go; tried {'; '.join(tried)}\n"
        "Next: add fallbacks (other zones, instance types or regions) to the host, "
        "use a capacity reservation, raise the quota in the Service Quotas "
        "console, or retry later",
        phase="up",
        cause=error,
    )


def _over_budget(spec: StackSpec) -> str | None:
    limit = spec.max_usd_per_hour
    if limit is not None and spec.usd_per_hour > limit:
        return f"{spec.usd_per_hour:.2f} USD/h is over the budget of {limit:.2f}"
    return None
