"""Malformed campaign files: each names the field, the line and the fix.

Every file under tests/fixtures/malformed/ holds one mistake a person could
make. The table below is what the user must read for it: the field path as
they wrote it, words of the message that say what to do, and the line.
"""

import time
from pathlib import Path

import pytest

from fmbench_orch.models import validation_errors
from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.errors import ConfigError, Problem
from fmbench_orch.models.loader import MAX_CAMPAIGN_BYTES, load_campaign

MALFORMED = Path(__file__).parent.parent / "fixtures" / "malformed"

# file name → (field path, message fragment, line); "" is the whole file.
EXPECTED: dict[str, tuple[str, str, int | None]] = {
    # unknown keys, at every level, with a did-you-mean
    "unknown-top-level-key.yml": (
        "regoin",
        "unknown field 'regoin'; did you mean 'region'?",
        2,
    ),
    "unknown-host-key.yml": (
        "hosts[0].spott",
        "unknown field 'spott'; did you mean 'spot'?",
        4,
    ),
    "unknown-benchmark-key.yml": (
        "hosts[0].benchmarks[0].batch_size",
        "did you mean 'batch_sizes'?",
        7,
    ),
    "unknown-fmbench-benchmark-key.yml": (
        "hosts[0].benchmarks[0].verison",
        "did you mean 'version'?",
        7,
    ),
    "unknown-storage-key.yml": (
        "hosts[0].storage.size_gb",
        "did you mean 'size_gib'?",
        4,
    ),
    "unknown-budget-key.yml": ("budget.max_hour", "did you mean 'max_hours'?", 2),
    "unknown-network-key.yml": ("hosts[0].network.vpc", "did you mean 'vpc_id'?", 5),
    "unknown-capacity-key.yml": (
        "hosts[0].capacity.reservation",
        "did you mean 'reservation_id'?",
        5,
    ),
    "unknown-upload-key.yml": (
        "hosts[0].upload_files[0].mode",
        "unknown field 'mode'; known fields here: local, remote, secret",
        5,
    ),
    "unknown-static-key.yml": (
        "hosts[0].static.user",
        "known fields here: address, host_key, key_file, port",
        5,
    ),
    "defaults-unknown-key.yml": (
        "defaults.upload_file",
        "did you mean 'upload_files'?",
        4,
    ),
    "defaults-name.yml": (
        "defaults.name",
        "'name' cannot be a default: each host needs its own name",
        3,
    ),
    # drivers
    "driver-typo.yml": (
        "hosts[0].benchmarks[0].driver",
        "unknown driver 'fmbnech'; set driver: fmbench or driver: command",
        5,
    ),
    "driver-missing.yml": (
        "hosts[0].benchmarks[0].driver",
        "required; set driver: fmbench or driver: command",
        5,
    ),
    # missing required fields
    "name-missing.yml": ("name", "this field is required; add it", 1),
    "hosts-missing.yml": ("hosts", "this field is required; add it", 1),
    "instance-type-missing.yml": ("hosts[0].instance_type", "required; add it", 3),
    "benchmarks-missing.yml": ("hosts[0].benchmarks", "required; add it", 3),
    "command-run-missing.yml": ("hosts[0].benchmarks[0].run", "required", 5),
    "fmbench-config-missing.yml": ("hosts[0].benchmarks[0].config", "required", 5),
    # wrong types
    "hosts-not-a-list.yml": ("hosts", "got 'g6e.2xlarge'; write a list", 2),
    "count-not-a-number.yml": ("hosts[0].count", "got 'two'; write a whole number", 4),
    "spot-not-a-bool.yml": ("hosts[0].spot", "got 'maybe'; write true or false", 4),
    "tags-not-text.yml": ("tags.team", "write a text value", 3),
    "budget-not-a-mapping.yml": ("budget", "got 12; write a mapping", 2),
    "provider-typo.yml": ("provider", "got 'ec2'; expected 'local', 'aws'", 2),
    "spot-retry-without-spot.yml": (
        "hosts[0].on_spot_interruption",
        "only applies to Spot hosts; set spot: true",
        5,
    ),
    "volume-type-unknown.yml": (
        "hosts[0].storage.volume_type",
        "got 'gp4'; expected 'gp2', 'gp3', 'io1' or 'io2'",
        4,
    ),
    # numbers out of range
    "timeout-zero.yml": (
        "hosts[0].benchmarks[0].timeout_seconds",
        "got 0; must be greater than 0",
        4,
    ),
    "timeout-negative.yml": (
        "hosts[0].benchmarks[0].timeout_seconds",
        "got -60; must be greater than 0",
        4,
    ),
    "timeout-longer-than-a-week.yml": (
        "hosts[0].benchmarks[0].timeout_seconds",
        "must be at most 604800",
        4,
    ),
    "batch-sizes-zero.yml": (
        "hosts[1].benchmarks[0].batch_sizes[0]",
        "got 0; must be greater than 0",
        9,
    ),
    "sequence-lengths-negative.yml": (
        "hosts[0].benchmarks[0].sequence_lengths[1]",
        "got -1; must be greater than 0",
        4,
    ),
    "iterations-zero.yml": (
        "hosts[0].benchmarks[0].num_iterations",
        "got 0; must be greater than 0",
        4,
    ),
    "count-zero.yml": ("hosts[0].count", "got 0; must be at least 1", 4),
    "count-ten-thousand.yml": ("hosts[0].count", "got 10000; must be at most 256", 4),
    "hosts-over-limit-in-total.yml": (
        "hosts",
        "300 hosts in all; the limit is 256 — split it into several campaigns",
        2,
    ),
    "volume-one-petabyte.yml": (
        "hosts[0].storage.size_gib",
        "got 1048576; must be at most 16384",
        4,
    ),
    "static-port-out-of-range.yml": (
        "hosts[0].static.port",
        "got 70000; must be at most 65535",
        5,
    ),
    "budget-negative.yml": (
        "budget.max_usd_per_hour",
        "got -5; must be greater than 0",
        2,
    ),
    "budget-max-hours-zero.yml": ("budget.max_hours", "must be greater than 0", 2),
    # empty lists
    "hosts-empty.yml": ("hosts", "got []; needs at least 1 item", 2),
    "benchmarks-empty.yml": ("hosts[0].benchmarks", "needs at least 1 item", 4),
    "batch-sizes-empty.yml": (
        "hosts[0].benchmarks[0].batch_sizes",
        "needs at least 1 item",
        4,
    ),
    # names
    "campaign-name-uppercase.yml": (
        "name",
        "got 'Llama3-8B'; use lowercase letters, digits and single hyphens",
        1,
    ),
    "campaign-name-too-long.yml": ("name", "must be at most 40 characters", 1),
    "host-name-underscore.yml": ("hosts[0].name", "got 'gpu_box'; use lowercase", 3),
    "benchmark-name-double-hyphen.yml": (
        "hosts[0].benchmarks[0].name",
        "got 'warm--up'; use lowercase letters, digits and single hyphens",
        4,
    ),
    "duplicate-host-names.yml": (
        "hosts[1].name",
        "hosts[0] and hosts[1] both make a host named 'gpu'; give one of them",
        6,
    ),
    "duplicate-host-names-via-count.yml": (
        "hosts[1].name",
        "both make a host named 'gpu-2'",
        7,
    ),
    "duplicate-host-names-by-default.yml": (
        "hosts[1].name",
        "both make a host named 'g6e-2xlarge'; give one of them another `name:`",
        5,
    ),
    "duplicate-benchmark-names.yml": (
        "hosts[0].benchmarks[1].name",
        "both named 'sweep'; give each a unique name",
        6,
    ),
    # instance types, images, regions
    "instance-type-unknown.yml": (
        "hosts[0].instance_type",
        "unknown instance type 'g6e.2xlarg'; did you mean 'g6e.2xlarge'",
        3,
    ),
    "ami-bad.yml": (
        "hosts[0].ami",
        "'ubuntu-22.04' is neither an AMI id (ami-0123456789abcdef0) nor an alias",
        5,
    ),
    "ami-neuron-on-graviton.yml": (
        "hosts[0].ami",
        "AMI alias 'neuron' has no arm64 image; use the 'arm' alias",
        5,
    ),
    "ami-id-without-ssh-user.yml": (
        "hosts[0].ssh_user",
        "ssh_user is required with an explicit AMI id",
        4,
    ),
    "region-bad.yml": ("region", "'us-east1' is not an AWS region", 2),
    "host-region-bad.yml": ("hosts[0].region", "'useast-1' is not an AWS region", 4),
    "region-without-price.yml": (
        "hosts[0].region",
        "no On-Demand price for g5.xlarge in us-west-1; it has prices in us-east-1",
        4,
    ),
    # ttl and budget
    "ttl-too-short.yml": ("ttl", "got 1m; ttl must be between 5m and 7d", 2),
    "ttl-too-long.yml": ("ttl", "got 8d; ttl must be between 5m and 7d", 2),
    "ttl-not-a-duration.yml": ("ttl", "'six hours' is not a duration; write e.g.", 2),
    "ttl-longer-than-budget.yml": (
        "ttl",
        "ttl (3h) is longer than budget.max_hours (2 h)",
        3,
    ),
    # tags
    "tag-reserved-fmbench.yml": (
        "tags.fmbench:owner",
        "tag 'fmbench:owner' uses a reserved prefix",
        4,
    ),
    "tag-reserved-aws.yml": (
        "tags.aws:cloudformation:stack-name",
        "reserved prefix (fmbench: is set by the tool, aws: by AWS); rename it",
        2,
    ),
    # providers
    "static-provider-without-static.yml": (
        "hosts[0].static",
        "needs `static:` with the address and key_file",
        4,
    ),
    "static-on-aws.yml": (
        "hosts[0].static",
        "has `static:` but provider is aws; set provider: static or remove it",
        5,
    ),
    "permissions-on-local.yml": (
        "permissions",
        "permissions apply to the IAM role of EC2 hosts, so they need provider: "
        "aws (this campaign uses provider local); set provider: aws or remove",
        2,
    ),
    # what the hosts' role may do
    "permissions-every-action.yml": (
        "permissions.statements[0].actions",
        "actions: ['*'] with effect Allow gives the hosts every AWS permission",
        6,
    ),
    "permissions-policy-name-not-arn.yml": (
        "permissions.managed_policies[0]",
        "got 'AmazonSageMakerFullAccess'; write an IAM policy ARN such as "
        "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess",
        4,
    ),
    "permissions-resource-not-arn.yml": (
        "permissions.statements[0].resources[0]",
        "got 'my-datasets/*'; write an ARN such as arn:aws:sagemaker:",
        7,
    ),
    "permissions-duplicate-sid.yml": (
        "permissions.statements[1].sid",
        "statements[0] and statements[1] both have sid Bedrock; IAM needs each "
        "statement id of a policy to be unique",
        6,
    ),
    "permissions-unknown-key.yml": (
        "permissions.managed_policy",
        "unknown field 'managed_policy'; did you mean 'managed_policies'?",
        4,
    ),
    # files the campaign names
    "upload-file-missing.yml": (
        "hosts[0].upload_files[0].local",
        "secrets/hf-token.txt' does not exist; paths are relative to the campaign",
        5,
    ),
    "fmbench-local-config-missing.yml": (
        "hosts[0].benchmarks[0].config",
        "configs/fmbench/my-variant.yml' does not exist",
        6,
    ),
    # fmbench sources
    "fmbench-shorthand-empty.yml": (
        "hosts[0].benchmarks[0].config",
        "name a config after 'fmbench:'",
        6,
    ),
    "fmbench-shorthand-non-github-repo.yml": (
        "hosts[0].benchmarks[0].repo",
        "the fmbench: shorthand needs a GitHub repo",
        7,
    ),
    "fmbench-version-and-repo.yml": (
        "hosts[0].benchmarks[0]",
        "give version (a PyPI release) or repo + ref, not both",
        5,
    ),
    "fmbench-repo-without-ref.yml": (
        "hosts[0].benchmarks[0].ref",
        "repo and ref go together; add ref",
        5,
    ),
    # storage, capacity, network
    "throughput-on-gp2.yml": (
        "hosts[0].storage.throughput_mibps",
        "applies to gp3 volumes only; remove it or set volume_type: gp3",
        4,
    ),
    "iops-over-volume-limit.yml": (
        "hosts[0].storage.iops",
        "16000 IOPS is more than a 20 GiB gp3 volume allows (500 per GiB)",
        4,
    ),
    "iops-on-gp2.yml": ("hosts[0].storage.iops", "gp2 volumes take no iops", 4),
    "io2-without-iops.yml": (
        "hosts[0].storage.iops",
        "io2 volumes need iops; add e.g. iops: 16000",
        4,
    ),
    "capacity-both-targets.yml": (
        "hosts[0].capacity",
        "give reservation_id or resource_group_arn, not both",
        5,
    ),
    "cidr-bad.yml": (
        "hosts[0].network.ssh_ingress_cidrs[1]",
        "'10.0.0.300/8' is not a CIDR block such as 203.0.113.7/32",
        5,
    ),
    "vpc-id-bad.yml": (
        "hosts[0].network.vpc_id",
        "got 'my-vpc'; write a VPC id such as vpc-",
        5,
    ),
    "static-host-key-bad.yml": (
        "hosts[0].static.host_key",
        "write the server's public key line, e.g. 'ssh-ed25519",
        8,
    ),
    "subnet-id-bad.yml": (
        "hosts[0].network.subnet_ids[0]",
        "got 'sn-0abc'; write a subnet id such as subnet-",
        5,
    ),
    # the environment
    "env-unset.yml": (
        "owner",
        "environment variable NOPE is not set; export it or write ${env:NOPE:-",
        2,
    ),
    # the file itself
    "top-level-list.yml": ("", "the file must be a YAML mapping", 1),
    "top-level-scalar.yml": ("", "the file must be a YAML mapping", 1),
    "empty-file.yml": (
        "",
        "the file is empty; a campaign needs at least `name:`",
        None,
    ),
    "yaml-syntax-error.yml": ("", "not valid YAML: did not find expected ','", 5),
    "python-object-tag.yml": (
        "",
        "only plain YAML data is accepted (no !!python or other object tags)",
        2,
    ),
    "non-utf8.yml": ("", "not UTF-8 text (byte 31); save the file as UTF-8", None),
    "yaml-alias-bomb.yml": (
        "",
        "anchors and aliases expand the file to more than 1000000 values",
        8,
    ),
    "yaml-alias-recursive.yml": (
        "",
        "an alias refers to a node that contains it; a campaign cannot be infinite",
        2,
    ),
    "yaml-nesting-too-deep.yml": ("", "the file nests deeper than 64 levels", 5),
    # where files land on the host
    "upload-remote-climbs.yml": (
        "hosts[0].upload_files[0].remote",
        "climbs out with '..'; write the path it should reach",
        5,
    ),
    # secrets
    "secrets-inline-token.yml": (
        "secrets.hf_token",
        "write where the secret is read from (env: NAME or file: PATH), never the "
        "secret itself",
        3,
    ),
    "secrets-env-and-file.yml": (
        "secrets.hf_token",
        "give exactly one of env: NAME or file: PATH",
        3,
    ),
    "secrets-env-unset.yml": (
        "secrets.hf_token.env",
        "environment variable HF_TOKEN is not set or empty; export it before the run",
        3,
    ),
    "secrets-file-missing.yml": (
        "secrets.hf_token.file",
        "secrets/hf_token.txt' does not exist; paths are relative to the campaign",
        4,
    ),
    "secrets-unknown-key.yml": (
        "secrets.hf_tokn",
        "unknown field 'hf_tokn'; did you mean 'hf_token'?",
        3,
    ),
    # sizes AWS would refuse halfway through creating the stack
    "tags-too-many.yml": ("tags", "45 tags; AWS allows 50 per resource", 2),
    "tag-value-too-long.yml": (
        "tags.team",
        "AWS limits a tag's key to 128 characters and its value to 256",
        3,
    ),
    "host-name-too-long.yml": (
        "hosts[0].name",
        "must be at most 63 characters",
        4,
    ),
}


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_campaign(path, environ={})
    return caught.value.problems


@pytest.mark.parametrize("file_name", sorted(EXPECTED))
def test_a_malformed_campaign_gets_one_problem_at_the_field_the_user_wrote(
    file_name: str,
) -> None:
    path, fragment, line = EXPECTED[file_name]

    problems = problems_of(MALFORMED / file_name)

    assert [(p.path, p.line) for p in problems] == [(path, line)]
    assert fragment in problems[0].message


def test_every_malformed_fixture_has_an_expected_problem() -> None:
    on_disk = {path.name for path in MALFORMED.iterdir()}

    assert sorted(on_disk - set(EXPECTED)) == [], "add these files to EXPECTED"
    assert sorted(set(EXPECTED) - on_disk) == [], "these fixtures are missing"


def test_the_corpus_covers_at_least_forty_mistakes() -> None:
    assert len(EXPECTED) >= 40


def test_a_problem_renders_as_file_line_field_and_message() -> None:
    source = MALFORMED / "batch-sizes-zero.yml"

    with pytest.raises(ConfigError) as caught:
        load_campaign(source, environ={})

    assert str(caught.value) == (
        f"{source}:9: hosts[1].benchmarks[0].batch_sizes[0]: got 0; must be "
        "greater than 0"
    )


def test_a_file_over_one_mebibyte_is_refused_before_it_is_parsed(
    tmp_path: Path,
) -> None:
    huge = tmp_path / "huge.yml"
    padding = "# " + "x" * 78 + "\n"
    huge.write_text("name: huge\n" + padding * (MAX_CAMPAIGN_BYTES // len(padding) + 1))

    problems = problems_of(huge)

    assert [(p.path, p.line) for p in problems] == [("", None)]
    assert "campaign files are limited to 1048576" in problems[0].message
    assert "split it into several campaigns" in problems[0].message


def test_an_alias_bomb_is_refused_in_a_blink_without_being_expanded() -> None:
    started = time.monotonic()

    problems = problems_of(MALFORMED / "yaml-alias-bomb.yml")

    assert time.monotonic() - started < 1.0
    assert "anchors and aliases" in problems[0].message


def test_a_token_pasted_into_secrets_is_not_echoed_back() -> None:
    source = MALFORMED / "secrets-inline-token.yml"

    with pytest.raises(ConfigError) as caught:
        load_campaign(source, environ={})

    assert "hf_NotARealTokenButStillPastedHere" not in str(caught.value)


def test_a_file_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "absent.yml")

    assert problems[0].path == ""
    assert "cannot read the file" in problems[0].message


def test_a_typo_in_defaults_is_reported_once_not_once_per_host() -> None:
    problems = problems_of(MALFORMED / "defaults-unknown-key.yml")

    assert [p.path for p in problems] == ["defaults.upload_file"]


def test_no_message_leaks_a_pydantic_internal_name() -> None:
    internals = ("function-after", "function-before", "[fmbench]", "[command]")

    for file_name in EXPECTED:
        for problem in problems_of(MALFORMED / file_name):
            text = f"{problem.path} {problem.message}"
            assert not any(word in text for word in internals), file_name
            assert ".fmbench." not in problem.path, file_name
            assert ".command." not in problem.path, file_name
            assert "{{" not in problem.message, file_name


def test_every_pattern_in_the_models_is_explained_in_words() -> None:
    patterns = set(_patterns(CampaignConfig.model_json_schema()))

    assert patterns, "the campaign models should hold id patterns"
    assert patterns <= set(validation_errors._PATTERN_WORDS), (
        "add words for these patterns to models/validation_errors.py"
    )


def _patterns(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return own + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []
