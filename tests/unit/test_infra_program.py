"""The Pulumi program under mocks: what `pulumi up` would create for a campaign.

Tests decorated with `@pulumi.runtime.test` RETURN the Output they assert in;
an assertion inside an apply that is not returned would be silently lost
(`test_a_failing_assertion_inside_an_output_fails_the_test` proves that these
can fail). Tests about every declared resource use `preview_stack`, which
runs the same program under the same mocks and waits for every registration.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from infra_examples import (
    INSTANCE,
    KEY_PAIR,
    PUBLIC_KEY,
    SECURITY_GROUP,
    example_spec,
    exported,
    in_two_regions,
    resources_of,
    with_hosts,
)

from fmbench_orch.infra.errors import (
    NoSubnetForInstanceType,
    SpotWithCapacityReservation,
)
from fmbench_orch.infra.mocks import OfflineMocks
from fmbench_orch.infra.preview import preview_stack
from fmbench_orch.infra.program import (
    OUTPUT_BUCKET,
    OUTPUT_HOSTS,
    declare_stack,
)
from fmbench_orch.models.compile import (
    TAG_CAMPAIGN,
    TAG_OWNER,
    TAG_RUN,
    TAG_TTL,
)
from fmbench_orch.models.spec import CapacitySpec

# --- hosts -------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 10, 100])
def test_every_host_gets_hardened_instance_settings(tmp_path, mocks, count):
    spec = example_spec(tmp_path, with_hosts(count))

    @pulumi.runtime.test
    def check():
        declare_stack(spec, PUBLIC_KEY)

        def verify(outputs: dict[str, Any]) -> None:
            assert len(outputs[OUTPUT_HOSTS]) == count
            instances = [d for d in mocks.declared if d.type == INSTANCE]
            assert len(instances) == count
            for instance in instances:
                inputs = instance.inputs
                assert inputs["metadataOptions"] == {
                    "httpEndpoint": "enabled",
                    "httpTokens": "required",
                    "httpPutResponseHopLimit": 2,
                }
                assert inputs["instanceInitiatedShutdownBehavior"] == "terminate"
                assert inputs["instanceType"] == "g6e.2xlarge"
                assert inputs["region"] == "us-east-1"
                root = inputs["rootBlockDevice"]
                assert root["encrypted"] is True
                assert root["deleteOnTermination"] is True
                assert (root["volumeType"], root["volumeSize"]) == ("gp3", 250)
                assert root["iops"] == 16000
                assert inputs["keyName"] == f"fmbench-{spec.stack_name}"
                assert inputs["iamInstanceProfile"] == spec.role.name

        return exported().apply(verify)

    check()


def test_outputs_give_each_host_its_id_addresses_user_region_and_type(tmp_path, mocks):
    spec = example_spec(tmp_path, in_two_regions)

    @pulumi.runtime.test
    def check():
        declare_stack(spec, PUBLIC_KEY)

        def verify(outputs: dict[str, Any]) -> None:
            assert outputs[OUTPUT_BUCKET] == spec.bucket.name
            hosts = outputs[OUTPUT_HOSTS]
            assert set(hosts) == {"g6e-2xlarge", "g6e-4xlarge"}
            west = hosts["g6e-4xlarge"]
            assert west["instance_id"].startswith("i-")
            assert west["public_ip"] and west["private_ip"]
            assert west["ssh_user"] == "ubuntu"
            assert west["region"] == "us-west-2"
            assert west["instance_type"] == "g6e.4xlarge"

        return exported().apply(verify)

    check()


def test_no_output_carries_a_private_key_or_even_the_public_one(tmp_path, mocks):
    spec = example_spec(tmp_path)

    @pulumi.runtime.test
    def check():
        declare_stack(spec, PUBLIC_KEY)

        def verify(outputs: dict[str, Any]) -> None:
            text = json.dumps(outputs)
            assert "PRIVATE KEY" not in text
            assert PUBLIC_KEY.split()[1] not in text

        return exported().apply(verify)

    check()


def test_a_failing_assertion_inside_an_output_fails_the_test(tmp_path, mocks):
    spec = example_spec(tmp_path)

    @pulumi.runtime.test
    def wrong_expectation():
        declare_stack(spec, PUBLIC_KEY)

        def verify(outputs: dict[str, Any]) -> None:
            assert outputs[OUTPUT_BUCKET] == "some-other-bucket"

        return exported().apply(verify)

    with pytest.raises(AssertionError):
        wrong_expectation()


def test_aliased_images_resolve_in_each_hosts_own_region(tmp_path):
    spec = example_spec(tmp_path, in_two_regions)
    mocks = OfflineMocks()

    preview = preview_stack(spec, PUBLIC_KEY, mocks)

    lookups = [args for token, args in mocks.calls if "getParameter" in token]
    assert {args["region"] for args in lookups} == {"us-east-1", "us-west-2"}
    amis = {
        r["name"]: r["inputs"]["ami"] for r in resources_of(preview.resources, INSTANCE)
    }
    assert all(ami.startswith("ami-") for ami in amis.values())
    assert amis["g6e-2xlarge"] != amis["g6e-4xlarge"]  # one image id per region


def test_an_explicit_ami_is_used_without_any_lookup(tmp_path):
    def pinned(document: dict) -> None:
        document["defaults"].update(ami="ami-0123456789abcdef0", ssh_user="ec2-user")
        for host in document["hosts"]:  # an AMI id is regional: no region fallback
            host.pop("fallbacks", None)

    mocks = OfflineMocks()
    preview = preview_stack(example_spec(tmp_path, pinned), PUBLIC_KEY, mocks)

    assert not [token for token, _ in mocks.calls if "getParameter" in token]
    for instance in resources_of(preview.resources, INSTANCE):
        assert instance["inputs"]["ami"] == "ami-0123456789abcdef0"


def test_user_data_is_a_short_dead_man_switch_at_the_ttl(tmp_path):
    spec = example_spec(tmp_path)

    first = preview_stack(spec, PUBLIC_KEY).resources
    second = preview_stack(spec, PUBLIC_KEY).resources

    user_data = {r["inputs"]["userData"] for r in resources_of(first, INSTANCE)}
    assert len(user_data) == 1
    (script,) = user_data
    assert len(script.splitlines()) <= 5
    assert spec.expires_at.isoformat(timespec="seconds") in script
    assert "shutdown" in script
    assert "token" not in script.lower()
    assert {
        r["inputs"]["userData"] for r in resources_of(second, INSTANCE)
    } == user_data


def test_capacity_reservations_and_preferences_reach_the_instance(tmp_path):
    def reserve(document: dict) -> None:
        document["hosts"][0]["capacity"] = {"reservation_id": "cr-0123456789abcdef0"}
        document["hosts"][1]["capacity"] = {"preference": "none"}

    preview = preview_stack(example_spec(tmp_path, reserve), PUBLIC_KEY)

    specs = {
        r["name"]: r["inputs"]["capacityReservationSpecification"]
        for r in resources_of(preview.resources, INSTANCE)
    }
    assert specs["g6e-2xlarge"] == {
        "capacityReservationTarget": {"capacityReservationId": "cr-0123456789abcdef0"}
    }
    assert specs["g6e-4xlarge"] == {"capacityReservationPreference": "none"}


def test_spot_hosts_are_one_time_requests_that_terminate(tmp_path):
    def spot(document: dict) -> None:
        document["hosts"][0]["spot"] = True

    preview = preview_stack(example_spec(tmp_path, spot), PUBLIC_KEY)

    instances = {
        r["name"]: r["inputs"] for r in resources_of(preview.resources, INSTANCE)
    }
    assert instances["g6e-2xlarge"]["instanceMarketOptions"] == {
        "marketType": "spot",
        "spotOptions": {
            "instanceInterruptionBehavior": "terminate",
            "spotInstanceType": "one-time",
        },
    }
    assert "instanceMarketOptions" not in instances["g6e-4xlarge"]


def test_spot_with_a_capacity_reservation_is_refused_naming_the_host(tmp_path):
    spec = example_spec(tmp_path)
    host = spec.hosts[0].model_copy(
        update={
            "spot": True,
            "capacity": CapacitySpec(
                reservation_id="cr-0123456789abcdef0",
                resource_group_arn=None,
                preference=None,
            ),
        }
    )
    spec = spec.model_copy(update={"hosts": (host,)})

    with pytest.raises(SpotWithCapacityReservation, match="g6e-2xlarge"):
        preview_stack(spec, PUBLIC_KEY)


# --- network -----------------------------------------------------------------


def test_hosts_in_two_regions_get_a_key_pair_and_security_group_in_each(tmp_path):
    preview = preview_stack(example_spec(tmp_path, in_two_regions), PUBLIC_KEY)

    for resource_type in (KEY_PAIR, SECURITY_GROUP):
        regions = sorted(
            r["inputs"]["region"]
            for r in resources_of(preview.resources, resource_type)
        )
        assert regions == ["us-east-1", "us-west-2"]
    for pair in resources_of(preview.resources, KEY_PAIR):
        assert pair["inputs"]["publicKey"] == PUBLIC_KEY


def test_ssh_ingress_is_exactly_the_operators_address(tmp_path):
    preview = preview_stack(example_spec(tmp_path), PUBLIC_KEY)

    (group,) = resources_of(preview.resources, SECURITY_GROUP)
    (rule,) = group["inputs"]["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 22, 22)
    assert rule["cidrBlocks"] == ["203.0.113.7/32"]
    assert rule["ipv6CidrBlocks"] == []
    (egress,) = group["inputs"]["egress"]
    assert egress["protocol"] == "-1"


def test_campaign_cidrs_replace_the_operators_address_ipv6_included(tmp_path):
    def cidrs(document: dict) -> None:
        document["defaults"]["network"] = {
            "ssh_ingress_cidrs": ["198.51.100.0/24", "2001:db8::/64"]
        }

    preview = preview_stack(example_spec(tmp_path, cidrs), PUBLIC_KEY)

    (group,) = resources_of(preview.resources, SECURITY_GROUP)
    (rule,) = group["inputs"]["ingress"]
    assert rule["cidrBlocks"] == ["198.51.100.0/24"]
    assert rule["ipv6CidrBlocks"] == ["2001:db8::/64"]


def test_the_default_vpc_subnet_chosen_lies_in_a_zone_offering_the_type(tmp_path):
    spec = example_spec(tmp_path)
    mocks = OfflineMocks(offered_zones={("g6e.2xlarge", "us-east-1"): ["us-east-1c"]})

    preview = preview_stack(spec, PUBLIC_KEY, mocks)

    subnet_calls = [args for token, args in mocks.calls if "getSubnets" in token]
    zone_filters = [
        f["values"]
        for args in subnet_calls
        for f in args["filters"]
        if f["name"] == "availability-zone"
    ]
    assert ["us-east-1c"] in zone_filters
    (vpc_call,) = [args for token, args in mocks.calls if "getVpc" in token]
    assert vpc_call["default"] is True
    in_zone_c = mocks.call(
        pulumi.runtime.MockCallArgs(
            "aws:ec2/getSubnets:getSubnets",
            {"filters": [{"name": "availability-zone", "values": ["us-east-1c"]}]},
            "",
        )
    )["ids"]
    subnets = {
        r["name"]: r["inputs"]["subnetId"]
        for r in resources_of(preview.resources, INSTANCE)
    }
    assert [subnets["g6e-2xlarge"]] == in_zone_c


def test_given_vpc_and_subnets_are_used_as_written(tmp_path):
    def own_network(document: dict) -> None:
        document["defaults"]["network"] = {
            "vpc_id": "vpc-0abc",
            "subnet_ids": ["subnet-0bbb", "subnet-0aaa"],
        }

    mocks = OfflineMocks()
    preview = preview_stack(example_spec(tmp_path, own_network), PUBLIC_KEY, mocks)

    assert not [token for token, _ in mocks.calls if "getVpc" in token]
    (group,) = resources_of(preview.resources, SECURITY_GROUP)
    assert group["inputs"]["vpcId"] == "vpc-0abc"
    for instance in resources_of(preview.resources, INSTANCE):
        assert instance["inputs"]["subnetId"] == "subnet-0aaa"  # first, sorted


def test_a_type_no_zone_offers_is_refused_naming_type_region_and_zones(tmp_path):
    spec = example_spec(tmp_path)
    mocks = OfflineMocks(offered_zones={("g6e.4xlarge", "us-east-1"): []})

    with pytest.raises(NoSubnetForInstanceType) as caught:
        preview_stack(spec, PUBLIC_KEY, mocks)

    error = caught.value
    assert (error.host, error.instance_type, error.region) == (
        "g6e-4xlarge",
        "g6e.4xlarge",
        "us-east-1",
    )
    assert "not offered in any zone of us-east-1" in str(error)


def test_zones_offering_the_type_but_without_subnets_are_named(tmp_path):
    def own_network(document: dict) -> None:
        document["defaults"]["network"] = {"vpc_id": "vpc-0abc"}

    spec = example_spec(tmp_path, own_network)

    class NoSubnets(OfflineMocks):
        def call(self, args):
            if "getSubnets" in args.token:
                self.calls.append((args.token, dict(args.args)))
                return {"ids": []}
            return super().call(args)

    with pytest.raises(NoSubnetForInstanceType) as caught:
        preview_stack(spec, PUBLIC_KEY, NoSubnets())

    zones = tuple(f"us-east-1{letter}" for letter in "abcdef")
    assert caught.value.zones == zones
    assert ", ".join(zones) in str(caught.value)
    assert "vpc-0abc" in str(caught.value)


# --- bucket, role, tags --------------------------------------------------------


def test_the_results_bucket_is_private_encrypted_expiring_and_disposable(tmp_path):
    spec = example_spec(tmp_path)
    preview = preview_stack(spec, PUBLIC_KEY)
    by_type = {r["type"].split(":")[-1]: r["inputs"] for r in preview.resources}

    assert by_type["Bucket"]["bucket"] == spec.bucket.name
    assert by_type["Bucket"]["forceDestroy"] is True
    assert by_type["BucketPublicAccessBlock"] == {
        "bucket": spec.bucket.name,
        "region": "us-east-1",
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    assert by_type["BucketOwnershipControls"]["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    (rule,) = by_type["BucketServerSideEncryptionConfiguration"]["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    (expiry,) = by_type["BucketLifecycleConfiguration"]["rules"]
    assert expiry["status"] == "Enabled"
    assert expiry["expiration"] == {"days": spec.bucket.expire_days}


def test_every_taggable_resource_carries_the_campaign_tags_and_a_name(tmp_path):
    spec = example_spec(tmp_path, in_two_regions)
    preview = preview_stack(spec, PUBLIC_KEY)

    tagged = [r for r in preview.resources if "tags" in r["inputs"]]
    assert {r["type"].split(":")[-1] for r in tagged} >= {
        "Bucket",
        "Role",
        "InstanceProfile",
        "KeyPair",
        "SecurityGroup",
        "Instance",
    }
    for resource in tagged:
        tags = resource["inputs"]["tags"]
        assert tags[TAG_CAMPAIGN] == "llama3-8b-g6e"
        assert tags[TAG_RUN] == "test1234"
        assert tags[TAG_OWNER] == "alice"
        assert tags[TAG_TTL] == spec.expires_at.isoformat(timespec="seconds")
        assert tags["Name"]


def test_a_local_campaign_has_no_stack_to_declare(tmp_path):
    def local(document: dict) -> None:
        document["provider"] = "local"

    with pytest.raises(ValueError, match="only aws campaigns have a Pulumi stack"):
        preview_stack(example_spec(tmp_path, local), PUBLIC_KEY)


def test_a_campaigns_secrets_reach_no_resource_user_data_or_output(
    tmp_path, monkeypatch
):
    canary = "hf_canary_d41d8cd98f00b204e9800998ecf8427e"
    monkeypatch.setenv("FMBENCH_TEST_CANARY", canary)
    (tmp_path / "token.txt").write_text(canary)

    def with_secrets(document: dict) -> None:
        document["secrets"] = {"hf_token": {"env": "FMBENCH_TEST_CANARY"}}
        document["hosts"][0]["upload_files"] = [
            {"local": str(tmp_path / "token.txt"), "remote": "t.txt", "secret": True}
        ]

    spec = example_spec(tmp_path, with_secrets)
    preview = preview_stack(spec, PUBLIC_KEY)

    # The spec names where each secret is read from, at upload time only.
    assert "FMBENCH_TEST_CANARY" in spec.model_dump_json()
    assert canary not in spec.model_dump_json()
    assert canary not in json.dumps(preview.resources, default=str)
    assert canary not in json.dumps(preview.outputs, default=str)
    user_data = [
        r["inputs"]["userData"] for r in resources_of(preview.resources, INSTANCE)
    ]
    assert user_data and all(canary not in script for script in user_data)
