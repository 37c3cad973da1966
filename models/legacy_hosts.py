"""One legacy `instances[]` entry becomes one host of the new campaign.

An entry with `instance_id` is a host the user already has: it becomes a
static host whose address must be filled in. Any other entry becomes a host
the campaign creates. `deploy: no` entries are left out.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fmbench_orch.models import catalog
from fmbench_orch.models.benchmark import FMBENCH_SHORTHAND
from fmbench_orch.models.fields import SLUG
from fmbench_orch.models.legacy import AmiAlias, LegacyCampaign

if TYPE_CHECKING:
    from fmbench_orch.models.migrate import Notes, PathMover

# Where FMBench reads the Hugging Face token on a host.
HF_TOKEN_REMOTE = "/tmp/fmbench-read/scripts/hf_token.txt"
# The legacy tool expanded `fmbench:` to this moving branch; the new shorthand
# resolves at the tag of the installed FMBench version instead.
FMBENCH_RAW_PREFIX = (
    "https://raw.githubusercontent.com/aws-samples/foundation-model-benchmarking-"
    "tool/refs/heads/main/fmbench/configs/"
)
# The write bucket the legacy post-startup script passed when none was set.
LEGACY_WRITE_BUCKET_PLACEHOLDER = "placeholder"
# Login users of explicit AMIs, guessed from the legacy startup script's name.
_AMAZON_LINUX_HINTS = ("al2", "amzn", "amazon")
_STORAGE_KEYS = {
    "device_name": "device_name",
    "ebs_VolumeSize": "size_gib",
    "ebs_VolumeType": "volume_type",
    "ebs_Iops": "iops",
}
_CAPACITY_KEYS = {
    "CapacityReservationId": "reservation_id",
    "CapacityReservationResourceGroupArn": "resource_group_arn",
}
# Keys that describe a host to create; an existing host has no use for them.
_CREATION_KEYS = ("ami_id", *_STORAGE_KEYS, *_CAPACITY_KEYS)


@dataclass
class HostMigration:
    """A migrated host: which legacy entry it came from, and its document."""

    index: int
    document: dict[str, Any]
    static: bool


def convert_instance(
    legacy: LegacyCampaign,
    index: int,
    paths: PathMover,
    hf_token: str | None,
    notes: Notes,
) -> HostMigration | None:
    """The host for `instances[index]`, or None when it has `deploy: no`."""
    instance = legacy.data["instances"][index]
    where = f"instances[{index}]"
    if not isinstance(instance, dict):
        raise legacy.problem(("instances", index), "write a mapping for each instance")
    if not _deploy(legacy, instance, index):
        notes.add(where, "`deploy: no`, so the host was left out")
        return None

    static = "instance_id" in instance
    host: dict[str, Any] = {}
    if static:
        host.update(_static_connection(legacy, instance, index, paths, notes))
    else:
        host["instance_type"] = _instance_type(legacy, instance, index)
    region = instance.get("region")
    if isinstance(region, str) and region and region != legacy.region:
        host["region"] = region
    if static:
        host["static"] = host.pop("static")  # after the region, as people read it
    else:
        host.update(_image(legacy, instance, index, notes))
        host.update(_storage(instance, where, notes))
        host.update(_capacity(legacy, instance, index, notes))
    uploads = _uploads(legacy, instance, index, paths, hf_token)
    if uploads:
        host["upload_files"] = uploads
    host["benchmarks"] = _benchmarks(legacy, instance, index, paths, notes)
    return HostMigration(index, host, static)


def _deploy(legacy: LegacyCampaign, instance: dict[str, Any], index: int) -> bool:
    deploy = instance.get("deploy", True)
    if isinstance(deploy, str) and deploy.lower() in {"yes", "no", "true", "false"}:
        return deploy.lower() in {"yes", "true"}
    if not isinstance(deploy, bool):
        raise legacy.problem(("instances", index, "deploy"), "write yes or no")
    return deploy


def _instance_type(legacy: LegacyCampaign, instance: dict[str, Any], index: int) -> str:
    name = instance.get("instance_type")
    if not isinstance(name, str) or not name:
        raise legacy.problem(
            ("instances", index),
            "give instance_type (a host to create) or instance_id and "
            "private_key_fname (a host you already have)",
        )
    try:
        catalog.get_instance_type(name)
    except catalog.UnknownInstanceType as error:
        raise legacy.problem(
            ("instances", index, "instance_type"), str(error)
        ) from None
    return name


def _static_connection(
    legacy: LegacyCampaign,
    instance: dict[str, Any],
    index: int,
    paths: PathMover,
    notes: Notes,
) -> dict[str, Any]:
    where = f"instances[{index}]"
    number = index + 1
    instance_id = str(instance["instance_id"])
    key = instance.get("private_key_fname")
    if not isinstance(key, str) or not key:
        raise legacy.problem(
            ("instances", index),
            "an existing host (instance_id) needs private_key_fname: the private "
            "key that logs in to it",
        )
    name = instance_id.lower() if SLUG.fullmatch(instance_id.lower()) else None
    address = f"${{env:FMBENCH_HOST_{number}_ADDRESS}}"
    notes.add(
        where,
        f"existing host {instance_id}: its address is unknown offline; export "
        f"FMBENCH_HOST_{number}_ADDRESS or write its DNS name or IP in place of "
        f"{address}. It logs in as ubuntu unless you set ssh_user, and its host key "
        "must be in ~/.ssh/known_hosts or given as static.host_key",
    )
    host: dict[str, Any] = {"name": name or f"host-{number}"}
    if isinstance(instance.get("instance_type"), str):
        host["instance_type"] = _instance_type(legacy, instance, index)
    else:
        host["instance_type"] = f"${{env:FMBENCH_HOST_{number}_INSTANCE_TYPE}}"
        notes.add(
            where,
            f"existing host {instance_id} names no instance_type (prices and the "
            f"report need it); export FMBENCH_HOST_{number}_INSTANCE_TYPE or write "
            "it in place of the placeholder",
        )
    ignored = [key for key in _CREATION_KEYS if key in instance]
    if ignored:
        notes.add(
            where, f"{', '.join(ignored)} ignored: the host exists, nothing is created"
        )
    host["static"] = {"address": address, "key_file": paths.move(key, where)}
    return host


def _image(
    legacy: LegacyCampaign, instance: dict[str, Any], index: int, notes: Notes
) -> dict[str, Any]:
    where = f"instances[{index}]"
    ami = instance.get("ami_id")
    if ami is None:
        return {}
    if isinstance(ami, AmiAlias):
        region = instance.get("region") or legacy.region
        fixed = legacy.ami_mapping.get(region, {}).get(ami.name)
        was = f"{fixed} (ami_mapping.yml, {region})" if fixed else "no fixed image"
        notes.add(
            where,
            f"ami_id {{{{{ami.name}}}}} becomes the alias `{ami.name}`: the current "
            f"image of the host's own region, looked up at launch, instead of {was}"
            " — more portable; to pin the old image write its ami-… id and ssh_user",
        )
        return {"ami": ami.name}
    if not isinstance(ami, str) or not ami:
        raise legacy.problem(("instances", index, "ami_id"), "write an ami-… id")
    script = Path(str(instance.get("startup_script", ""))).name.lower()
    amazon = any(hint in script for hint in _AMAZON_LINUX_HINTS)
    user = "ec2-user" if amazon else "ubuntu"
    reason = f"from startup_script {script}" if script else "the legacy default"
    notes.add(
        where,
        f"ssh_user {user} for {ami} ({reason}); change it if the image logs in as "
        "another user",
    )
    return {"ami": ami, "ssh_user": user}


def _storage(instance: dict[str, Any], where: str, notes: Notes) -> dict[str, Any]:
    storage = {
        new: instance[old]
        for old, new in _STORAGE_KEYS.items()
        if instance.get(old) is not None
    }
    if instance.get("ebs_del_on_termination") in (False, "no", "false"):
        notes.add(
            where,
            "ebs_del_on_termination was false; volumes are now always deleted with "
            "their host — harvest copies every result off it first",
        )
    return {"storage": storage} if storage else {}


def _capacity(
    legacy: LegacyCampaign, instance: dict[str, Any], index: int, notes: Notes
) -> dict[str, Any]:
    where = f"instances[{index}]"
    capacity = {
        new: instance[old]
        for old, new in _CAPACITY_KEYS.items()
        if instance.get(old) is not None
    }
    if "reservation_id" in capacity and "resource_group_arn" in capacity:
        del capacity["resource_group_arn"]
        notes.add(
            where,
            "CapacityReservationResourceGroupArn dropped: a host targets one "
            "reservation or one group, and CapacityReservationId names it",
        )
    preference = instance.get("CapacityReservationPreference")
    if preference is not None:
        if str(preference).lower() not in {"open", "none"}:
            raise legacy.problem(
                ("instances", index, "CapacityReservationPreference"),
                f"'{preference}' is not a preference; write open or none",
            )
        capacity["preference"] = str(preference).lower()
    return {"capacity": capacity} if capacity else {}


def _uploads(
    legacy: LegacyCampaign,
    instance: dict[str, Any],
    index: int,
    paths: PathMover,
    hf_token: str | None,
) -> list[dict[str, Any]]:
    items = instance.get("upload_files") or []
    if not isinstance(items, list):
        raise legacy.problem(
            ("instances", index, "upload_files"), "write a list of {local, remote}"
        )
    uploads = []
    for item_index, item in enumerate(items):
        at = ("instances", index, "upload_files", item_index)
        if not isinstance(item, dict) or not all(
            isinstance(item.get(key), str) and item[key] for key in ("local", "remote")
        ):
            raise legacy.problem(at, "write {local: <file>, remote: <path on host>}")
        remote = item["remote"]
        if remote.endswith("/"):
            remote += Path(item["local"]).name
        where = f"instances[{index}].upload_files[{item_index}].local"
        uploads.append({"local": paths.move(item["local"], where), "remote": remote})
    if hf_token and all(upload["remote"] != HF_TOKEN_REMOTE for upload in uploads):
        uploads.append({"local": hf_token, "remote": HF_TOKEN_REMOTE, "secret": True})
    return uploads


def _benchmarks(
    legacy: LegacyCampaign,
    instance: dict[str, Any],
    index: int,
    paths: PathMover,
    notes: Notes,
) -> list[dict[str, Any]]:
    where = f"instances[{index}]"
    configs = instance.get("fmbench_config")
    configs = [configs] if isinstance(configs, str) else configs
    if not configs or not all(isinstance(c, str) and c.strip() for c in configs):
        raise legacy.problem(
            ("instances", index, "fmbench_config"),
            "give the FMBench config to run (fmbench:<path>, a URL or a file), or a "
            "list of them",
        )
    shared = _script_params(legacy, instance, index, notes)
    timeout = instance.get("fmbench_complete_timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise legacy.problem(
                ("instances", index, "fmbench_complete_timeout"),
                "write a whole number of seconds",
            )
        shared["timeout_seconds"] = timeout

    benchmarks = []
    for config in configs:
        reference = _config_reference(config.strip(), where, paths, notes)
        benchmarks.append({"driver": "fmbench", "config": reference, **shared})
    _name_repeats(benchmarks)
    return benchmarks


def _config_reference(config: str, where: str, paths: PathMover, notes: Notes) -> str:
    if config.startswith(FMBENCH_RAW_PREFIX):
        shorthand = FMBENCH_SHORTHAND + config.removeprefix(FMBENCH_RAW_PREFIX)
        notes.add(
            where,
            f"{config} becomes {shorthand}: FMBench's own config at the tag of the "
            "installed version, not the moving main branch",
        )
        return shorthand
    if config.startswith((FMBENCH_SHORTHAND, "http://", "https://", "s3://")):
        return config
    return paths.move(config, f"{where}.fmbench_config")


def _name_repeats(benchmarks: list[dict[str, Any]]) -> None:
    """Configs with the same file name get numbered benchmark names."""
    stems = [
        re.sub(r"[^a-z0-9]+", "-", Path(b["config"].split("?")[0]).stem.lower()).strip(
            "-"
        )
        for b in benchmarks
    ]
    for position, (benchmark, stem) in enumerate(zip(benchmarks, stems, strict=True)):
        if stems.count(stem) > 1:
            stem = stem if stem[:1].isalpha() else f"fmbench-{stem}".rstrip("-")
            benchmark["name"] = f"{stem}-{position + 1}"


def _script_params(
    legacy: LegacyCampaign, instance: dict[str, Any], index: int, notes: Notes
) -> dict[str, Any]:
    where = f"instances[{index}].post_startup_script_params"
    params = instance.get("post_startup_script_params") or {}
    if not isinstance(params, dict):
        raise legacy.problem(
            ("instances", index, "post_startup_script_params"),
            "write a mapping (local_mode, write_bucket, additional_args)",
        )
    shared: dict[str, Any] = {}
    if "local_mode" in params:
        mode = params["local_mode"]
        text = str(mode).lower()
        if text not in {"yes", "no", "true", "false"}:
            raise legacy.problem(
                ("instances", index, "post_startup_script_params", "local_mode"),
                "write yes or no",
            )
        shared["local_mode"] = text in {"yes", "true"}
    if "write_bucket" in params:
        bucket = params["write_bucket"]
        if bucket in (None, "", LEGACY_WRITE_BUCKET_PLACEHOLDER):
            notes.add(
                where,
                "write_bucket left out: FMBench writes to the campaign's own results "
                "bucket, which harvest empties before teardown",
            )
        else:
            shared["write_bucket"] = str(bucket)
    if params.get("additional_args"):
        shared["args"] = _additional_args(str(params["additional_args"]), where, notes)
        if not shared["args"]:
            del shared["args"]
    return shared


def _additional_args(text: str, where: str, notes: Notes) -> dict[str, str]:
    """`-A key=value` pairs; anything else is reported, not guessed at."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    args: dict[str, str] = {}
    left: list[str] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        pair = tokens[position + 1] if position + 1 < len(tokens) else ""
        if token == "-A" and "=" in pair and not pair.startswith("="):
            key, value = pair.split("=", 1)
            args[key] = value
            position += 2
            continue
        if token.startswith("-A") and "=" in token[2:] and token[2] != "=":
            key, value = token[2:].split("=", 1)
            args[key] = value
        else:
            left.append(token)
        position += 1
    if left:
        notes.add(
            where,
            f"additional_args '{' '.join(left)}' not migrated: only -A key=value "
            "pairs become args (the fmbench driver sets --config-file, --local-mode "
            "and --write-bucket itself); add what you still need by hand",
        )
    return args
