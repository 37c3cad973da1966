"""The campaign's `permissions:` block: what the hosts' role may do, as asked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fmbench_orch.models.permissions import (
    MAX_MANAGED_POLICIES,
    MAX_STATEMENT_CHARACTERS,
    Permissions,
    PolicyStatement,
    iam_statements,
)

SAGEMAKER = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"


def statement(**fields: object) -> dict[str, object]:
    return {
        "effect": "Allow",
        "actions": ["bedrock:InvokeModel"],
        "resources": ["*"],
        **fields,
    }


def problems(raw: dict[str, object]) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as caught:
        Permissions.model_validate(raw)
    return [
        ((*error["loc"], *error.get("ctx", {}).get("loc", ())), error["msg"])
        for error in caught.value.errors()
    ]


def test_nothing_is_granted_unless_asked() -> None:
    permissions = Permissions()

    assert permissions.is_empty
    assert (permissions.managed_policies, permissions.statements) == ([], [])
    assert permissions.sagemaker_execution_role is False


def test_an_execution_role_alone_is_an_ask() -> None:
    assert not Permissions(sagemaker_execution_role=True).is_empty


@pytest.mark.parametrize(
    "arn",
    [
        SAGEMAKER,
        "arn:aws:iam::123456789012:policy/team/FmbenchBedrock",
        "arn:aws-us-gov:iam::aws:policy/AmazonSageMakerFullAccess",
        "arn:aws-cn:iam::aws:policy/AmazonBedrockFullAccess",
    ],
)
def test_aws_and_customer_managed_policies_of_any_partition_are_accepted(
    arn: str,
) -> None:
    assert Permissions(managed_policies=[arn]).managed_policies == [arn]


@pytest.mark.parametrize(
    "arn",
    [
        "AmazonSageMakerFullAccess",
        "arn:aws:iam::12345:policy/Short",
        "arn:aws:iam::aws:role/NotAPolicy",
        "arn:aws:s3:::a-bucket",
    ],
)
def test_anything_but_an_iam_policy_arn_is_refused(arn: str) -> None:
    ((loc, message),) = problems({"managed_policies": [arn]})

    assert loc == ("managed_policies", 0)
    assert "should match pattern" in message


def test_a_policy_listed_twice_is_refused_at_its_second_place() -> None:
    ((loc, message),) = problems({"managed_policies": [SAGEMAKER, SAGEMAKER]})

    assert loc == ("managed_policies", 1)
    assert "managed_policies[0] and managed_policies[1] are both" in message


def test_more_managed_policies_than_iam_attaches_by_default_are_refused() -> None:
    arns = [
        f"arn:aws:iam::123456789012:policy/p{n}"
        for n in range(MAX_MANAGED_POLICIES + 1)
    ]

    ((loc, message),) = problems({"managed_policies": arns})

    assert loc == ("managed_policies",)
    assert f"at most {MAX_MANAGED_POLICIES} items" in message


def test_every_action_is_refused_with_allow_naming_the_way_out() -> None:
    ((loc, message),) = problems(
        {"statements": [statement(actions=["s3:GetObject", "*"])]}
    )

    assert loc == ("statements", 0, "actions")
    assert "gives the hosts every AWS permission" in message
    assert "attach a managed policy by ARN in managed_policies" in message


def test_every_action_may_be_denied_and_a_service_wildcard_allowed() -> None:
    deny = PolicyStatement(effect="Deny", actions=["*"], resources=["*"])
    service = PolicyStatement(
        effect="Allow",
        actions=["sagemaker:*", "sagemaker:Describe*"],
        resources=["arn:aws:sagemaker:us-east-1:123456789012:endpoint/*"],
    )

    assert (deny.actions, service.actions[0]) == (["*"], "sagemaker:*")


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"actions": []}, ("statements", 0, "actions")),
        ({"resources": []}, ("statements", 0, "resources")),
        ({"actions": ["InvokeModel"]}, ("statements", 0, "actions", 0)),
        ({"resources": ["my-bucket/*"]}, ("statements", 0, "resources", 0)),
        ({"effect": "allow"}, ("statements", 0, "effect")),
        ({"sid": "Read-Configs"}, ("statements", 0, "sid")),
        ({"principal": "*"}, ("statements", 0, "principal")),
    ],
)
def test_a_malformed_statement_is_refused_at_the_field_to_fix(
    fields: dict[str, object], loc: tuple
) -> None:
    assert [found for found, _ in problems({"statements": [statement(**fields)]})] == [
        loc
    ]


def test_two_statements_with_one_sid_are_refused_at_the_second() -> None:
    raw = {"statements": [statement(sid="Models"), statement(sid="Models")]}

    ((loc, message),) = problems(raw)

    assert loc == ("statements", 1, "sid")
    assert "IAM needs each statement id of a policy to be unique" in message


def test_statements_past_the_inline_policy_limit_are_refused_with_the_fix() -> None:
    arns = [
        f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/benchmark-{n:04d}"
        for n in range(MAX_STATEMENT_CHARACTERS // 60)
    ]

    ((loc, message),) = problems({"statements": [statement(resources=arns)]})

    assert loc == ("statements",)
    assert f"IAM's inline policy limit leaves them {MAX_STATEMENT_CHARACTERS}" in (
        message
    )
    assert "customer managed policy" in message


def test_statements_are_written_in_iams_grammar_with_a_sid_only_when_given() -> None:
    permissions = Permissions.model_validate(
        {"statements": [statement(sid="Models"), statement(effect="Deny")]}
    )

    assert iam_statements(permissions.statements) == [
        {
            "Sid": "Models",
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel"],
            "Resource": ["*"],
        },
        {"Effect": "Deny", "Action": ["bedrock:InvokeModel"], "Resource": ["*"]},
    ]
