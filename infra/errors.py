"""What can go wrong while declaring a stack, each carrying its facts and next step."""

from __future__ import annotations

from collections.abc import Sequence


class InfraError(Exception):
    """A stack that cannot be declared as the spec asks."""


class NoSubnetForInstanceType(InfraError):
    """No usable subnet lies in a zone that offers the host's instance type."""

    def __init__(
        self,
        host: str,
        instance_type: str,
        region: str,
        zones: Sequence[str],
        vpc_id: str,
        zone: str | None = None,
    ) -> None:
        self.host = host
        self.instance_type = instance_type
        self.region = region
        self.zones = tuple(zones)
        self.vpc_id = vpc_id
        if zone is not None and not self.zones:
            where = f"{instance_type} is not offered in {zone}, the host's zone"
            fix = (
                "pick another availability_zone (or none) for this host, or "
                "another instance type"
            )
        elif self.zones:
            where = (
                f"{instance_type} is offered in {', '.join(self.zones)} but no "
                f"subnet of {vpc_id} usable by the campaign lies in those zones"
            )
            fix = (
                "add a subnet in one of those zones to hosts[].network.subnet_ids, "
                "or pick another region"
            )
        else:
            where = f"{instance_type} is not offered in any zone of {region}"
            fix = "pick another region for this host, or another instance type"
        super().__init__(f"host {host}: {where} (checked {region}); {fix}")


class SpotWithCapacityReservation(InfraError):
    """EC2 cannot launch a Spot instance into a capacity reservation."""

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(
            f"host {host}: spot: true cannot be combined with a capacity "
            "reservation target; remove one of them from the campaign"
        )


class PoliciesViolated(InfraError):
    """The stack a campaign would create breaks one or more mandatory policies."""

    def __init__(self, campaign: str, violations: Sequence[object]) -> None:
        self.campaign = campaign
        self.violations = tuple(violations)
        lines = "\n".join(f"  - {violation}" for violation in self.violations)
        super().__init__(
            f"campaign {campaign} would break {len(self.violations)} policy "
            f"check(s):\n{lines}\nchange the campaign so that each check passes, "
            "then plan again"
        )


class PreviewRefused(InfraError):
    """The program, run offline in a process of its own, refused the spec.

    `kind` names the error it raised there (PoliciesViolated,
    NoSubnetForInstanceType, …); the message is that error's, unchanged.
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class StackConfigInvalid(InfraError):
    """A stack file's settings are missing or malformed."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(
            f"stack setting fmbench-orchestrator:{key} {problem}; fix it in the "
            "stack file, or recreate the file with `fmbench-orch stack init`"
        )


class StackFileExists(InfraError):
    """`stack init` would overwrite a stack file that may have resources."""

    def __init__(self, path: object) -> None:
        self.path = path
        super().__init__(
            f"{path} already exists; its run id may name live resources. Destroy "
            "that stack first (pulumi destroy), or choose another stack name"
        )


class StackFileMissing(InfraError):
    """`run --stack NAME` names a stack that has no stack file."""

    def __init__(self, stack: str, path: object) -> None:
        self.stack = stack
        self.path = path
        super().__init__(
            f"stack {stack} has no stack file at {path}; create it with "
            f"`fmbench-orch stack init <campaign> --stack {stack}` and `pulumi up` it"
        )
