"""The hosts' IAM role and instance profile: the results bucket, and what is asked.

FMBench in local mode writes under `--write-bucket` with its own key layout
(data, models, metrics …), not under a prefix we choose, so the grant is
scoped to the bucket rather than to `RoleSpec.bucket_prefix`. That is still
least privilege: the bucket is created for this run alone and holds nothing
else. The hosts may also read the FMBench configs the campaign names on S3.
Beyond that only what the campaign's `permissions:` asks for explicitly:
managed policies attached by ARN, one inline policy of its statements, and a
SageMaker execution role the hosts may pass to SageMaker and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from fmbench_orch.models.permissions import iam_statements
from fmbench_orch.models.spec import ExecutionRoleSpec, RoleSpec

POLICY_VERSION = "2012-10-17"
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject")
BUCKET_ACTIONS = ("s3:ListBucket",)
INPUT_ACTIONS = ("s3:GetObject",)
EC2_SERVICE = "ec2.amazonaws.com"


def service_trust_policy(service: str) -> dict[str, Any]:
    """Only `service` may assume the role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def ec2_trust_policy() -> dict[str, Any]:
    """Only EC2 (the hosts' instance profile) may assume the role."""
    return service_trust_policy(EC2_SERVICE)


def results_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """Read, write and list the run's bucket; nothing outside it."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ListResultsBucket",
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": bucket_arn,
            },
            {
                "Sid": "ReadWriteResults",
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": f"{bucket_arn}/*",
            },
        ],
    }


def fmbench_inputs_policy(object_arns: tuple[str, ...]) -> dict[str, Any]:
    """Read the S3 objects FMBench needs as inputs, and no other."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ReadFmbenchInputs",
                "Effect": "Allow",
                "Action": list(INPUT_ACTIONS),
                "Resource": list(object_arns),
            }
        ],
    }


def campaign_policy(spec: RoleSpec) -> dict[str, Any]:
    """The statements the campaign's `permissions:` added, as written."""
    return {"Version": POLICY_VERSION, "Statement": iam_statements(spec.statements)}


def pass_role_policy(role_arn: str, service: str) -> dict[str, Any]:
    """Pass exactly one role, and only to `service`."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "PassExecutionRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": role_arn,
                "Condition": {"StringEquals": {"iam:PassedToService": service}},
            }
        ],
    }


class HostRole(pulumi.ComponentResource):
    """An EC2 role with the results-bucket policy, wrapped in an instance profile.

    With an execution role in the spec, also that role (`execution_role_arn`;
    None without one) and the hosts' right to pass it.
    """

    profile_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str] | None

    def __init__(
        self,
        spec: RoleSpec,
        bucket_arn: pulumi.Input[str],
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fmbench:index:HostRole", spec.name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        named_tags = {**tags, "Name": spec.name}

        role = aws.iam.Role(
            spec.name,
            name=spec.name,
            description=_host_role_description(spec),
            assume_role_policy=json.dumps(ec2_trust_policy()),
            tags=named_tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{spec.name}-results-bucket",
            role=role.name,
            policy=pulumi.Output.from_input(bucket_arn).apply(
                lambda arn: json.dumps(results_bucket_policy(arn))
            ),
            opts=child,
        )
        if spec.input_object_arns:
            aws.iam.RolePolicy(
                f"{spec.name}-fmbench-inputs",
                role=role.name,
                policy=json.dumps(fmbench_inputs_policy(spec.input_object_arns)),
                opts=child,
            )
        if spec.statements:
            # A plain string, not an Output: the policy pack reads it at preview.
            aws.iam.RolePolicy(
                f"{spec.name}-campaign",
                role=role.name,
                policy=json.dumps(campaign_policy(spec)),
                opts=child,
            )
        _attach(spec.name, role, spec.managed_policy_arns, child)
        self.execution_role_arn = None
        if spec.execution_role is not None:
            self.execution_role_arn = _execution_role(
                spec.name, spec.execution_role, role, tags, child
            )
        profile = aws.iam.InstanceProfile(
            spec.name,
            name=spec.name,
            role=role.name,
            tags=named_tags,
            opts=child,
        )

        self.profile_name = profile.name
        self.role_arn = role.arn
        self.register_outputs(
            {
                "profile_name": self.profile_name,
                "role_arn": self.role_arn,
                "execution_role_arn": self.execution_role_arn,
            }
        )


def _execution_role(
    host_role_name: str,
    spec: ExecutionRoleSpec,
    host_role: aws.iam.Role,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> pulumi.Output[str]:
    """The role `spec.service` assumes, and the hosts' right to pass it there."""
    execution_role = aws.iam.Role(
        spec.name,
        name=spec.name,
        description="fmbench-orchestrator: what the SageMaker endpoints FMBench "
        "deploys run as",
        assume_role_policy=json.dumps(service_trust_policy(spec.service)),
        tags={**tags, "Name": spec.name},
        opts=opts,
    )
    _attach(spec.name, execution_role, spec.managed_policy_arns, opts)
    aws.iam.RolePolicy(
        f"{host_role_name}-pass-execution-role",
        role=host_role.name,
        policy=execution_role.arn.apply(
            lambda arn: json.dumps(pass_role_policy(arn, spec.service))
        ),
        opts=opts,
    )
    return execution_role.arn


def _host_role_description(spec: RoleSpec) -> str:
    granted = (
        spec.input_object_arns
        or spec.statements
        or spec.managed_policy_arns
        or spec.execution_role
    )
    if granted:
        return "fmbench-orchestrator benchmark hosts: results bucket and what is asked"
    return "fmbench-orchestrator benchmark hosts: results bucket only"


def _attach(
    name: str,
    role: aws.iam.Role,
    policy_arns: tuple[str, ...],
    opts: pulumi.ResourceOptions,
) -> None:
    """Attach each managed policy to `role`, named `<name>-managed-<n>`."""
    for index, policy_arn in enumerate(policy_arns):
        aws.iam.RolePolicyAttachment(
            f"{name}-managed-{index + 1}",
            role=role.name,
            policy_arn=policy_arn,
            opts=opts,
        )
