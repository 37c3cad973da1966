"""The instance catalog, as a campaign author meets it: names, prices, AMIs."""

from datetime import date

import pytest
from pydantic import ValidationError

from fmbench_orch.models import catalog
from fmbench_orch.models.catalog import (
    AMI_ALIAS_SSH_USER,
    AMI_ALIASES,
    AmiAliasMismatch,
    CatalogInvalid,
    InstanceType,
    PriceUnknown,
    UnknownInstanceType,
    catalog_source,
    get_instance_type,
    instance_types,
    known_regions,
    prices_as_of,
    resolve_ami_alias,
)

_GPU_SIZES = {
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "12xlarge",
    "16xlarge",
    "24xlarge",
    "48xlarge",
}
_INTEL_SEVENTH_GEN = {
    "large",
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "12xlarge",
    "16xlarge",
    "24xlarge",
    "48xlarge",
    "metal-24xl",
    "metal-48xl",
}
_SIXTH_GEN = _INTEL_SEVENTH_GEN - {"48xlarge", "metal-24xl", "metal-48xl"} | {
    "32xlarge",
    "metal",
}
_GRAVITON3 = {
    "medium",
    "large",
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "12xlarge",
    "16xlarge",
    "metal",
}

# Every size AWS sells in each family the catalog promises.
FAMILY_SIZES = {
    "g4dn": {"xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"}
    | {"metal"},
    "g5": _GPU_SIZES,
    "g6": _GPU_SIZES,
    "g6e": _GPU_SIZES,
    "p4d": {"24xlarge"},
    "p4de": {"24xlarge"},
    "p5": {"4xlarge", "48xlarge"},
    "p5e": {"48xlarge"},
    "inf2": {"xlarge", "8xlarge", "24xlarge", "48xlarge"},
    "trn1": {"2xlarge", "32xlarge"},
    "m5": _SIXTH_GEN - {"32xlarge"},
    "m6i": _SIXTH_GEN,
    "m7i": _INTEL_SEVENTH_GEN,
    "m7a": _INTEL_SEVENTH_GEN - {"metal-24xl"} | {"medium", "32xlarge"},
    "c5": {"large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge"}
    | {"18xlarge", "24xlarge", "metal"},
    "c6i": _SIXTH_GEN,
    "c7i": _INTEL_SEVENTH_GEN,
    "r7i": _INTEL_SEVENTH_GEN,
    "c7g": _GRAVITON3,
    "m7g": _GRAVITON3,
}

ACCELERATOR_KIND = {
    **dict.fromkeys(["g4dn", "g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e"], "nvidia"),
    **dict.fromkeys(["inf2", "trn1"], "neuron"),
}
ARM_FAMILIES = {"c7g", "m7g"}
US_REGIONS = {"us-east-1", "us-east-2", "us-west-1", "us-west-2"}

# AWS sells P5e only through Capacity Blocks and reservations, with no On-Demand
# rate to list.
WITHOUT_ON_DEMAND_PRICE = {"p5e.48xlarge"}


def _family(name: str) -> list[InstanceType]:
    return [t for t in instance_types().values() if t.family == name]


@pytest.mark.parametrize("family", sorted(FAMILY_SIZES))
def test_every_family_holds_exactly_its_real_sizes(family):
    sizes = {t.name.split(".", 1)[1] for t in _family(family)}

    assert sizes == FAMILY_SIZES[family]


def test_the_catalog_holds_no_family_beyond_the_promised_ones():
    assert {t.family for t in instance_types().values()} == set(FAMILY_SIZES)


def test_every_accelerated_type_sold_on_demand_has_a_us_east_1_price():
    accelerated = [
        t
        for t in instance_types().values()
        if t.accelerator_kind and t.name not in WITHOUT_ON_DEMAND_PRICE
    ]

    assert accelerated
    for instance in accelerated:
        assert instance.price_per_hour("us-east-1") > 0, instance.name


def test_every_price_is_a_positive_number_of_dollars_per_hour():
    for instance in instance_types().values():
        for region, price in instance.prices.items():
            assert isinstance(price, float), (instance.name, region)
            assert 0 < price < 100, (instance.name, region)


def test_prices_are_given_for_the_four_us_regions():
    assert known_regions() == US_REGIONS


def test_a_bigger_size_costs_more_than_a_smaller_one_with_as_many_accelerators():
    for family in FAMILY_SIZES:
        members = _family(family)
        for small in members:
            for big in members:
                if (
                    big.accelerator_count != small.accelerator_count
                    or big.vcpus <= small.vcpus
                ):
                    continue
                for region in small.prices.keys() & big.prices.keys():
                    assert big.price_per_hour(region) > small.price_per_hour(region), (
                        small.name,
                        big.name,
                        region,
                    )


@pytest.mark.parametrize("family", sorted(FAMILY_SIZES))
def test_the_accelerator_kind_follows_the_family(family):
    for instance in _family(family):
        assert instance.accelerator_kind == ACCELERATOR_KIND.get(family)
        if instance.accelerator_kind is None:
            assert instance.accelerator is None
            assert instance.accelerator_count == 0
            assert instance.accelerator_memory_gib == 0
        else:
            assert instance.accelerator
            assert instance.accelerator_count > 0


def test_graviton_families_are_arm64_and_every_other_family_x86_64():
    for instance in instance_types().values():
        expected = "arm64" if instance.family in ARM_FAMILIES else "x86_64"
        assert instance.architecture == expected, instance.name


@pytest.mark.parametrize(
    ("name", "us_east_1_price"),
    [
        ("g6e.2xlarge", 2.24208),
        ("g6e.4xlarge", 3.00424),
        ("g5.2xlarge", 1.212),
        ("p4d.24xlarge", 21.96),
        ("p5.48xlarge", 55.04),
    ],
)
def test_well_known_prices_match_the_aws_price_list(name, us_east_1_price):
    price = get_instance_type(name).price_per_hour("us-east-1")

    assert price == pytest.approx(us_east_1_price)


@pytest.mark.parametrize(
    ("name", "accelerator", "count", "total_gib"),
    [
        ("g6e.48xlarge", "NVIDIA L40S", 8, 384),
        ("g5.12xlarge", "NVIDIA A10G", 4, 96),
        ("g6.xlarge", "NVIDIA L4", 1, 24),
        ("g4dn.metal", "NVIDIA T4", 8, 128),
        ("p4d.24xlarge", "NVIDIA A100 40GB", 8, 320),
        ("p5.48xlarge", "NVIDIA H100", 8, 640),
        ("p5e.48xlarge", "NVIDIA H200", 8, 1128),
        ("inf2.48xlarge", "AWS Inferentia2", 12, 384),
        ("trn1.32xlarge", "AWS Trainium", 16, 512),
    ],
)
def test_accelerator_memory_is_the_total_over_all_accelerators(
    name, accelerator, count, total_gib
):
    instance = get_instance_type(name)

    assert instance.accelerator == accelerator
    assert instance.accelerator_count == count
    assert instance.accelerator_memory_gib == total_gib


def test_a_misspelt_name_gets_a_did_you_mean():
    with pytest.raises(UnknownInstanceType) as caught:
        get_instance_type("g6e.2xlage")

    assert caught.value.name == "g6e.2xlage"
    assert caught.value.suggestions[0] == "g6e.2xlarge"
    assert len(caught.value.suggestions) <= 3
    message = str(caught.value)
    assert message.startswith(
        "unknown instance type 'g6e.2xlage'; did you mean 'g6e.2xlarge'"
    )
    assert "known families: c5, c6i," in message


def test_names_match_exactly_and_an_uppercase_name_suggests_its_lowercase_form():
    with pytest.raises(UnknownInstanceType) as caught:
        get_instance_type("G6E.2XLARGE")

    assert caught.value.suggestions[0] == "g6e.2xlarge"


def test_a_bare_family_name_suggests_sizes_of_that_family():
    with pytest.raises(UnknownInstanceType) as caught:
        get_instance_type("g6e")

    assert caught.value.suggestions
    assert all(s.startswith("g6e.") for s in caught.value.suggestions)


def test_an_unrelated_name_lists_the_families_and_where_to_add_a_type():
    with pytest.raises(UnknownInstanceType) as caught:
        get_instance_type("x9z.huge")

    assert caught.value.suggestions == ()
    assert "known families: " in str(caught.value)
    assert str(caught.value).endswith("add it to models/data/instances.yaml")


def test_a_region_without_the_type_names_the_regions_that_have_it():
    instance = get_instance_type("g6e.2xlarge")

    with pytest.raises(PriceUnknown) as caught:
        instance.price_per_hour("us-west-1")

    error = caught.value
    assert (error.instance_type, error.region) == ("g6e.2xlarge", "us-west-1")
    assert error.priced_regions == ("us-east-1", "us-east-2", "us-west-2")
    assert "it has prices in us-east-1, us-east-2, us-west-2" in str(error)
    assert "pick one of those regions" in str(error)
    assert "models/data/instances.yaml" in str(error)


def test_a_type_without_any_on_demand_price_says_where_to_add_one():
    with pytest.raises(PriceUnknown) as caught:
        get_instance_type("p5e.48xlarge").price_per_hour("us-east-2")

    assert caught.value.priced_regions == ()
    assert "in any region" in str(caught.value)
    assert "models/data/instances.yaml" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "alias"),
    [
        ("g6e.2xlarge", "gpu"),
        ("p5.48xlarge", "gpu"),
        ("inf2.xlarge", "neuron"),
        ("trn1.32xlarge", "neuron"),
        ("m7i.large", "cpu"),
        ("c7g.xlarge", "arm"),
        ("m7g.metal", "arm"),
    ],
)
def test_the_default_ami_alias_follows_the_accelerator_and_architecture(name, alias):
    assert get_instance_type(name).ami_alias == alias


def test_every_type_default_alias_resolves_for_its_own_architecture():
    for instance in instance_types().values():
        parameter = resolve_ami_alias(instance.ami_alias, instance.architecture)

        assert parameter.startswith("/aws/service/"), instance.name


@pytest.mark.parametrize(
    ("alias", "architecture", "parameter"),
    [
        (
            "gpu",
            "x86_64",
            "/aws/service/deeplearning/ami/x86_64/"
            "base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id",
        ),
        (
            "gpu",
            "arm64",
            "/aws/service/deeplearning/ami/arm64/"
            "base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id",
        ),
        (
            "neuron",
            "x86_64",
            "/aws/service/neuron/dlami/multi-framework/ubuntu-22.04/latest/image_id",
        ),
        (
            "cpu",
            "x86_64",
            "/aws/service/canonical/ubuntu/server/22.04/stable/current/"
            "amd64/hvm/ebs-gp2/ami-id",
        ),
        (
            "arm",
            "arm64",
            "/aws/service/canonical/ubuntu/server/22.04/stable/current/"
            "arm64/hvm/ebs-gp2/ami-id",
        ),
    ],
)
def test_an_alias_resolves_to_its_public_ssm_parameter(alias, architecture, parameter):
    assert resolve_ami_alias(alias, architecture) == parameter


@pytest.mark.parametrize(
    ("alias", "architecture", "use_instead"),
    [("cpu", "arm64", "arm"), ("neuron", "arm64", "arm"), ("arm", "x86_64", "cpu")],
)
def test_an_alias_for_the_other_architecture_is_refused_with_the_alias_to_use(
    alias, architecture, use_instead
):
    with pytest.raises(AmiAliasMismatch) as caught:
        resolve_ami_alias(alias, architecture)

    error = caught.value
    assert (error.alias, error.architecture) == (alias, architecture)
    assert error.use_instead == use_instead
    assert f"AMI alias {alias!r} has no {architecture} image" in str(error)
    assert f"use the {use_instead!r} alias" in str(error)


def test_an_unknown_alias_lists_the_aliases():
    with pytest.raises(ValueError, match="use one of: gpu, cpu, neuron, arm"):
        resolve_ami_alias("ubuntu", "x86_64")


def test_every_alias_logs_in_as_ubuntu():
    assert AMI_ALIASES == ("gpu", "cpu", "neuron", "arm")
    assert AMI_ALIAS_SSH_USER == "ubuntu"


def test_the_catalog_states_its_price_source_and_date():
    assert "AWS EC2 On-Demand pricing pages" in catalog_source()
    assert "Linux" in catalog_source()
    assert isinstance(prices_as_of(), date)
    assert prices_as_of().isoformat() in catalog_source()


def test_callers_cannot_change_the_shared_catalog():
    instance = get_instance_type("g5.xlarge")

    with pytest.raises(TypeError):
        instance_types()["g5.xlarge"] = instance  # type: ignore[index]
    with pytest.raises(TypeError):
        instance.prices["us-east-1"] = 0.0  # type: ignore[index]
    with pytest.raises(ValidationError):
        instance.vcpus = 1  # type: ignore[misc]


def test_the_data_file_is_read_once():
    assert instance_types() is instance_types()


def test_an_instance_type_round_trips_through_json():
    instance = get_instance_type("g6e.2xlarge")

    again = InstanceType.model_validate_json(instance.model_dump_json())

    assert again == instance
    assert again.price_per_hour("us-east-2") == instance.price_per_hour("us-east-2")


_BROKEN_HEADER = """\
source: AWS EC2 On-Demand pricing pages (Linux, shared tenancy)
prices_as_of: 2025-09-01
families:
"""


@pytest.mark.parametrize(
    ("families", "named"),
    [
        (
            "  m5:\n    architecture: x86_64\n    accelerator: null\n    types:\n"
            "      m5.large: {vcpus: 2, memory_gib: 8, prices: {us-east1: 0.096}}\n",
            "m5.large",
        ),
        (
            "  m5:\n    architecture: x86_64\n    accelerator: null\n    types:\n"
            "      m5.large: {vcpus: 2, memory_gib: 8, accelerators: 1, prices: {}}\n",
            "m5.large",
        ),
        (
            "  g5:\n    architecture: x86_64\n    accelerator: null\n    types:\n"
            "      g6.xlarge: {vcpus: 4, memory_gib: 16, prices: {}}\n",
            "g6.xlarge",
        ),
    ],
)
def test_a_broken_edit_of_the_data_file_names_the_entry_to_fix(families, named):
    with pytest.raises(CatalogInvalid) as caught:
        catalog._parse_catalog(_BROKEN_HEADER + families)

    assert "models/data/instances.yaml is invalid" in str(caught.value)
    assert named in str(caught.value)
