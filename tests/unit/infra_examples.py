"""The example campaign compiled for the Pulumi program's tests, and helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pulumi
import yaml
from pulumi.runtime.settings import get_root_resource

from fmbench_orch.models.compile import StackValues, compile_campaign
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.models.spec import StackSpec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ec2-llama3-8b-g6e.yml"
VALUES = StackValues(
    run_id="test1234",
    created_at=datetime(2025, 9, 1, 12, tzinfo=UTC),
    operator="alice",
    operator_cidr="203.0.113.7/32",
)
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKwS6dv8ZxeORCNJdg+ZLMxklK6zL2yq3mYOR+cptcQM "
    "alice@laptop"
)
INSTANCE = "aws:ec2/instance:Instance"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
KEY_PAIR = "aws:ec2/keyPair:KeyPair"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SAGEMAKER_POLICY = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
BEDROCK_STATEMENT = {
    "sid": "InvokeModels",
    "effect": "Allow",
    "actions": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
    "resources": ["arn:aws:bedrock:us-east-1::foundation-model/meta.llama3*"],
}


def example_spec(tmp_path: Path, edit=None) -> StackSpec:
    """The example campaign, optionally edited, compiled with fixed values."""
    document = yaml.safe_load(EXAMPLE.read_text())
    if edit is not None:
        edit(document)
    path = tmp_path / "campaign.yml"
    path.write_text(yaml.safe_dump(document))
    return compile_campaign(load_campaign(path), VALUES)


def with_hosts(count: int):
    """Keep the first host entry only, `count` times; lift the budget to fit."""

    def edit(document: dict) -> None:
        document["hosts"] = [{**document["hosts"][0], "count": count}]
        document["budget"]["max_usd_per_hour"] = 3 * count

    return edit


def in_two_regions(document: dict) -> None:
    document["hosts"][1]["region"] = "us-west-2"


def with_permissions(**permissions):
    """Give the campaign a `permissions:` block."""

    def edit(document: dict) -> None:
        document["permissions"] = permissions

    return edit


def by_name(preview_resources: list[dict], resource_type: str) -> dict[str, dict]:
    """Inputs of each resource of one type, by logical name."""
    return {
        r["name"]: r["inputs"] for r in resources_of(preview_resources, resource_type)
    }


def exported() -> pulumi.Output:
    """Every stack output of the program just declared, as one Output."""
    return pulumi.Output.from_input(dict(get_root_resource().outputs))


def resources_of(preview_resources: list[dict], resource_type: str) -> list[dict]:
    return [r for r in preview_resources if r["type"] == resource_type]
