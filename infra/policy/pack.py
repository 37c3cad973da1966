"""The policy pack's policies as pulumi-policy objects: adapters over `checks`.

Built here rather than in `__main__` because constructing `PolicyPack`
starts the analyzer server and blocks; tests call these policies' own
`validate` with pulumi-policy's argument types. Every policy is mandatory.
Configuration (per policy, as pulumi-policy expects): `maxUsdPerHour` for
stack-within-budget, `allowedInstanceTypes` for instance-type-in-catalog.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from fmbench_orch.infra.policy.checks import POLICIES, Policy, PolicyConfig

PACK_NAME = "fmbench-orchestrator"

CONFIG_SCHEMAS = {
    "instance-type-in-catalog": PolicyConfigSchema(
        properties={
            "allowedInstanceTypes": {"type": "array", "items": {"type": "string"}}
        }
    ),
    "stack-within-budget": PolicyConfigSchema(
        properties={"maxUsdPerHour": {"type": "number", "exclusiveMinimum": 0}}
    ),
}


def resource_policy(policy: Policy) -> ResourceValidationPolicy:
    check = policy.resource_check
    assert check is not None

    def validate(args, report_violation) -> None:
        config = PolicyConfig.from_pack_config(args.get_config())
        for message in check(args.resource_type, args.props, config):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=policy.name,
        description=policy.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=CONFIG_SCHEMAS.get(policy.name),
    )


def stack_policy(policy: Policy) -> StackValidationPolicy:
    check = policy.stack_check
    assert check is not None

    def validate(args, report_violation) -> None:
        config = PolicyConfig.from_pack_config(args.get_config())
        urns = {resource.name: resource.urn for resource in args.resources}
        resources = [(r.resource_type, r.name, r.props) for r in args.resources]
        for name, message in check(resources, config):
            report_violation(message, urns.get(name))

    return StackValidationPolicy(
        name=policy.name,
        description=policy.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=CONFIG_SCHEMAS.get(policy.name),
    )


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    """Every check of `checks.POLICIES`, in order, as the pack registers them."""
    return [
        resource_policy(policy) if policy.resource_check else stack_policy(policy)
        for policy in POLICIES
    ]
