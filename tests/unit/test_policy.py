"""The policy pack's checks: each on its own, over the program's resources, and
as the Pulumi CLI would call them through the pack's adapters."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from infra_examples import example_spec
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from fmbench_orch.infra.errors import PoliciesViolated
from fmbench_orch.infra.policy import checks, pack
from fmbench_orch.infra.policy.checks import (
    POLICIES,
    PolicyConfig,
    check_bucket_encrypted,
    check_bucket_private,
    check_budget,
    check_ebs_encrypted,
    check_imdsv2,
    check_instance_type,
    check_no_admin_statement,
    check_required_tags,
    check_ssh_ingress,
)
from fmbench_orch.infra.preview import (
    check_policies,
    enforce_policies,
    preview_resources,
)

REPO = Path(__file__).resolve().parents[2]
INSTANCE = checks.INSTANCE
BUCKET = "aws:s3/bucket:Bucket"
SECURITY_GROUP = checks.SECURITY_GROUP
TAGS = {
    "fmbench:campaign": "c",
    "fmbench:run": "r",
    "fmbench:ttl": "2025-09-01T15:00:00+00:00",
    "fmbench:owner": "alice",
}
GOOD_INSTANCE = {
    "instanceType": "g6e.2xlarge",
    "region": "us-east-1",
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2},
    "rootBlockDevice": {"encrypted": True, "volumeSize": 250},
    "tags": TAGS,
}


def instance(**changes) -> dict:
    props = copy.deepcopy(GOOD_INSTANCE)
    props.update(changes)
    return props


def ssh_group(*cidrs: str, protocol="tcp", low=22, high=22) -> dict:
    v4 = [c for c in cidrs if ":" not in c]
    v6 = [c for c in cidrs if ":" in c]
    rule = {"protocol": protocol, "fromPort": low, "toPort": high}
    return {"ingress": [{**rule, "cidrBlocks": v4, "ipv6CidrBlocks": v6}], "tags": TAGS}


def bucket_resources(
    *, algorithm="AES256", flags=True, acl=None
) -> list[tuple[str, str, dict]]:
    name = "fmbench-c-r"
    bucket = {"bucket": name, "tags": TAGS, **({"acl": acl} if acl else {})}
    block = {flag: flags for flag in checks.PUBLIC_ACCESS_FLAGS}
    encryption = {
        "bucket": name,
        "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm}}],
    }
    return [
        (BUCKET, name, bucket),
        (
            checks.PUBLIC_ACCESS_BLOCK,
            f"{name}-public-access",
            {"bucket": name, **block},
        ),
        (checks.BUCKET_ENCRYPTIONS[0], f"{name}-encryption", encryption),
    ]


def policies_named(violations) -> set[str]:
    return {violation.policy for violation in violations}


# --- each check on its own ----------------------------------------------------


def test_a_catalogued_instance_type_passes_and_an_unknown_one_is_named():
    assert check_instance_type(INSTANCE, instance()) == []

    (message,) = check_instance_type(INSTANCE, instance(instanceType="g9z.huge"))

    assert "'g9z.huge' is not in the catalog" in message


def test_an_allow_list_refuses_types_outside_it():
    config = PolicyConfig(allowed_instance_types=("g6e.4xlarge",))

    (message,) = check_instance_type(INSTANCE, instance(), config)

    assert "g6e.2xlarge is not in the allow-list (g6e.4xlarge)" in message


def test_every_missing_fmbench_tag_is_named():
    tags = {"fmbench:campaign": "c", "fmbench:owner": "alice"}

    (message,) = check_required_tags(INSTANCE, instance(tags=tags))

    assert "fmbench:run, fmbench:ttl" in message
    assert check_required_tags(INSTANCE, instance()) == []
    assert check_required_tags("aws:iam/rolePolicy:RolePolicy", {}) == []


def test_a_ttl_tag_without_a_zone_is_refused():
    tags = {**TAGS, "fmbench:ttl": "2025-09-01 15:00"}

    (message,) = check_required_tags(SECURITY_GROUP, {"tags": tags})

    assert "not an ISO 8601 time with a zone" in message


def test_imdsv1_is_refused_and_a_disabled_metadata_service_is_fine():
    optional = instance(metadataOptions={"httpTokens": "optional"})
    missing = instance(metadataOptions=None)
    disabled = instance(metadataOptions={"httpEndpoint": "disabled"})

    assert check_imdsv2(INSTANCE, optional)
    assert check_imdsv2(INSTANCE, missing)
    assert check_imdsv2(INSTANCE, disabled) == []
    assert check_imdsv2(INSTANCE, instance()) == []


def test_unencrypted_root_data_and_standalone_volumes_are_each_named():
    props = instance(
        rootBlockDevice={"encrypted": False},
        ebsBlockDevices=[{"encrypted": True}, {}],
    )

    messages = check_ebs_encrypted(INSTANCE, props)

    assert [m.split(":")[0] for m in messages] == [
        "rootBlockDevice",
        "ebsBlockDevices[1]",
    ]
    assert check_ebs_encrypted(checks.VOLUME, {"encrypted": False})
    assert check_ebs_encrypted(checks.VOLUME, {"encrypted": True}) == []


@pytest.mark.parametrize(
    "group",
    [
        ssh_group("0.0.0.0/0"),
        ssh_group("::/0"),
        ssh_group("203.0.113.7/32", "0.0.0.0/0"),
        ssh_group("0.0.0.0/0", low=0, high=65535),
        ssh_group("0.0.0.0/0", protocol="-1", low=0, high=0),
    ],
)
def test_ssh_open_to_the_internet_is_refused(group):
    (message,) = check_ssh_ingress(SECURITY_GROUP, group)

    assert "SSH (port 22) is open to" in message


@pytest.mark.parametrize(
    "group",
    [
        ssh_group("203.0.113.7/32"),
        ssh_group("2001:db8::/64"),
        ssh_group("0.0.0.0/0", low=443, high=443),
        ssh_group("0.0.0.0/0", protocol="udp", low=0, high=65535),
    ],
)
def test_ssh_from_known_addresses_or_other_open_ports_pass(group):
    assert check_ssh_ingress(SECURITY_GROUP, group) == []


def test_standalone_ingress_rules_are_checked_too():
    rule = {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22}
    vpc_rule = {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv6": "::/0"}

    assert check_ssh_ingress(
        checks.SECURITY_GROUP_RULE, {**rule, "cidrBlocks": ["0.0.0.0/0"]}
    )
    assert check_ssh_ingress(checks.VPC_INGRESS_RULE, vpc_rule)
    egress = {**rule, "type": "egress", "cidrBlocks": ["0.0.0.0/0"]}
    assert check_ssh_ingress(checks.SECURITY_GROUP_RULE, egress) == []


def test_the_budget_sums_catalog_prices_in_each_hosts_region():
    resources = [
        (INSTANCE, "a", instance()),
        (INSTANCE, "b", instance(instanceType="g6e.4xlarge")),
    ]

    assert check_budget(resources, PolicyConfig(max_usd_per_hour=100)) == []
    ((where, message),) = check_budget(resources, PolicyConfig(max_usd_per_hour=3))
    assert where == ""
    assert "over the budget of 3.00" in message
    assert check_budget(resources) == []  # no budget configured


def test_a_bucket_needs_default_encryption_with_a_known_algorithm():
    assert check_bucket_encrypted(bucket_resources()) == []
    assert check_bucket_encrypted(bucket_resources(algorithm="rot13"))
    without = [r for r in bucket_resources() if r[0] not in checks.BUCKET_ENCRYPTIONS]

    ((where, message),) = check_bucket_encrypted(without)

    assert where == "fmbench-c-r"
    assert "no default encryption" in message


def test_a_bucket_needs_a_full_public_access_block_and_no_public_acl():
    assert check_bucket_private(bucket_resources()) == []
    assert check_bucket_private(bucket_resources(flags=False))
    assert check_bucket_private(bucket_resources(acl="public-read"))
    without = [r for r in bucket_resources() if r[0] != checks.PUBLIC_ACCESS_BLOCK]
    assert check_bucket_private(without)


def role_policy(*statements: dict) -> dict:
    return {
        "role": "r",
        "policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
    }


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "Admin", "Effect": "Allow", "Action": ["s3:GetObject", "*:*"]},
        {"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"},
    ],
)
def test_a_policy_allowing_every_action_is_refused(statement):
    (message,) = check_no_admin_statement(
        checks.IAM_POLICIES[0], role_policy(statement)
    )

    assert "every action" in message
    assert "name the actions" in message


def test_denying_everything_or_allowing_one_service_passes():
    props = role_policy(
        {"Effect": "Deny", "Action": "*", "Resource": "arn:aws:s3:::x"},
        {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"},
    )

    assert check_no_admin_statement(checks.IAM_POLICIES[0], props) == []


def test_a_policy_document_unknown_at_preview_is_left_to_the_real_update():
    for props in ({"role": "r"}, {"role": "r", "policy": "<computed>"}):
        assert check_no_admin_statement(checks.IAM_POLICIES[0], props) == []
    assert check_no_admin_statement(INSTANCE, {"policy": "*"}) == []


def test_the_checks_import_no_pulumi_package():
    code = (
        "import sys, fmbench_orch.infra.policy.checks; "
        "print(sorted(m for m in sys.modules if m.startswith('pulumi')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


# --- over the program's resources ---------------------------------------------


def test_the_program_passes_every_policy_for_the_example(tmp_path):
    spec = example_spec(tmp_path)

    assert check_policies(preview_resources(spec), spec) == []


def test_the_program_passes_every_policy_with_every_permission_asked(tmp_path):
    def permissions(document: dict) -> None:
        document["permissions"] = {
            "managed_policies": ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"],
            "statements": [
                {"effect": "Allow", "actions": ["bedrock:*"], "resources": ["*"]},
                {"effect": "Deny", "actions": ["*"], "resources": ["*"]},
            ],
            "sagemaker_execution_role": True,
        }
        document["hosts"][0]["benchmarks"][0]["config"] = "s3://team/config.yml"

    spec = example_spec(tmp_path, permissions)

    assert check_policies(preview_resources(spec), spec) == []


def test_a_campaign_statement_edited_to_allow_everything_is_refused(tmp_path):
    def statement(document: dict) -> None:
        document["permissions"] = {
            "statements": [
                {"effect": "Allow", "actions": ["bedrock:*"], "resources": ["*"]}
            ]
        }

    spec = example_spec(tmp_path, statement)
    # The campaign model refuses `*`; a hand-edited program is what the pack sees.
    everything = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*"}]})
    resources = tampered(
        preview_resources(spec),
        checks.IAM_POLICIES[0],
        lambda i: i.update(policy=everything) if "bedrock" in i["policy"] else None,
    )

    violations = check_policies(resources, spec)

    assert [(v.policy, v.resource) for v in violations] == [
        ("no-admin-statement", f"{spec.role.name}-campaign")
    ]


@pytest.mark.parametrize(
    ("edit", "policy"),
    [
        (lambda d: d["budget"].update(max_usd_per_hour=2), "stack-within-budget"),
        (lambda d: d["defaults"]["storage"].update(encrypted=False), "ebs-encrypted"),
        (
            lambda d: d["defaults"].update(
                network={"ssh_ingress_cidrs": ["0.0.0.0/0"]}
            ),
            "no-open-ssh",
        ),
        (
            lambda d: d["defaults"].update(network={"ssh_ingress_cidrs": ["::/0"]}),
            "no-open-ssh",
        ),
    ],
)
def test_a_campaign_breaking_a_policy_is_refused_naming_it(tmp_path, edit, policy):
    spec = example_spec(tmp_path, edit)

    with pytest.raises(PoliciesViolated) as caught:
        enforce_policies(preview_resources(spec), spec)

    assert policies_named(caught.value.violations) == {policy}
    assert f"[{policy}]" in str(caught.value)


def test_a_campaign_outside_the_allow_list_is_refused_naming_the_policy(tmp_path):
    spec = example_spec(tmp_path)
    config = PolicyConfig(
        max_usd_per_hour=spec.max_usd_per_hour, allowed_instance_types=("g6e.2xlarge",)
    )

    violations = check_policies(preview_resources(spec), spec, config)

    assert [(v.policy, v.resource) for v in violations] == [
        ("instance-type-in-catalog", "g6e-4xlarge")
    ]


def tampered(resources: list[dict], resource_type: str, change) -> list[dict]:
    copied = copy.deepcopy(resources)
    for resource in copied:
        if resource["type"] == resource_type:
            change(resource["inputs"])
    return copied


def without(resources: list[dict], resource_type: str) -> list[dict]:
    return [r for r in resources if r["type"] != resource_type]


@pytest.mark.parametrize(
    ("tamper", "policy"),
    [
        (
            lambda rs: tampered(
                rs, SECURITY_GROUP, lambda i: i["tags"].pop("fmbench:ttl")
            ),
            "required-tags",
        ),
        (
            lambda rs: tampered(
                rs,
                INSTANCE,
                lambda i: i["metadataOptions"].update(httpTokens="optional"),
            ),
            "imdsv2-required",
        ),
        (lambda rs: without(rs, checks.BUCKET_ENCRYPTIONS[0]), "bucket-encrypted"),
        (lambda rs: without(rs, checks.PUBLIC_ACCESS_BLOCK), "bucket-not-public"),
        (
            lambda rs: tampered(
                rs, INSTANCE, lambda i: i.update(instanceType="x9.big")
            ),
            "instance-type-in-catalog",
        ),
    ],
)
def test_resources_the_program_never_declares_are_still_refused(
    tmp_path, tamper, policy
):
    # The program cannot be made to break these from a valid campaign, so the
    # previewed resources are edited the way a hand-written program might differ.
    spec = example_spec(tmp_path)

    violations = check_policies(tamper(preview_resources(spec)), spec)

    assert policies_named(violations) == {policy}


# --- the pack as pulumi-policy runs it ----------------------------------------


def resource_args(resource: dict, config: dict | None = None) -> ResourceValidationArgs:
    """What the analyzer hands a resource policy for one declared resource."""
    return ResourceValidationArgs(
        resource_type=resource["type"],
        props=resource["inputs"],
        urn=f"urn:pulumi:test::fmbench-orchestrator::{resource['type']}::"
        f"{resource['name']}",
        name=resource["name"],
        opts=None,
        provider=None,
        config=config,
    )


def stack_args(
    resources: list[dict], config: dict | None = None
) -> StackValidationArgs:
    declared = [
        PolicyResource(
            resource_type=r["type"],
            props=r["inputs"],
            urn=resource_args(r).urn,
            name=r["name"],
            opts=None,
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        for r in resources
    ]
    return StackValidationArgs(resources=declared, config=config)


def pack_verdicts(resources: list[dict], configs: dict | None = None) -> set[str]:
    """The policies that report a violation, validating as the analyzer does."""
    configs = configs or {}
    failed: set[str] = set()
    for policy in pack.policies():

        def report(message: str, urn: str | None = None, name=policy.name) -> None:
            failed.add(name)

        config = configs.get(policy.name)
        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                policy.validate(resource_args(resource, config), report)
        else:
            policy.validate(stack_args(resources, config), report)
    return failed


def test_the_pack_registers_every_policy_as_mandatory():
    policies = pack.policies()

    assert [policy.name for policy in policies] == [p.name for p in POLICIES]
    assert {policy.enforcement_level for policy in policies} == {
        EnforcementLevel.MANDATORY
    }


def test_the_pack_passes_every_resource_the_program_declares(tmp_path):
    spec = example_spec(tmp_path)
    configs = json.loads((REPO / "stacks" / "policy.llama3-8b-g6e.json").read_text())

    assert pack_verdicts(preview_resources(spec), configs) == set()


def test_the_pack_refuses_what_the_checks_refuse_with_its_own_arguments(tmp_path):
    spec = example_spec(tmp_path)
    resources = preview_resources(spec)
    open_ssh = tampered(
        resources,
        SECURITY_GROUP,
        lambda i: i["ingress"][0].update(cidrBlocks=["0.0.0.0/0"]),
    )

    assert pack_verdicts(open_ssh) == {"no-open-ssh"}
    assert pack_verdicts(resources, {"stack-within-budget": {"maxUsdPerHour": 1}}) == {
        "stack-within-budget"
    }
    only_small = {"instance-type-in-catalog": {"allowedInstanceTypes": ["g6e.2xlarge"]}}
    assert pack_verdicts(resources, only_small) == {"instance-type-in-catalog"}


def test_a_violation_is_reported_with_the_checks_message():
    [policy] = [p for p in pack.policies() if p.name == "no-open-ssh"]
    reported: list[str] = []
    group = {"type": SECURITY_GROUP, "name": "g", "inputs": ssh_group("0.0.0.0/0")}

    policy.validate(
        resource_args(group), lambda message, urn=None: reported.append(message)
    )

    assert len(reported) == 1
    assert "SSH (port 22) is open to 0.0.0.0/0" in reported[0]
