"""What each key of a legacy fmbench-orchestrator campaign becomes.

One table, so that a reader (and a test) can see that every key the legacy
tool read is either carried into the new campaign file or dropped for a
stated reason. `report_keys` reads it to note every dropped or unknown key a
legacy file holds; `[]` in a key stands for "every item of the list".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fmbench_orch.models.legacy import LegacyCampaign
    from fmbench_orch.models.migrate import Notes


@dataclass(frozen=True)
class LegacyKey:
    """A legacy key and what it becomes (`becomes` is None when dropped)."""

    key: str
    becomes: str | None
    why: str


_BOOTSTRAP = (
    "fmbench-orch bootstraps every host over SSH (the same on every provider) and "
    "runs FMBench itself, watching its exit status; port anything custom in the "
    "script to a `command` benchmark or an upload"
)
_PER_RUN_NETWORK = (
    "each run creates its own security group, open on port 22 to the operator's "
    "address /32 only, and deletes it at teardown"
)

LEGACY_KEYS: tuple[LegacyKey, ...] = (
    LegacyKey("general", "(campaign)", "holds the name"),
    LegacyKey("general.name", "name", "slugified: it names stacks and buckets"),
    LegacyKey("defaults", "hosts[]", "a YAML anchor: `<<:` merges it per instance"),
    LegacyKey("aws", "(campaign)", "holds the region and the token file"),
    LegacyKey("aws.region", "region", "{{region}} there means --region"),
    LegacyKey(
        "aws.hf_token_fpath",
        "hosts[].upload_files[]",
        "a `secret: true` upload to FMBench's scripts/hf_token.txt on every host",
    ),
    LegacyKey(
        "aws.metric_collection",
        None,
        "instance metric collection is not part of fmbench-orch; FMBench's "
        "endpoint metrics come back with its results",
    ),
    LegacyKey("instances", "hosts", "created hosts; existing ones become static"),
    LegacyKey("instances[].instance_type", "hosts[].instance_type", "as is"),
    LegacyKey("instances[].deploy", "(omitted host)", "`no` leaves the host out"),
    LegacyKey("instances[].region", "hosts[].region", "kept when not the campaign's"),
    LegacyKey(
        "instances[].ami_id",
        "hosts[].ami",
        "an ami-… id as is; an {{alias}} becomes the alias",
    ),
    LegacyKey("instances[].device_name", "hosts[].storage.device_name", "as is"),
    LegacyKey(
        "instances[].ebs_del_on_termination",
        "hosts[].storage",
        "volumes are always deleted with their host now",
    ),
    LegacyKey("instances[].ebs_Iops", "hosts[].storage.iops", "as is"),
    LegacyKey("instances[].ebs_VolumeSize", "hosts[].storage.size_gib", "as is"),
    LegacyKey("instances[].ebs_VolumeType", "hosts[].storage.volume_type", "as is"),
    LegacyKey(
        "instances[].CapacityReservationPreference",
        "hosts[].capacity.preference",
        "open or none",
    ),
    LegacyKey(
        "instances[].CapacityReservationId",
        "hosts[].capacity.reservation_id",
        "as is",
    ),
    LegacyKey(
        "instances[].CapacityReservationResourceGroupArn",
        "hosts[].capacity.resource_group_arn",
        "as is, unless a reservation id is also given",
    ),
    LegacyKey("instances[].startup_script", None, _BOOTSTRAP),
    LegacyKey("instances[].post_startup_script", None, _BOOTSTRAP),
    LegacyKey(
        "instances[].post_startup_script_params",
        "hosts[].benchmarks[]",
        "its keys set every benchmark of the host",
    ),
    LegacyKey(
        "instances[].post_startup_script_params.local_mode",
        "hosts[].benchmarks[].local_mode",
        "yes/no becomes true/false",
    ),
    LegacyKey(
        "instances[].post_startup_script_params.write_bucket",
        "hosts[].benchmarks[].write_bucket",
        "left out when unset or `placeholder`: the campaign's bucket serves",
    ),
    LegacyKey(
        "instances[].post_startup_script_params.additional_args",
        "hosts[].benchmarks[].args",
        "-A key=value pairs; anything else is reported",
    ),
    LegacyKey(
        "instances[].fmbench_complete_timeout",
        "hosts[].benchmarks[].timeout_seconds",
        "for each benchmark of the host",
    ),
    LegacyKey(
        "instances[].fmbench_config",
        "hosts[].benchmarks[].config",
        "one fmbench benchmark per config, run in sequence",
    ),
    LegacyKey("instances[].upload_files", "hosts[].upload_files", "as a list"),
    LegacyKey(
        "instances[].upload_files[].local",
        "hosts[].upload_files[].local",
        "relative to the new campaign file",
    ),
    LegacyKey(
        "instances[].upload_files[].remote",
        "hosts[].upload_files[].remote",
        "a folder (ending in /) gets the file's name appended",
    ),
    LegacyKey(
        "instances[].instance_id",
        "hosts[].static",
        "an existing host: provider static, its address to be filled in",
    ),
    LegacyKey(
        "instances[].private_key_fname",
        "hosts[].static.key_file",
        "relative to the new campaign file",
    ),
    LegacyKey(
        "instances[].fmbench_llm_tokenizer_fpath",
        None,
        "list the file under upload_files (remote: /tmp/fmbench-read/<folder>/)",
    ),
    LegacyKey(
        "instances[].fmbench_llm_config_fpath",
        None,
        "list the file under upload_files (remote: /tmp/fmbench-read/<folder>/)",
    ),
    LegacyKey(
        "instances[].fmbench_tokenizer_remote_dir",
        None,
        "give the folder as the upload_files remote instead",
    ),
    LegacyKey("run_steps", None, "every step below is always on now"),
    LegacyKey("run_steps.security_group_creation", None, _PER_RUN_NETWORK),
    LegacyKey(
        "run_steps.key_pair_generation",
        None,
        "each run creates its own ed25519 key pair and deletes it at teardown",
    ),
    LegacyKey(
        "run_steps.deploy_ec2_instance",
        None,
        "hosts without instance_id are always created; hosts with one are used "
        "as they are (provider static)",
    ),
    LegacyKey(
        "run_steps.delete_ec2_instance",
        None,
        "teardown always runs now, also on failure and Ctrl-C, and a TTL shuts "
        "created hosts down; existing (static) hosts are never terminated",
    ),
    LegacyKey(
        "run_steps.create_iam_role",
        None,
        "each run creates its own instance role and deletes it at teardown",
    ),
    LegacyKey(
        "run_steps.run_bash_script",
        None,
        "the benchmarks always run; that is what a campaign is for",
    ),
    LegacyKey("security_group", None, _PER_RUN_NETWORK),
    LegacyKey("security_group.group_name", None, _PER_RUN_NETWORK),
    LegacyKey("security_group.description", None, _PER_RUN_NETWORK),
    LegacyKey(
        "security_group.vpc_id",
        "defaults.network.vpc_id",
        "the per-run security group and hosts go into that VPC",
    ),
    LegacyKey("key_pair_gen", None, "each run creates its own key pair"),
    LegacyKey(
        "key_pair_gen.key_pair_name",
        None,
        "each run creates its own ed25519 key pair and deletes it at teardown",
    ),
)

LEGACY_KEYS_BY_NAME = {entry.key: entry for entry in LEGACY_KEYS}
# The legacy key behind a field of the new format, for placing its problems.
LEGACY_KEYS_BY_BECOMES = {
    entry.becomes: entry for entry in reversed(LEGACY_KEYS) if entry.becomes
}


def report_keys(legacy: LegacyCampaign, deployed: list[int], notes: Notes) -> None:
    """Note every dropped or unknown key, with the reason from the table."""

    def report(key: str, where: str) -> None:
        """`where` names the key itself (`run_steps.x`) or the item holding it."""
        entry = LEGACY_KEYS_BY_NAME.get(key)
        if entry is None:
            notes.add(
                where,
                f"`{key}` is not a key migrate knows, so it was not migrated; carry "
                "its meaning over by hand if it mattered",
            )
        elif entry.becomes is None:
            name = key.rsplit(".", 1)[-1]
            dropped = "dropped" if where.endswith(f".{name}") else f"{name} dropped"
            notes.add(where, f"{dropped}: {entry.why}")

    for top, value in legacy.data.items():
        if top == "instances":
            for index in sorted(deployed):
                _report_instance(legacy.data["instances"][index], index, report)
        elif top == "defaults":
            continue  # its values reach the instances through `<<:` merges
        elif isinstance(value, dict) and value:
            for key in value:
                report(f"{top}.{key}", f"{top}.{key}")
        else:
            report(top, top)


def _report_instance(
    instance: dict[str, Any], index: int, report: Callable[[str, str], None]
) -> None:
    where = f"instances[{index}]"
    for key, value in instance.items():
        report(f"instances[].{key}", where)
        if key == "post_startup_script_params" and isinstance(value, dict):
            for param in value:
                report(f"instances[].{key}.{param}", f"{where}.{key}")
        if key == "upload_files" and isinstance(value, list):
            for item_index, item in enumerate(value):
                for item_key in item if isinstance(item, dict) else ():
                    report(
                        f"instances[].upload_files[].{item_key}",
                        f"{where}.upload_files[{item_index}]",
                    )
