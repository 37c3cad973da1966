"""One benchmark host: an EC2 instance built from a HostSpec.

Hardened the same way for every host: IMDSv2 only, encrypted root volume
deleted with the instance, terminate on shutdown, and a dead-man switch in
the user data that powers the host off at the campaign's TTL — so a host
outlives neither a failed teardown nor a lost operator. Everything else
(packages, FMBench, files) happens over SSH, so user data stays a few lines,
carries no secret and never changes between previews.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pulumi
import pulumi_aws as aws

from fmbench_orch.infra.errors import SpotWithCapacityReservation
from fmbench_orch.models.spec import CapacitySpec, HostSpec

# IMDSv2 behind one extra hop: containers on the host (FMBench's model
# servers run in Docker) can still reach the instance role's credentials.
IMDS_HOP_LIMIT = 2
# Lower bound on the dead-man switch: a host whose TTL already passed at
# boot still lives long enough for cloud-init to finish and log why.
MIN_SHUTDOWN_MINUTES = 1

# Resolves an SSM parameter name in a region to an AMI id.
AmiResolver = Callable[[str, str], str]


def dead_man_switch(expires_at: datetime) -> str:
    """User data: schedule a power-off at `expires_at` (an absolute time).

    The instance terminates on shutdown, so this ends the billing too.
    """
    stamp = expires_at.isoformat(timespec="seconds")
    return (
        "#!/bin/bash\n"
        "# fmbench-orchestrator dead-man switch: power off (terminate) at the TTL.\n"
        f"minutes=$(( ($(date -d '{stamp}' +%s) - $(date +%s)) / 60 ))\n"
        f'shutdown -P "+$(( minutes > {MIN_SHUTDOWN_MINUTES} ? minutes : '
        f'{MIN_SHUTDOWN_MINUTES} ))"\n'
    )


def ssm_ami_resolver() -> AmiResolver:
    """Resolve public SSM image parameters once per (parameter, region).

    The AMI is resolved here, in the host's region, rather than handed to EC2
    as `resolve:ssm:…`: a preview then shows the image id each region will
    boot, and state records it. The instance ignores later changes of `ami`,
    so a newer image published mid-campaign never replaces a running host.
    """
    resolved: dict[tuple[str, str], str] = {}

    def resolve(parameter: str, region: str) -> str:
        key = (parameter, region)
        if key not in resolved:
            resolved[key] = aws.ssm.get_parameter(name=parameter, region=region).value
        return resolved[key]

    return resolve


class BenchmarkHost(pulumi.ComponentResource):
    """An EC2 instance for one HostSpec, with its addresses as outputs."""

    instance_id: pulumi.Output[str]
    public_ip: pulumi.Output[str]
    private_ip: pulumi.Output[str]
    availability_zone: pulumi.Output[str]

    def __init__(
        self,
        spec: HostSpec,
        *,
        stack_name: str,
        expires_at: datetime,
        subnet_id: str,
        security_group_id: pulumi.Input[str],
        key_name: pulumi.Input[str],
        instance_profile: pulumi.Input[str],
        resolve_ami: AmiResolver,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fmbench:index:BenchmarkHost", spec.name, None, opts)
        tags = {**spec.tags, "Name": f"{stack_name}-{spec.name}"}
        ami, pinned = _image(spec, resolve_ami)

        instance = aws.ec2.Instance(
            spec.name,
            ami=ami,
            instance_type=spec.instance_type,
            region=spec.region,
            subnet_id=subnet_id,
            vpc_security_group_ids=[security_group_id],
            key_name=key_name,
            iam_instance_profile=instance_profile,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": IMDS_HOP_LIMIT,
            },
            root_block_device={
                "device_name": spec.storage.device_name,
                "volume_type": spec.storage.volume_type,
                "volume_size": spec.storage.size_gib,
                "iops": spec.storage.iops,
                "throughput": spec.storage.throughput_mibps,
                "encrypted": spec.storage.encrypted,
                "delete_on_termination": True,
                "tags": tags,
            },
            instance_initiated_shutdown_behavior="terminate",
            capacity_reservation_specification=_capacity(spec.capacity),
            instance_market_options=_market(spec),
            user_data=dead_man_switch(expires_at),
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=[] if pinned else ["ami"]
            ),
        )

        self.instance_id = instance.id
        self.public_ip = instance.public_ip
        self.private_ip = instance.private_ip
        self.availability_zone = instance.availability_zone
        self.register_outputs(
            {
                "instance_id": self.instance_id,
                "public_ip": self.public_ip,
                "private_ip": self.private_ip,
            }
        )


def _image(spec: HostSpec, resolve_ami: AmiResolver) -> tuple[str, bool]:
    """The AMI id, and whether the campaign pinned it (rather than an alias)."""
    if spec.image.ami_id:
        return spec.image.ami_id, True
    if not spec.image.ssm_parameter:
        raise ValueError(f"host {spec.name}: the spec names no AMI; recompile it")
    return resolve_ami(spec.image.ssm_parameter, spec.region), False


def _capacity(capacity: CapacitySpec | None) -> dict | None:
    if capacity is None:
        return None
    if capacity.reservation_id:
        target = {"capacity_reservation_id": capacity.reservation_id}
        return {"capacity_reservation_target": target}
    if capacity.resource_group_arn:
        target = {
            "capacity_reservation_resource_group_arn": capacity.resource_group_arn
        }
        return {"capacity_reservation_target": target}
    if capacity.preference:
        return {"capacity_reservation_preference": capacity.preference}
    return None


def _market(spec: HostSpec) -> dict | None:
    if not spec.spot:
        return None
    capacity = spec.capacity
    if capacity and (capacity.reservation_id or capacity.resource_group_arn):
        raise SpotWithCapacityReservation(spec.name)
    # One-time requests that terminate on interruption: a benchmark cut short
    # is re-run, never resumed on a stopped host that keeps billing its disk.
    return {
        "market_type": "spot",
        "spot_options": {
            "instance_interruption_behavior": "terminate",
            "spot_instance_type": "one-time",
        },
    }
