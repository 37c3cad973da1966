"""The hosts' IAM roles under mocks: only the bucket, and what a campaign asks.

Run through the same program and mocks as tests/unit/test_infra_program.py;
a `@pulumi.runtime.test` here returns the Output it asserts on.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
from infra_examples import (
    ATTACHMENT,
    BEDROCK_STATEMENT,
    PUBLIC_KEY,
    ROLE,
    ROLE_POLICY,
    SAGEMAKER_POLICY,
    by_name,
    example_spec,
    exported,
    resources_of,
    with_permissions,
)

from fmbench_orch.infra.mocks import MOCK_ACCOUNT
from fmbench_orch.infra.preview import preview_stack
from fmbench_orch.infra.program import (
    OUTPUT_BUCKET,
    OUTPUT_EXECUTION_ROLE,
    OUTPUT_HOSTS,
    declare_stack,
)
from fmbench_orch.models.compile import TAG_RUN


def test_the_host_role_can_only_use_the_results_bucket(tmp_path):
    spec = example_spec(tmp_path)
    preview = preview_stack(spec, PUBLIC_KEY)
    by_type = {r["type"].split(":")[-1]: r["inputs"] for r in preview.resources}

    trust = json.loads(by_type["Role"]["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}
    policy = json.loads(by_type["RolePolicy"]["policy"])
    bucket_arn = f"arn:aws:s3:::{spec.bucket.name}"
    grants = {
        action: statement["Resource"]
        for statement in policy["Statement"]
        for action in statement["Action"]
    }
    assert grants == {
        "s3:ListBucket": bucket_arn,
        "s3:GetObject": f"{bucket_arn}/*",
        "s3:PutObject": f"{bucket_arn}/*",
    }
    assert by_type["InstanceProfile"]["role"] == spec.role.name
    assert "RolePolicyAttachment" not in by_type


def test_managed_policies_named_in_the_spec_are_attached_and_nothing_else(tmp_path):
    spec = example_spec(tmp_path)
    arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    spec = spec.model_copy(
        update={"role": spec.role.model_copy(update={"managed_policy_arns": (arn,)})}
    )

    preview = preview_stack(spec, PUBLIC_KEY)

    attachments = resources_of(
        preview.resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    )
    assert [a["inputs"]["policyArn"] for a in attachments] == [arn]


def test_the_campaigns_statements_are_one_more_policy_on_the_host_role(tmp_path):
    deny = {"effect": "Deny", "actions": ["s3:DeleteBucket"], "resources": ["*"]}
    spec = example_spec(
        tmp_path, with_permissions(statements=[BEDROCK_STATEMENT, deny])
    )

    policies = by_name(preview_stack(spec, PUBLIC_KEY).resources, ROLE_POLICY)

    campaign = policies[f"{spec.role.name}-campaign"]
    assert campaign["role"] == spec.role.name
    assert json.loads(campaign["policy"])["Statement"] == [
        {
            "Sid": "InvokeModels",
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": ["arn:aws:bedrock:us-east-1::foundation-model/meta.llama3*"],
        },
        {"Effect": "Deny", "Action": ["s3:DeleteBucket"], "Resource": ["*"]},
    ]
    assert set(policies) == {
        f"{spec.role.name}-results-bucket",
        f"{spec.role.name}-campaign",
    }


def test_the_campaigns_managed_policies_are_attached_to_the_host_role(tmp_path):
    customer = "arn:aws:iam::123456789012:policy/fmbench-bedrock"
    spec = example_spec(
        tmp_path, with_permissions(managed_policies=[SAGEMAKER_POLICY, customer])
    )

    preview = preview_stack(spec, PUBLIC_KEY)

    assert by_name(preview.resources, ATTACHMENT) == {
        f"{spec.role.name}-managed-1": {
            "role": spec.role.name,
            "policyArn": SAGEMAKER_POLICY,
        },
        f"{spec.role.name}-managed-2": {"role": spec.role.name, "policyArn": customer},
    }
    assert list(by_name(preview.resources, ROLE)) == [spec.role.name]


def test_fmbench_configs_on_s3_are_readable_by_the_hosts_and_nothing_beside(
    tmp_path,
):
    def s3_config(document: dict) -> None:
        document["hosts"][1]["benchmarks"][0]["config"] = "s3://team/configs/g6e.yml"

    spec = example_spec(tmp_path, s3_config)

    policies = by_name(preview_stack(spec, PUBLIC_KEY).resources, ROLE_POLICY)

    (statement,) = json.loads(policies[f"{spec.role.name}-fmbench-inputs"]["policy"])[
        "Statement"
    ]
    assert (statement["Effect"], statement["Action"]) == ("Allow", ["s3:GetObject"])
    assert statement["Resource"] == ["arn:aws:s3:::team/configs/g6e.yml"]


def test_the_execution_role_is_trusted_by_sagemaker_alone_and_tagged(tmp_path):
    spec = example_spec(tmp_path, with_permissions(sagemaker_execution_role=True))
    execution = spec.role.execution_role

    preview = preview_stack(spec, PUBLIC_KEY)

    roles = by_name(preview.resources, ROLE)
    assert set(roles) == {spec.role.name, execution.name}
    trust = json.loads(roles[execution.name]["assumeRolePolicy"])
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    tags = roles[execution.name]["tags"]
    assert (tags[TAG_RUN], tags["Name"]) == ("test1234", execution.name)
    attachments = by_name(preview.resources, ATTACHMENT)
    assert attachments == {
        f"{execution.name}-managed-1": {
            "role": execution.name,
            "policyArn": SAGEMAKER_POLICY,
        }
    }
    host_trust = json.loads(roles[spec.role.name]["assumeRolePolicy"])
    assert host_trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_the_hosts_may_pass_the_execution_role_to_sagemaker_and_nothing_else(
    tmp_path,
):
    spec = example_spec(tmp_path, with_permissions(sagemaker_execution_role=True))
    execution_arn = f"arn:aws:iam::{MOCK_ACCOUNT}:role/{spec.role.execution_role.name}"

    policies = by_name(preview_stack(spec, PUBLIC_KEY).resources, ROLE_POLICY)

    pass_role = policies[f"{spec.role.name}-pass-execution-role"]
    assert pass_role["role"] == spec.role.name
    assert json.loads(pass_role["policy"])["Statement"] == [
        {
            "Sid": "PassExecutionRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": execution_arn,
            "Condition": {
                "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
            },
        }
    ]
    passes = [
        name for name, inputs in policies.items() if "iam:PassRole" in inputs["policy"]
    ]
    assert passes == [f"{spec.role.name}-pass-execution-role"]


def test_the_execution_roles_arn_is_a_stack_output(tmp_path, mocks):
    spec = example_spec(tmp_path, with_permissions(sagemaker_execution_role=True))

    @pulumi.runtime.test
    def check():
        declare_stack(spec, PUBLIC_KEY)

        def verify(outputs: dict[str, Any]) -> None:
            assert outputs[OUTPUT_EXECUTION_ROLE] == (
                f"arn:aws:iam::{MOCK_ACCOUNT}:role/{spec.role.execution_role.name}"
            )

        return exported().apply(verify)

    check()


def test_without_an_execution_role_there_is_no_such_output(tmp_path, mocks):
    spec = example_spec(tmp_path)

    @pulumi.runtime.test
    def check():
        declare_stack(spec, PUBLIC_KEY)

        def verify(outputs: dict[str, Any]) -> None:
            assert OUTPUT_EXECUTION_ROLE not in outputs
            assert set(outputs) == {OUTPUT_BUCKET, OUTPUT_HOSTS}

        return exported().apply(verify)

    check()
