"""The campaign models: the defaults a user gets without writing them."""

from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from fmbench_orch.models.benchmark import (
    DEFAULT_BENCHMARK_TIMEOUT_SECONDS,
    DEFAULT_FMBENCH_VERSION,
    CommandBenchmark,
    FmbenchBenchmark,
    github_owner_repo,
)
from fmbench_orch.models.campaign import DEFAULT_TTL, CampaignConfig
from fmbench_orch.models.catalog import AMI_ALIAS_SSH_USER
from fmbench_orch.models.errors import ConfigError
from fmbench_orch.models.fields import MAX_TTL
from fmbench_orch.models.loader import load_campaign

EXAMPLES = Path(__file__).parents[2] / "examples"
SHORTHAND = "fmbench:llama3/8b/config-ec2-llama3-8b-g6e-2xlarge.yml"


def load(tmp_path: Path, text: str) -> CampaignConfig:
    path = tmp_path / "campaign.yml"
    path.write_text(dedent(text))
    return load_campaign(path, environ={})


def campaign(**fields: object) -> CampaignConfig:
    """A valid one-host campaign with `fields` on top."""
    document = {
        "name": "unit",
        "hosts": [
            {
                "instance_type": "g6e.2xlarge",
                "benchmarks": [{"driver": "command", "run": "true"}],
            }
        ],
        **fields,
    }
    return CampaignConfig.model_validate(document)


def host(**fields: object) -> dict[str, object]:
    return {
        "instance_type": "g6e.2xlarge",
        "benchmarks": [{"driver": "command", "run": "true"}],
        **fields,
    }


# --- defaults: merged under every host --------------------------------------


def test_defaults_merge_under_every_host_and_the_host_wins(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """
        name: merged
        defaults:
          spot: true
          storage: {size_gib: 500, volume_type: gp3}
          benchmarks: [{driver: command, run: "true"}]
        hosts:
          - instance_type: g6e.2xlarge
          - instance_type: g6e.4xlarge
            spot: false
            storage: {size_gib: 100}
        """,
    )

    first, second = loaded.hosts
    assert (first.spot, first.storage.size_gib) == (True, 500)
    assert (second.spot, second.storage.size_gib) == (False, 100)
    assert second.storage.volume_type == "gp3"  # mappings merge key by key
    assert [len(h.benchmarks) for h in loaded.hosts] == [1, 1]


def test_a_host_list_replaces_the_default_list(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """
        name: lists
        defaults:
          benchmarks: [{name: a, driver: command, run: "true"}]
        hosts:
          - instance_type: g6e.2xlarge
            benchmarks: [{name: b, driver: command, run: "true"}]
        """,
    )

    assert [b.name for b in loaded.hosts[0].benchmarks] == ["b"]


def test_yaml_anchors_and_merge_keys_work_as_in_legacy_files(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """
        name: anchors
        hosts:
          - &g6e
            instance_type: g6e.2xlarge
            storage: {size_gib: 300}
            benchmarks: &sweep
              - {name: sweep, driver: command, run: "true", batch_sizes: [1, 8]}
          - <<: *g6e
            name: second
            storage: {size_gib: 120}
          - instance_type: g4dn.xlarge
            benchmarks: *sweep
        """,
    )

    assert [h.name for h in loaded.hosts] == ["g6e-2xlarge", "second", "g4dn-xlarge"]
    assert [h.instance_type for h in loaded.hosts][:2] == ["g6e.2xlarge"] * 2
    assert [h.storage.size_gib for h in loaded.hosts] == [300, 120, 250]
    assert all(h.benchmarks[0].batch_sizes == [1, 8] for h in loaded.hosts)


def test_the_quickstart_example_shares_its_benchmark_through_defaults() -> None:
    loaded = load_campaign(EXAMPLES / "quickstart.yml")

    assert [h.name for h in loaded.hosts] == [
        "g6e-2xlarge",
        "g5-2xlarge",
        "g4dn-xlarge",
    ]
    for each in loaded.hosts:
        assert [b.name for b in each.benchmarks] == ["sweep"]
        assert each.upload_files[0].local == EXAMPLES / "workloads" / "sweep.py"


# --- names ---------------------------------------------------------------------


def test_a_host_without_a_name_is_named_after_its_instance_type() -> None:
    loaded = campaign(hosts=[host(instance_type="p4de.24xlarge")])

    assert loaded.hosts[0].name == "p4de-24xlarge"


def test_count_expands_into_numbered_hosts() -> None:
    loaded = campaign(hosts=[host(name="gpu", count=3), host(name="cpu")])

    assert loaded.hosts[0].expanded_names() == ["gpu-1", "gpu-2", "gpu-3"]
    assert loaded.hosts[1].expanded_names() == ["cpu"]


def test_a_one_letter_name_is_a_valid_slug() -> None:
    assert campaign(name="a", hosts=[host(name="b")]).hosts[0].name == "b"


@pytest.mark.parametrize("name", ["-gpu", "gpu-", "GPU", "gpu_1", "gpu--1", "9gpu"])
def test_a_name_that_is_not_a_slug_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="lowercase letters, digits"):
        campaign(hosts=[host(name=name)])


def test_unnamed_benchmarks_are_named_from_their_config_or_position() -> None:
    loaded = campaign(
        hosts=[
            host(
                benchmarks=[
                    {"driver": "fmbench", "config": SHORTHAND},
                    {"driver": "command", "run": "true"},
                    {"driver": "fmbench", "config": "https://x.test/1-config.yml"},
                ]
            )
        ]
    )

    assert [b.name for b in loaded.hosts[0].benchmarks] == [
        "config-ec2-llama3-8b-g6e-2xlarge",
        "command-2",
        "fmbench-3",  # a stem starting with a digit is no slug
    ]


# --- images and users ----------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_type", "alias"),
    [
        ("g6e.2xlarge", "gpu"),
        ("p5.48xlarge", "gpu"),
        ("inf2.xlarge", "neuron"),
        ("trn1.2xlarge", "neuron"),
        ("m7i.large", "cpu"),
        ("c7g.xlarge", "arm"),
    ],
)
def test_the_default_ami_alias_fits_the_accelerator_and_architecture(
    instance_type: str, alias: str
) -> None:
    loaded = campaign(hosts=[host(instance_type=instance_type)])

    assert loaded.hosts[0].ami == alias


def test_an_alias_logs_in_as_ubuntu_unless_told_otherwise() -> None:
    loaded = campaign(hosts=[host(name="a"), host(name="b", ssh_user="admin")])

    assert [h.ssh_user for h in loaded.hosts] == [AMI_ALIAS_SSH_USER, "admin"]


def test_an_explicit_ami_keeps_the_ssh_user_given() -> None:
    loaded = campaign(
        hosts=[host(ami="ami-0123456789abcdef0", ssh_user="ec2-user")],
    )

    assert (loaded.hosts[0].ami, loaded.hosts[0].ssh_user) == (
        "ami-0123456789abcdef0",
        "ec2-user",
    )


def test_a_host_without_a_region_takes_the_campaigns() -> None:
    loaded = campaign(region="us-west-2", hosts=[host(name="a"), host(name="b")])
    loaded_own = campaign(hosts=[host(region="us-east-2")])

    assert [h.region for h in loaded.hosts] == ["us-west-2", "us-west-2"]
    assert loaded_own.hosts[0].region == "us-east-2"


# --- ttl -----------------------------------------------------------------------


def test_ttl_defaults_to_six_hours_without_a_budget() -> None:
    assert campaign().ttl == DEFAULT_TTL == timedelta(hours=6)


def test_ttl_defaults_to_the_budgets_max_hours() -> None:
    loaded = campaign(budget={"max_usd_per_hour": 10, "max_hours": 1.5})

    assert loaded.ttl == timedelta(minutes=90)


def test_ttl_from_a_long_budget_is_capped_at_a_week() -> None:
    loaded = campaign(budget={"max_usd_per_hour": 10, "max_hours": 1000})

    assert loaded.ttl == MAX_TTL


@pytest.mark.parametrize(
    ("written", "expected"),
    [("90m", timedelta(minutes=90)), ("1h30m", timedelta(minutes=90)), (600, 600)],
)
def test_ttl_reads_durations_as_people_write_them(
    written: object, expected: object
) -> None:
    if isinstance(expected, int):
        expected = timedelta(seconds=expected)

    assert campaign(ttl=written).ttl == expected


def test_an_explicit_ttl_within_the_budget_is_kept() -> None:
    loaded = campaign(ttl="1h", budget={"max_usd_per_hour": 10, "max_hours": 2})

    assert loaded.ttl == timedelta(hours=1)


# --- benchmarks ----------------------------------------------------------------


def test_fmbench_defaults_to_the_pinned_pypi_version() -> None:
    benchmark = (
        campaign(hosts=[host(benchmarks=[{"driver": "fmbench", "config": SHORTHAND}])])
        .hosts[0]
        .benchmarks[0]
    )

    assert isinstance(benchmark, FmbenchBenchmark)
    assert benchmark.version == DEFAULT_FMBENCH_VERSION
    assert (benchmark.repo, benchmark.ref) == (None, None)
    assert benchmark.local_mode is True


def test_fmbench_from_a_repository_gets_no_version() -> None:
    benchmark = (
        campaign(
            hosts=[
                host(
                    benchmarks=[
                        {
                            "driver": "fmbench",
                            "config": SHORTHAND,
                            "repo": "https://github.com/me/fmbench.git",
                            "ref": "my-branch",
                        }
                    ]
                )
            ]
        )
        .hosts[0]
        .benchmarks[0]
    )

    assert isinstance(benchmark, FmbenchBenchmark)
    assert (benchmark.version, benchmark.ref) == (None, "my-branch")


def test_a_command_benchmark_gets_the_default_timeout_and_results_dir() -> None:
    benchmark = campaign().hosts[0].benchmarks[0]

    assert isinstance(benchmark, CommandBenchmark)
    assert benchmark.timeout_seconds == DEFAULT_BENCHMARK_TIMEOUT_SECONDS
    assert benchmark.results == "results"


def test_a_local_fmbench_config_is_resolved_against_the_campaign_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yml").write_text("general: {}\n")

    loaded = load(
        tmp_path,
        """
        name: local-config
        hosts:
          - instance_type: g6e.2xlarge
            benchmarks: [{driver: fmbench, config: configs/mine.yml}]
        """,
    )

    assert loaded.hosts[0].benchmarks[0].config == str(tmp_path / "configs/mine.yml")


# --- storage -------------------------------------------------------------------


def test_gp2_volumes_drop_the_default_iops() -> None:
    loaded = campaign(hosts=[host(storage={"volume_type": "gp2"})])

    assert loaded.hosts[0].storage.iops is None


def test_the_default_volume_is_250_gib_encrypted_gp3() -> None:
    storage = campaign().hosts[0].storage

    assert (storage.size_gib, storage.volume_type, storage.encrypted) == (
        250,
        "gp3",
        True,
    )


# --- permissions -----------------------------------------------------------------


def test_a_campaign_asks_for_no_permissions_unless_it_says_so() -> None:
    assert campaign().permissions is None


def test_an_aws_campaign_keeps_the_permissions_it_asks_for(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """
        name: sagemaker
        provider: aws
        permissions:
          managed_policies: [arn:aws:iam::aws:policy/AmazonSageMakerFullAccess]
          statements:
            - {effect: Allow, actions: [bedrock:InvokeModel], resources: ["*"]}
          sagemaker_execution_role: true
        hosts:
          - instance_type: g6e.2xlarge
            benchmarks: [{driver: command, run: "true"}]
        """,
    )

    assert loaded.permissions is not None
    assert loaded.permissions.sagemaker_execution_role is True
    assert loaded.permissions.statements[0].actions == ["bedrock:InvokeModel"]


def test_an_empty_permissions_block_is_fine_on_any_provider() -> None:
    loaded = campaign(permissions={"sagemaker_execution_role": False})

    assert loaded.permissions is not None and loaded.permissions.is_empty


def test_permissions_on_hosts_the_tool_does_not_create_are_refused() -> None:
    static = host(static={"address": "10.0.0.5", "key_file": __file__})

    with pytest.raises(ValueError, match="they need provider: aws") as caught:
        campaign(
            provider="static",
            hosts=[static],
            permissions={"sagemaker_execution_role": True},
        )

    assert "this campaign uses provider static" in str(caught.value)


# --- errors a user meets while writing -------------------------------------------


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            """
            name: Two-Problems
            hosts:
              - instance_type: g6e.2xlarge
                benchmarks: [{driver: command, run: "true", timeout_seconds: 0}]
            """,
        )

    assert [p.path for p in caught.value.problems] == [
        "name",
        "hosts[0].benchmarks[0].timeout_seconds",
    ]


@pytest.mark.parametrize(
    ("repository", "owner_repo"),
    [
        ("https://github.com/aws-samples/fmbench", "aws-samples/fmbench"),
        ("https://github.com/me/fmbench.git", "me/fmbench"),
        ("git@github.com:me/fm.bench.git", "me/fm.bench"),
        ("https://gitlab.com/me/fmbench", None),
    ],
)
def test_github_repositories_are_recognised_by_owner_and_name(
    repository: str, owner_repo: str | None
) -> None:
    assert github_owner_repo(repository) == owner_repo


def test_gp3_iops_default_to_the_legacy_16000_or_what_a_small_volume_allows():
    from fmbench_orch.models.host import Storage

    assert Storage().iops == 16000
    assert Storage(size_gib=20).iops == 10000
    assert Storage(size_gib=8).iops == 4000
    assert Storage(volume_type="gp2").iops is None
