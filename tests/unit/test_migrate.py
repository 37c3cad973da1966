"""`fmbench-orch migrate`, as someone moving off the legacy orchestrator meets it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fmbench_orch.models.errors import ConfigError
from fmbench_orch.models.legacy import LegacyText
from fmbench_orch.models.legacy_keys import LEGACY_KEYS, LEGACY_KEYS_BY_NAME
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.models.migrate import (
    MigrateOptions,
    Migration,
    migrate_legacy,
    render_campaign,
    static_output_path,
)
from fmbench_orch.orchestrator.cli import Cli, validate
from fmbench_orch.orchestrator.commands.migrate import migrate
from fmbench_orch.orchestrator.errors import ExitCode

LEGACY_ROOT = Path(__file__).parents[1] / "fixtures" / "legacy"
LEGACY_CONFIGS = LEGACY_ROOT / "configs"
SHORTHAND = "fmbench:llama3/8b/config-ec2-llama3-8b-g6e-2xlarge.yml"
AMI_MAPPING = """\
us-east-1:
  gpu: ami-0aaaaaaaaaaaaaaa1
  cpu: ami-0aaaaaaaaaaaaaaa2
  neuron: ami-0aaaaaaaaaaaaaaa3
us-west-2: {gpu: ami-0bbbbbbbbbbbbbbb1, cpu: ami-0bbbbbbbbbbbbbbb2}
"""
ONE_HOST = f"""\
- instance_type: g6e.2xlarge
  ami_id: {{{{gpu}}}}
  fmbench_config: {SHORTHAND}
"""

# The legacy keys FMBENCH.md lists under "Legacy campaign files".
DOCUMENTED_LEGACY_KEYS = [
    "general.name",
    "instances[].instance_type",
    "instances[].deploy",
    "instances[].region",
    "instances[].ami_id",
    "instances[].device_name",
    "instances[].ebs_del_on_termination",
    "instances[].ebs_Iops",
    "instances[].ebs_VolumeSize",
    "instances[].ebs_VolumeType",
    "instances[].CapacityReservationPreference",
    "instances[].CapacityReservationId",
    "instances[].CapacityReservationResourceGroupArn",
    "instances[].startup_script",
    "instances[].post_startup_script",
    "instances[].post_startup_script_params",
    "instances[].fmbench_complete_timeout",
    "instances[].fmbench_config",
    "instances[].upload_files",
    "instances[].instance_id",
    "instances[].private_key_fname",
    "instances[].post_startup_script_params.local_mode",
    "instances[].post_startup_script_params.write_bucket",
    "instances[].post_startup_script_params.additional_args",
    "instances[].upload_files[].local",
    "instances[].upload_files[].remote",
    "aws.hf_token_fpath",
    "aws.region",
    "run_steps.security_group_creation",
    "run_steps.key_pair_generation",
    "run_steps.deploy_ec2_instance",
    "run_steps.delete_ec2_instance",
    "security_group.group_name",
    "security_group.description",
    "security_group.vpc_id",
    "key_pair_gen.key_pair_name",
]


def run_migrate(
    tmp_path: Path,
    instances: str = ONE_HOST,
    *,
    config_extra: str = "",
    infra: str = "",
    ami_mapping: str = AMI_MAPPING,
    name: str = "llama3-8b",
    **options: str,
) -> Migration:
    """Migrate a legacy trio written inline; the campaign goes to tmp/out/."""
    config = f"general:\n  name: {name}\n{config_extra}instances:\n{instances}"
    return migrate_legacy(
        LegacyText(tmp_path / "config.yml", config),
        LegacyText(tmp_path / "infra.yml", infra),
        LegacyText(tmp_path / "ami_mapping.yml", ami_mapping),
        MigrateOptions(
            output=tmp_path / "out" / "campaign.yml",
            legacy_root=tmp_path,
            **options,
        ),
    )


def migrate_fixture(output: Path, **options: str) -> Migration:
    return migrate_legacy(
        *(
            LegacyText(path, path.read_text())
            for path in (
                LEGACY_CONFIGS / "config.yml",
                LEGACY_CONFIGS / "infra.yml",
                LEGACY_CONFIGS / "ami_mapping.yml",
            )
        ),
        MigrateOptions(
            **{
                "output": output,
                "legacy_root": LEGACY_ROOT,
                "config_file": "fmbench_configs/config-llama3-8b-g6e-4xl-custom.yml",
                "write_bucket": "my-fmbench-results",
                **options,
            }
        ),
    )


def notes_about(migration: Migration, *words: str) -> list[str]:
    return [note for note in migration.notes if all(w in note for w in words)]


def host(migration: Migration, index: int = 0) -> dict:
    return migration.campaign["hosts"][index]


def write_and_load(migration: Migration, output: Path, **environ: str):
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_campaign(migration.campaign, migration.notes, []))
    return load_campaign(output, environ=environ)


# --- the whole legacy trio ------------------------------------------------------------


def test_the_legacy_fixture_becomes_an_aws_campaign_and_a_static_one_that_validate(
    tmp_path: Path,
) -> None:
    output = tmp_path / "migrated" / "campaign.yml"
    migration = migrate_fixture(output)

    campaign = write_and_load(migration, output)
    static_path = static_output_path(output)
    static_path.write_text(render_campaign(migration.static_campaign, [], []))
    static = load_campaign(
        static_path, environ={"FMBENCH_HOST_4_ADDRESS": "203.0.113.9"}
    )

    assert campaign.provider == "aws"
    assert [h.instance_type for h in campaign.hosts] == ["g6e.2xlarge", "g6e.4xlarge"]
    assert static.provider == "static"
    assert static_path.name == "campaign-static.yml"
    assert static.hosts[0].static.address == "203.0.113.9"
    assert not notes_about(migration, "not a key migrate knows")


def test_the_written_file_starts_with_a_header_naming_its_sources_and_notes(
    tmp_path: Path,
) -> None:
    migration = run_migrate(tmp_path, name="Llama3 8B")

    text = render_campaign(migration.campaign, migration.notes, [Path("config.yml")])

    header = text.split("\n\n")[0]
    assert "Migrated by `fmbench-orch migrate`" in header
    assert "#   config.yml" in header
    assert "llama3-8b" in header
    assert all(len(line) <= 88 for line in text.splitlines() if line.startswith("#"))


# --- general --------------------------------------------------------------------------


def test_general_name_becomes_a_slug_campaign_name_and_the_change_is_noted(
    tmp_path: Path,
) -> None:
    migration = run_migrate(tmp_path, name="Llama3_8B on G6E!")

    assert migration.campaign["name"] == "llama3-8b-on-g6e"
    assert notes_about(migration, "general.name", "llama3-8b-on-g6e")


def test_a_legacy_file_without_general_name_is_refused_naming_the_key(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as raised:
        run_migrate(tmp_path, name="''")

    assert raised.value.source == tmp_path / "config.yml"
    assert "general.name" in raised.value.render()


# --- instances: the basics ------------------------------------------------------------


def test_created_instances_become_aws_hosts_keeping_type_and_other_regions(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST + textwrap.dedent(f"""\
        - instance_type: g6e.4xlarge
          region: us-west-2
          ami_id: ami-0123456789abcdef0
          fmbench_config: {SHORTHAND}
        """)

    migration = run_migrate(tmp_path, instances, region="us-east-1")

    assert migration.campaign["provider"] == "aws"
    assert migration.campaign["region"] == "us-east-1"
    assert host(migration, 0)["instance_type"] == "g6e.2xlarge"
    assert "region" not in host(migration, 0)
    assert host(migration, 1)["region"] == "us-west-2"


def test_an_unknown_instance_type_is_refused_with_the_legacy_file_and_line(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST.replace("g6e.2xlarge", "g6e.2xlargee")

    with pytest.raises(ConfigError) as raised:
        run_migrate(tmp_path, instances)

    problem = raised.value.problems[0]
    assert raised.value.source == tmp_path / "config.yml"
    assert problem.path == "instances[0].instance_type"
    assert problem.line == 4
    assert "g6e.2xlarge" in problem.message  # the close name it offers


def test_two_created_hosts_of_one_type_get_numbered_names(tmp_path: Path) -> None:
    migration = run_migrate(tmp_path, ONE_HOST + ONE_HOST)

    assert [h["name"] for h in migration.campaign["hosts"]] == [
        "g6e-2xlarge-1",
        "g6e-2xlarge-2",
    ]


# --- AMI placeholders -----------------------------------------------------------------


def test_an_ami_alias_placeholder_becomes_the_portable_alias_and_says_so(
    tmp_path: Path,
) -> None:
    migration = run_migrate(tmp_path)

    assert host(migration)["ami"] == "gpu"
    assert notes_about(migration, "{{gpu}}", "alias `gpu`", "ami-0aaaaaaaaaaaaaaa1")


def test_a_fixed_ami_id_is_kept_with_the_login_user_its_startup_script_implies(
    tmp_path: Path,
) -> None:
    instances = textwrap.dedent(f"""\
        - instance_type: inf2.xlarge
          ami_id: ami-0123456789abcdef0
          startup_script: startup_scripts/neuron_al2_startup.txt
          fmbench_config: {SHORTHAND}
        """)

    migration = run_migrate(tmp_path, instances)

    assert host(migration)["ami"] == "ami-0123456789abcdef0"
    assert host(migration)["ssh_user"] == "ec2-user"
    assert notes_about(migration, "ssh_user ec2-user", "neuron_al2_startup.txt")


def test_an_alias_placeholder_outside_ami_id_gets_the_regions_ami_from_the_mapping(
    tmp_path: Path,
) -> None:
    migration = run_migrate(
        tmp_path,
        config_extra="aws:\n  region: us-west-2\n",
        instances=ONE_HOST
        + '  post_startup_script_params: {additional_args: "-A ami={{cpu}}"}\n',
    )

    assert host(migration)["benchmarks"][0]["args"] == {"ami": "ami-0bbbbbbbbbbbbbbb2"}


def test_an_alias_the_mapping_lacks_for_the_region_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    instances = (
        ONE_HOST
        + '  post_startup_script_params: {additional_args: "-A ami={{neuron}}"}\n'
    )

    with pytest.raises(ConfigError) as raised:
        run_migrate(tmp_path, instances, region="us-west-2")

    assert "ami_mapping.yml" in raised.value.render()
    assert "neuron" in raised.value.render()


# --- placeholders ---------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["{{region}}", "{{ region }}", "{{  region}}"])
def test_placeholders_are_substituted_with_or_without_spaces(
    tmp_path: Path, spelling: str
) -> None:
    instances = ONE_HOST.replace("{{gpu}}", "{{ gpu }}") + f"  region: {spelling}\n"

    migration = run_migrate(tmp_path, instances, region="us-west-2")

    assert migration.campaign["region"] == "us-west-2"
    assert "region" not in host(migration)
    assert host(migration)["ami"] == "gpu"


def test_an_unknown_placeholder_is_refused_naming_it_the_file_and_the_line(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST + "  device_name: {{ root_device }}\n"

    with pytest.raises(ConfigError) as raised:
        run_migrate(tmp_path, instances)

    problem = raised.value.problems[0]
    assert raised.value.source == tmp_path / "config.yml"
    assert problem.line == 7
    assert "{{root_device}}" in problem.message


def test_placeholders_in_comment_lines_are_left_alone(tmp_path: Path) -> None:
    instances = "# e.g. ami_id: {{ my_own_ami }}\n" + ONE_HOST

    migration = run_migrate(tmp_path, instances)

    assert host(migration)["ami"] == "gpu"


def test_config_file_placeholder_without_the_option_is_refused_naming_the_flag(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST.replace(SHORTHAND, '"{{config_file}}"')

    with pytest.raises(ConfigError) as raised:
        run_migrate(tmp_path, instances)

    problem = raised.value.problems[0]
    assert problem.path == "instances[0].fmbench_config"
    assert problem.line == 6
    assert "--config-file" in problem.message


def test_config_file_and_write_bucket_take_the_values_of_their_options(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST.replace(SHORTHAND, '"{{config_file}}"') + (
        '  post_startup_script_params: {write_bucket: "{{write_bucket}}"}\n'
    )

    migration = run_migrate(
        tmp_path, instances, config_file=SHORTHAND, write_bucket="team-results"
    )

    benchmark = host(migration)["benchmarks"][0]
    assert benchmark["config"] == SHORTHAND
    assert benchmark["write_bucket"] == "team-results"


# --- merging config.yml and infra.yml -------------------------------------------------


def test_infra_yml_wins_over_config_yml_on_a_duplicate_top_level_key(
    tmp_path: Path,
) -> None:
    config_aws = "aws:\n  region: us-west-2\n  hf_token_fpath: config-token.txt\n"
    infra = "aws:\n  region: us-east-2\n"

    migration = run_migrate(tmp_path, config_extra=config_aws, infra=infra)

    assert migration.campaign["region"] == "us-east-2"
    assert "upload_files" not in host(migration)  # config.yml's aws is replaced


def test_a_literal_aws_region_is_used_over_the_region_option_and_noted(
    tmp_path: Path,
) -> None:
    migration = run_migrate(
        tmp_path, infra="aws:\n  region: us-west-2\n", region="us-east-2"
    )

    assert migration.campaign["region"] == "us-west-2"
    assert notes_about(migration, "--region was ignored")


def test_region_placeholder_in_aws_region_takes_the_option_else_us_east_1(
    tmp_path: Path,
) -> None:
    infra = "aws:\n  region: {{region}}\n"

    chosen = run_migrate(tmp_path, infra=infra, region="us-west-2")
    default = run_migrate(tmp_path, infra=infra)

    assert chosen.campaign["region"] == "us-west-2"
    assert default.campaign["region"] == "us-east-1"


# --- EBS ------------------------------------------------------------------------------


def test_ebs_keys_become_storage_and_a_kept_volume_is_noted_as_deleted_now(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST + textwrap.indent(
        "device_name: /dev/xvda\nebs_VolumeSize: 500\nebs_VolumeType: io2\n"
        "ebs_Iops: 20000\nebs_del_on_termination: False\n",
        "  ",
    )

    migration = run_migrate(tmp_path, instances)

    assert host(migration)["storage"] == {
        "device_name": "/dev/xvda",
        "size_gib": 500,
        "volume_type": "io2",
        "iops": 20000,
    }
    assert notes_about(migration, "instances[0]", "ebs_del_on_termination was false")


def test_storage_every_host_shares_moves_to_defaults(tmp_path: Path) -> None:
    ebs = "  ebs_VolumeType: gp3\n  ebs_Iops: 16000\n"
    instances = (ONE_HOST + ebs + "  ebs_VolumeSize: 250\n") + (
        ONE_HOST.replace("2xlarge", "4xlarge") + ebs + "  ebs_VolumeSize: 500\n"
    )

    migration = run_migrate(tmp_path, instances)

    defaults = migration.campaign["defaults"]
    assert defaults["storage"] == {"volume_type": "gp3", "iops": 16000}
    assert defaults["ami"] == "gpu"
    assert [h["storage"] for h in migration.campaign["hosts"]] == [
        {"size_gib": 250},
        {"size_gib": 500},
    ]


def test_a_value_the_new_format_refuses_is_reported_at_its_legacy_instance(
    tmp_path: Path,
) -> None:
    instances = (
        ONE_HOST + ONE_HOST.replace("2xlarge", "4xlarge") + ("  ebs_VolumeType: st1\n")
    )

    with pytest.raises(ConfigError) as raised:
        run_migrate(tmp_path, instances)

    problem = raised.value.problems[0]
    assert raised.value.source == tmp_path / "config.yml"
    assert problem.path == "instances[1].ebs_VolumeType"
    assert problem.line == 10
    assert "hosts[1].storage.volume_type" in problem.message


# --- capacity reservations ------------------------------------------------------------


def test_capacity_reservation_keys_become_capacity_with_a_lowercase_preference(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST + (
        "  CapacityReservationPreference: Open\n"
        "  CapacityReservationResourceGroupArn: "
        "arn:aws:resource-groups:us-east-1:111122223333:group/gpus\n"
    )

    migration = run_migrate(tmp_path, instances)

    assert host(migration)["capacity"] == {
        "resource_group_arn": "arn:aws:resource-groups:us-east-1:111122223333:"
        "group/gpus",
        "preference": "open",
    }


def test_a_reservation_id_wins_over_a_group_arn_and_the_arn_is_noted(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST + (
        "  CapacityReservationId: cr-0123456789abcdef0\n"
        "  CapacityReservationResourceGroupArn: arn:aws:resource-groups:x\n"
    )

    migration = run_migrate(tmp_path, instances)

    assert host(migration)["capacity"] == {"reservation_id": "cr-0123456789abcdef0"}
    assert notes_about(migration, "CapacityReservationResourceGroupArn dropped")


def test_a_capacity_preference_aws_does_not_know_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="open or none"):
        run_migrate(tmp_path, ONE_HOST + "  CapacityReservationPreference: maybe\n")


# --- fmbench_config and its timeout ---------------------------------------------------


def test_one_fmbench_config_string_becomes_one_benchmark_with_the_timeout(
    tmp_path: Path,
) -> None:
    migration = run_migrate(tmp_path, ONE_HOST + "  fmbench_complete_timeout: 2400\n")

    assert host(migration)["benchmarks"] == [
        {"driver": "fmbench", "config": SHORTHAND, "timeout_seconds": 2400}
    ]


def test_a_list_of_fmbench_configs_runs_in_sequence_each_with_the_timeout(
    tmp_path: Path,
) -> None:
    raw = (
        "https://raw.githubusercontent.com/aws-samples/foundation-model-"
        "benchmarking-tool/refs/heads/main/fmbench/configs/llama3/8b/tp2.yml"
    )
    instances = textwrap.dedent(f"""\
        - instance_type: g6e.12xlarge
          ami_id: {{{{gpu}}}}
          fmbench_complete_timeout: 5400
          fmbench_config:
          - {SHORTHAND}
          - {raw}
          - s3://my-bucket/configs/tp4.yml
        """)

    migration = run_migrate(tmp_path, instances)

    benchmarks = host(migration)["benchmarks"]
    assert [b["config"] for b in benchmarks] == [
        SHORTHAND,
        "fmbench:llama3/8b/tp2.yml",
        "s3://my-bucket/configs/tp4.yml",
    ]
    assert {b["timeout_seconds"] for b in benchmarks} == {5400}
    assert notes_about(migration, "fmbench:llama3/8b/tp2.yml", "moving main branch")


def test_the_same_config_twice_on_one_host_gets_two_benchmark_names(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST.replace(SHORTHAND, f"[{SHORTHAND}, {SHORTHAND}]")

    migration = run_migrate(tmp_path, instances)

    names = [b["name"] for b in host(migration)["benchmarks"]]
    assert names == [
        "config-ec2-llama3-8b-g6e-2xlarge-1",
        "config-ec2-llama3-8b-g6e-2xlarge-2",
    ]
    write_and_load(migration, tmp_path / "out" / "campaign.yml")


def test_hosts_whose_benchmarks_outlast_the_default_ttl_get_a_longer_one(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST.replace(SHORTHAND, f"[{SHORTHAND}, {SHORTHAND}]") + (
        "  fmbench_complete_timeout: 10000\n"
    )

    migration = run_migrate(tmp_path, instances)

    assert migration.campaign["ttl"] == "7h"
    assert notes_about(migration, "ttl 7h")


def test_an_instance_without_fmbench_config_is_refused_naming_the_key(
    tmp_path: Path,
) -> None:
    instances = "- instance_type: g6e.2xlarge\n  ami_id: {{gpu}}\n"

    with pytest.raises(ConfigError) as raised:
        run_migrate(tmp_path, instances)

    assert raised.value.problems[0].path == "instances[0].fmbench_config"


# --- post_startup_script_params -------------------------------------------------------


def test_post_startup_script_params_set_local_mode_bucket_and_args(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST + textwrap.indent(
        textwrap.dedent("""\
            post_startup_script_params:
              local_mode: no
              write_bucket: team-results
              additional_args: -A model_id=meta-llama/Meta-Llama-3-8B -A tp_degree=2
            """),
        "  ",
    )

    migration = run_migrate(tmp_path, instances)

    benchmark = host(migration)["benchmarks"][0]
    assert benchmark["local_mode"] is False
    assert benchmark["write_bucket"] == "team-results"
    assert benchmark["args"] == {
        "model_id": "meta-llama/Meta-Llama-3-8B",
        "tp_degree": "2",
    }


def test_additional_args_that_are_not_key_value_pairs_are_reported(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST + (
        "  post_startup_script_params:\n"
        "    additional_args: -A instance_type=g6e.2xlarge --tmp-dir /data\n"
    )

    migration = run_migrate(tmp_path, instances)

    assert host(migration)["benchmarks"][0]["args"] == {"instance_type": "g6e.2xlarge"}
    assert notes_about(migration, "'--tmp-dir /data' not migrated")


@pytest.mark.parametrize("bucket", ['"{{write_bucket}}"', "placeholder"])
def test_an_unset_write_bucket_is_left_to_the_campaigns_bucket_and_noted(
    tmp_path: Path, bucket: str
) -> None:
    instances = ONE_HOST + f"  post_startup_script_params: {{write_bucket: {bucket}}}\n"

    migration = run_migrate(tmp_path, instances)

    assert "write_bucket" not in host(migration)["benchmarks"][0]
    assert notes_about(migration, "write_bucket left out")


# --- upload_files and the Hugging Face token ------------------------------------------


def test_upload_files_and_the_hf_token_become_uploads_relative_to_the_output(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "custom.jsonl").write_text("{}\n")
    (tmp_path / "hf_token.txt").write_text("hf_not_a_token\n")
    instances = ONE_HOST + textwrap.indent(
        "upload_files:\n- {local: data/custom.jsonl, remote: /tmp/fmbench-read/x/}\n",
        "  ",
    )

    migration = run_migrate(
        tmp_path, instances, infra="aws:\n  hf_token_fpath: hf_token.txt\n"
    )

    assert host(migration)["upload_files"] == [
        {"local": "../data/custom.jsonl", "remote": "/tmp/fmbench-read/x/custom.jsonl"},
        {
            "local": "../hf_token.txt",
            "remote": "/tmp/fmbench-read/scripts/hf_token.txt",
            "secret": True,
        },
    ]
    campaign = write_and_load(migration, tmp_path / "out" / "campaign.yml")
    assert campaign.hosts[0].upload_files[1].secret


def test_an_absolute_token_path_stays_absolute(tmp_path: Path) -> None:
    infra = "aws:\n  hf_token_fpath: /tmp/hf_token.txt\n"

    migration = run_migrate(tmp_path, infra=infra)

    assert host(migration)["upload_files"][0]["local"] == "/tmp/hf_token.txt"


# --- paths relative to the legacy root ------------------------------------------------


def test_legacy_paths_resolve_under_the_legacy_root_and_point_there_from_the_output(
    tmp_path: Path,
) -> None:
    output = tmp_path / "campaigns" / "llama3" / "campaign.yml"

    migration = migrate_fixture(output)

    uploads = host(migration)["upload_files"]
    # Written relative to the output where the two share a folder, else absolute.
    written = output.parent / uploads[0]["local"]
    expected = LEGACY_ROOT / "byo_dataset" / "custom.jsonl"
    assert written.resolve() == expected.resolve()
    assert not notes_about(migration, "does not exist")

    inside = LEGACY_ROOT.parent / "migrated-here" / "campaign.yml"
    nearby = migrate_fixture(inside)
    assert host(nearby)["upload_files"][0]["local"] == (
        "../legacy/byo_dataset/custom.jsonl"
    )


def test_missing_legacy_files_are_noted_with_the_legacy_root_hint(
    tmp_path: Path,
) -> None:
    migration = migrate_fixture(tmp_path / "campaign.yml", legacy_root=LEGACY_CONFIGS)

    missing = notes_about(migration, "does not exist", "--legacy-root")
    assert any("byo_dataset/custom.jsonl" in note for note in missing)
    assert any("aws.hf_token_fpath" in note for note in missing)


# --- deploy: no -----------------------------------------------------------------------


def test_hosts_with_deploy_no_are_left_out_and_noted(tmp_path: Path) -> None:
    instances = ONE_HOST + ONE_HOST.replace("2xlarge", "4xlarge") + "  deploy: no\n"

    migration = run_migrate(tmp_path, instances)

    assert [h["instance_type"] for h in migration.campaign["hosts"]] == ["g6e.2xlarge"]
    assert notes_about(migration, "instances[1]", "deploy: no")


def test_a_legacy_file_whose_every_host_has_deploy_no_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="nothing to migrate"):
        run_migrate(tmp_path, ONE_HOST + "  deploy: no\n")


# --- existing instances ---------------------------------------------------------------


def test_existing_instances_go_to_a_second_static_campaign_with_address_to_fill(
    tmp_path: Path,
) -> None:
    (tmp_path / "key.pem").write_text("not a key\n")
    existing = (
        "- instance_id: i-0123456789abcdef0\n  private_key_fname: key.pem\n"
        f"  fmbench_config: {SHORTHAND}\n"
    )

    migration = run_migrate(tmp_path, ONE_HOST + existing)

    assert migration.campaign["provider"] == "aws"
    static = migration.static_campaign
    assert static["provider"] == "static"
    assert static["name"] == "llama3-8b-static"
    assert static["hosts"][0]["static"] == {
        "address": "${env:FMBENCH_HOST_2_ADDRESS}",
        "key_file": "../key.pem",
    }
    assert static["hosts"][0]["instance_type"] == (
        "${env:FMBENCH_HOST_2_INSTANCE_TYPE}"
    )
    assert notes_about(migration, "campaign-static.yml")
    assert notes_about(migration, "FMBENCH_HOST_2_ADDRESS", "i-0123456789abcdef0")
    loaded = write_and_load(
        Migration(static, migration.notes),
        tmp_path / "out" / "campaign-static.yml",
        FMBENCH_HOST_2_ADDRESS="host.example.com",
        FMBENCH_HOST_2_INSTANCE_TYPE="g6e.xlarge",
    )
    assert loaded.hosts[0].name == "i-0123456789abcdef0"


def test_a_legacy_file_of_only_existing_hosts_becomes_one_static_campaign(
    tmp_path: Path,
) -> None:
    existing = (
        "- instance_id: i-0abc\n  instance_type: g6e.xlarge\n"
        f"  private_key_fname: k.pem\n  fmbench_config: {SHORTHAND}\n"
    )

    migration = run_migrate(tmp_path, existing)

    assert migration.campaign["provider"] == "static"
    assert migration.static_campaign is None


def test_an_existing_instance_without_its_private_key_is_refused(
    tmp_path: Path,
) -> None:
    existing = f"- instance_id: i-0abc\n  fmbench_config: {SHORTHAND}\n"

    with pytest.raises(ConfigError, match="private_key_fname"):
        run_migrate(tmp_path, existing)


# --- run_steps, security_group, key_pair_gen ------------------------------------------


def test_run_steps_security_group_and_key_pair_gen_are_dropped_with_reasons(
    tmp_path: Path,
) -> None:
    infra = textwrap.dedent("""\
        run_steps:
          security_group_creation: yes
          key_pair_generation: no
          deploy_ec2_instance: yes
          delete_ec2_instance: no
        security_group:
          group_name: fmbench_orchestrator_sg
          description: legacy group
          vpc_id: vpc-0123456789abcdef0
        key_pair_gen:
          key_pair_name: my-key
        """)

    migration = run_migrate(tmp_path, infra=infra)

    assert notes_about(migration, "run_steps.delete_ec2_instance", "teardown always")
    assert notes_about(migration, "run_steps.key_pair_generation", "own ed25519 key")
    assert notes_about(migration, "security_group.group_name", "operator's address")
    assert notes_about(migration, "key_pair_gen.key_pair_name", "dropped")
    assert migration.campaign["defaults"]["network"] == {
        "vpc_id": "vpc-0123456789abcdef0"
    }


def test_startup_scripts_are_dropped_because_bootstrap_runs_over_ssh(
    tmp_path: Path,
) -> None:
    instances = ONE_HOST + "  startup_script: s.txt\n  post_startup_script: p.txt\n"

    migration = run_migrate(tmp_path, instances)

    assert notes_about(migration, "startup_script dropped", "over SSH")
    assert notes_about(migration, "post_startup_script dropped")


def test_keys_migrate_does_not_know_are_reported_not_silently_lost(
    tmp_path: Path,
) -> None:
    migration = run_migrate(
        tmp_path, ONE_HOST + "  spot_price: 1.2\n", config_extra="telemetry: on\n"
    )

    assert notes_about(migration, "instances[0]", "`instances[].spot_price` is not")
    assert notes_about(migration, "telemetry", "not a key migrate knows")


# --- the mapping table ----------------------------------------------------------------


def test_every_documented_legacy_key_is_mapped_or_dropped_with_a_reason() -> None:
    missing = [key for key in DOCUMENTED_LEGACY_KEYS if key not in LEGACY_KEYS_BY_NAME]

    assert missing == []
    assert all(entry.why for entry in LEGACY_KEYS)
    assert len(LEGACY_KEYS_BY_NAME) == len(LEGACY_KEYS)  # one row per key


# --- the command ----------------------------------------------------------------------


def fmbench_orch() -> Cli:
    return Cli(commands={"migrate": migrate, "validate": validate})


def test_the_migrate_command_writes_files_that_validate_accepts(
    tmp_path: Path,
) -> None:
    output = tmp_path / "campaign.yml"
    runner = CliRunner()

    result = runner.invoke(
        fmbench_orch(),
        [
            "migrate",
            str(LEGACY_CONFIGS / "config.yml"),
            "--legacy-root",
            str(LEGACY_ROOT),
            "--config-file",
            "fmbench_configs/config-llama3-8b-g6e-4xl-custom.yml",
            "--write-bucket",
            "my-fmbench-results",
            "-o",
            str(output),
        ],
    )

    assert result.exit_code == 0, result.output
    assert f"wrote {output}" in result.stdout
    assert "note: instances[2]: `deploy: no`" in result.stderr
    assert yaml.safe_load(output.read_text())["name"] == "llama3-8b-g6e"
    checked = runner.invoke(
        fmbench_orch(),
        ["validate", str(output), str(static_output_path(output))],
        env={"FMBENCH_HOST_4_ADDRESS": "203.0.113.9"},
    )
    assert checked.exit_code == 0, checked.output
    assert "ok (llama3-8b-g6e: 2 host(s), aws)" in checked.stdout


def test_the_migrate_command_refuses_to_overwrite_without_force(
    tmp_path: Path,
) -> None:
    output = tmp_path / "campaign.yml"
    output.write_text("name: mine\n")
    arguments = ["migrate", str(LEGACY_CONFIGS / "config.yml"), "-o", str(output)]
    arguments += ["--config-file", SHORTHAND]

    refused = CliRunner().invoke(fmbench_orch(), arguments)
    forced = CliRunner().invoke(fmbench_orch(), [*arguments, "--force"])

    assert refused.exit_code == ExitCode.INVALID_INPUT
    assert "--force" in refused.output
    assert forced.exit_code == 0, forced.output
    assert output.read_text().startswith("# Migrated by")


def test_a_bad_legacy_file_exits_2_naming_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        "general: {name: x1}\ninstances:\n- instance_type: g6e.2xlarge\n"
        "  ami_id: {{gpu}}\n  fmbench_config: '{{config_file}}'\n"
    )
    (tmp_path / "infra.yml").write_text("aws: {region: us-east-1}\n")
    (tmp_path / "ami_mapping.yml").write_text(AMI_MAPPING)

    result = CliRunner().invoke(
        fmbench_orch(), ["migrate", str(config), "-o", str(tmp_path / "new.yml")]
    )

    assert result.exit_code == ExitCode.INVALID_INPUT
    assert f"{config}:5: instances[0].fmbench_config" in result.stderr
    assert "--config-file" in result.stderr
    assert not (tmp_path / "new.yml").exists()


def test_a_missing_infra_file_exits_2_saying_which_option_gives_it(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yml"
    config.write_text("general: {name: x1}\ninstances: []\n")

    result = CliRunner().invoke(
        fmbench_orch(), ["migrate", str(config), "-o", str(tmp_path / "new.yml")]
    )

    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "infra.yml" in result.stderr
    assert "--infra" in result.stderr
