"""What the hosts' IAM role may do beyond the campaign's own bucket.

By default a host may read, write and list the run's results bucket and
read the FMBench configs the campaign names on S3 — nothing else. FMBench
configs that deploy SageMaker endpoints or call Bedrock need more, and a
campaign asks for it here, explicitly: AWS or customer managed policies by
ARN, inline statements, and a SageMaker execution role that the hosts may
pass to SageMaker and to nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from fmbench_orch.models.fields import StrictModel
from fmbench_orch.models.spec import StatementSpec

# Patterns of the fields below; models.validation_errors words each of them.
POLICY_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/"
ACTION_PATTERN = r"^(\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+)$"
RESOURCE_PATTERN = r"^(\*|arn:aws[a-z-]*:\S+)$"
SID_PATTERN = r"^[A-Za-z0-9]+$"
# IAM's default quota of managed policies attached to one role.
MAX_MANAGED_POLICIES = 10
# IAM allows 10,240 characters of inline policy per role (whitespace not
# counted); the tool's own policies (bucket, S3 configs, PassRole) keep the
# last 4 KiB, and more statements than fit here belong in a managed policy.
MAX_STATEMENT_CHARACTERS = 6144
# Every action on every resource: an instance profile with it turns any
# command a model server or a downloaded script runs into the whole account.
EVERY_ACTION = "*"

PolicyArn = Annotated[str, Field(pattern=POLICY_ARN_PATTERN)]
Action = Annotated[str, Field(pattern=ACTION_PATTERN)]
Resource = Annotated[str, Field(pattern=RESOURCE_PATTERN)]


class PolicyStatement(StrictModel):
    """One inline IAM statement added to the hosts' role, as IAM reads it."""

    sid: str | None = Field(
        default=None,
        pattern=SID_PATTERN,
        description="The statement's id in the policy (letters and digits).",
    )
    effect: Literal["Allow", "Deny"] = Field(
        description="Allow grants the actions; Deny takes them away, whatever "
        "a managed policy allows."
    )
    actions: list[Action] = Field(
        min_length=1,
        description="IAM actions such as sagemaker:InvokeEndpoint or bedrock:*; "
        "a lone * is refused with Allow (attach a managed policy by ARN if the "
        "hosts really need everything).",
    )
    resources: list[Resource] = Field(
        min_length=1,
        description="ARNs the actions apply to, or * for actions without "
        "resource-level permissions.",
    )

    @model_validator(mode="after")
    def _not_every_action(self) -> PolicyStatement:
        if self.effect == "Allow" and EVERY_ACTION in self.actions:
            raise PydanticCustomError(
                "every_action",
                "actions: ['*'] with effect Allow gives the hosts every AWS "
                "permission, and they run model servers and code downloaded at "
                "run time; name the actions (e.g. sagemaker:InvokeEndpoint) or a "
                "service's (sagemaker:*), or attach a managed policy by ARN in "
                "managed_policies if the hosts really need all of them",
                {"loc": ("actions",)},
            )
        return self


class Permissions(StrictModel):
    """What the hosts' IAM role may do beyond the run's own bucket (aws only)."""

    managed_policies: list[PolicyArn] = Field(
        default=[],
        max_length=MAX_MANAGED_POLICIES,
        description="IAM policy ARNs attached to the hosts' role, e.g. "
        "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess for FMBench configs "
        "that deploy SageMaker endpoints.",
    )
    statements: list[PolicyStatement] = Field(
        default=[],
        description="Inline statements added to the hosts' role, e.g. "
        "bedrock:InvokeModel on the models a config benchmarks.",
    )
    sagemaker_execution_role: bool = Field(
        default=False,
        description="Create a role SageMaker endpoints run as (AmazonSageMaker"
        "FullAccess), let the hosts pass it to SageMaker only, and give FMBench "
        "its ARN as --role-arn; the hosts' own SageMaker actions still come "
        "from managed_policies or statements.",
    )

    @property
    def is_empty(self) -> bool:
        """True when it grants nothing beyond the tool's defaults."""
        return not (
            self.managed_policies or self.statements or self.sagemaker_execution_role
        )

    @model_validator(mode="after")
    def _fits_iam(self) -> Permissions:
        seen: dict[str, int] = {}
        for index, arn in enumerate(self.managed_policies):
            if arn in seen:
                raise PydanticCustomError(
                    "duplicate_policy",
                    "managed_policies[{first}] and managed_policies[{second}] are "
                    "both {arn}; list it once",
                    {
                        "first": seen[arn],
                        "second": index,
                        "arn": arn,
                        "loc": ("managed_policies", index),
                    },
                )
            seen[arn] = index
        sids: dict[str, int] = {}
        for index, statement in enumerate(self.statements):
            if statement.sid is None:
                continue
            if statement.sid in sids:
                raise PydanticCustomError(
                    "duplicate_sid",
                    "statements[{first}] and statements[{second}] both have sid "
                    "{sid}; IAM needs each statement id of a policy to be unique",
                    {
                        "first": sids[statement.sid],
                        "second": index,
                        "sid": statement.sid,
                        "loc": ("statements", index, "sid"),
                    },
                )
            sids[statement.sid] = index
        size = len(json.dumps(iam_statements(self.statements), separators=(",", ":")))
        if size > MAX_STATEMENT_CHARACTERS:
            raise PydanticCustomError(
                "statements_too_long",
                "the statements come to {size} characters; IAM's inline policy "
                "limit leaves them {limit} — merge them, or put them in a customer "
                "managed policy and list its ARN in managed_policies",
                {
                    "size": size,
                    "limit": MAX_STATEMENT_CHARACTERS,
                    "loc": ("statements",),
                },
            )
        return self


def iam_statements(
    statements: Iterable[PolicyStatement | StatementSpec],
) -> list[dict[str, object]]:
    """The statements as IAM's policy grammar spells them (campaign or spec)."""
    return [
        {
            **({"Sid": statement.sid} if statement.sid else {}),
            "Effect": statement.effect,
            "Action": list(statement.actions),
            "Resource": list(statement.resources),
        }
        for statement in statements
    ]
