"""The hosts' IAM role and instance profile: just enough to use the results bucket.

FMBench in local mode writes under `--write-bucket` with its own key layout
(data, models, metrics …), not under a prefix we choose, so the grant is
scoped to the bucket rather than to `RoleSpec.bucket_prefix`. That is still
least privilege: the bucket is created for this run alone and holds nothing
else. Managed policies named in the spec are attached as well; nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from fmbench_orch.models.spec import RoleSpec

POLICY_VERSION = "2012-10-17"
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject")
BUCKET_ACTIONS = ("s3:ListBucket",)


def ec2_trust_policy() -> dict[str, Any]:
    """Only EC2 (the hosts' instance profile) may assume the role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


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


class HostRole(pulumi.ComponentResource):
    """An EC2 role with the results-bucket policy, wrapped in an instance profile."""

    profile_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

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
            description="fmbench-orchestrator benchmark hosts: results bucket only",
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
        for index, policy_arn in enumerate(spec.managed_policy_arns):
            aws.iam.RolePolicyAttachment(
                f"{spec.name}-managed-{index + 1}",
                role=role.name,
                policy_arn=policy_arn,
                opts=child,
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
            {"profile_name": self.profile_name, "role_arn": self.role_arn}
        )
