"""The Pulumi program: a StackSpec becomes a bucket, a role, networks and hosts.

`declare_stack` is the one program. `pulumi up` runs it through
`infra/__main__.py` (values from the stack file); the tool runs it as an
inline program through the Automation API. It reads nothing but its
arguments — no clock, no randomness — so a second preview shows no diff.

Regions are per resource (pulumi-aws 7's `region` argument), so one default
provider serves hosts in any number of regions.
"""

from __future__ import annotations

from collections.abc import Iterable

import pulumi
import pulumi_aws as aws

from fmbench_orch.infra.bucket import ResultsBucket
from fmbench_orch.infra.host import BenchmarkHost, ssm_ami_resolver
from fmbench_orch.infra.network import HostNetwork
from fmbench_orch.infra.role import HostRole
from fmbench_orch.models.spec import HostSpec, NetworkSpec, StackSpec

# Stack output names; the provisioner reads these after `up`.
OUTPUT_BUCKET = "bucket"
OUTPUT_HOSTS = "hosts"
# Only when the campaign asks for a SageMaker execution role.
OUTPUT_EXECUTION_ROLE = "execution_role_arn"


def declare_stack(spec: StackSpec, public_key: str) -> None:
    """Declare every resource of an `aws` stack and export how to reach the hosts.

    `public_key` is the run's OpenSSH public key line; the private half never
    leaves the operator's machine and is never an input or an output here.
    Exports `bucket` (its name) and `hosts`: per host name, `instance_id`,
    `public_ip`, `private_ip`, `ssh_user`, `region`, `instance_type`; and
    `execution_role_arn` when the campaign asks for a SageMaker execution role.
    """
    if spec.provider != "aws" or spec.bucket is None or spec.role is None:
        raise ValueError(
            f"campaign {spec.campaign} uses provider {spec.provider}; only aws "
            "campaigns have a Pulumi stack — run it with fmbench-orch run instead"
        )

    bucket = ResultsBucket(spec.bucket, spec.tags)
    role = HostRole(spec.role, bucket.arn, spec.tags)
    key_names = _key_pairs(spec, public_key)
    networks = _networks(spec)
    resolve_ami = ssm_ami_resolver()

    hosts: dict[str, pulumi.Output] = {}
    for host in spec.hosts:
        network = networks[(host.region, host.network)]
        declared = BenchmarkHost(
            host,
            stack_name=spec.stack_name,
            expires_at=spec.expires_at,
            subnet_id=network.subnet_for(
                host.name, host.instance_type, host.availability_zone
            ),
            security_group_id=network.security_group_id,
            key_name=key_names[host.region],
            instance_profile=role.profile_name,
            resolve_ami=resolve_ami,
        )
        hosts[host.name] = _host_output(host, declared)

    pulumi.export(OUTPUT_BUCKET, bucket.name)
    pulumi.export(OUTPUT_HOSTS, hosts)
    if role.execution_role_arn is not None:
        pulumi.export(OUTPUT_EXECUTION_ROLE, role.execution_role_arn)


def _key_pairs(spec: StackSpec, public_key: str) -> dict[str, pulumi.Output[str]]:
    """One EC2 key pair per region (key pairs are regional), from the public key."""
    key_names = {}
    for region in _regions(spec.hosts):
        key_name = f"fmbench-{spec.stack_name}"
        pair = aws.ec2.KeyPair(
            f"{spec.stack_name}-{region}",
            key_name=key_name,
            public_key=public_key,
            region=region,
            tags={**spec.tags, "Name": key_name},
        )
        key_names[region] = pair.key_name
    return key_names


def _networks(spec: StackSpec) -> dict[tuple[str, NetworkSpec], HostNetwork]:
    """One HostNetwork per distinct (region, network setting), in campaign order."""
    networks: dict[tuple[str, NetworkSpec], HostNetwork] = {}
    per_region: dict[str, int] = {}
    for host in spec.hosts:
        key = (host.region, host.network)
        if key in networks:
            continue
        per_region[host.region] = per_region.get(host.region, 0) + 1
        count = per_region[host.region]
        name = f"{spec.stack_name}-{host.region}"
        if count > 1:
            name = f"{name}-{count}"
        networks[key] = HostNetwork(name, host.region, host.network, spec.tags)
    return networks


def _regions(hosts: Iterable[HostSpec]) -> list[str]:
    return list(dict.fromkeys(host.region for host in hosts))


def _host_output(spec: HostSpec, host: BenchmarkHost) -> pulumi.Output:
    return pulumi.Output.all(
        instance_id=host.instance_id,
        public_ip=host.public_ip,
        private_ip=host.private_ip,
    ).apply(
        lambda addresses: {
            **addresses,
            "ssh_user": spec.ssh_user,
            "region": spec.region,
            "instance_type": spec.instance_type,
        }
    )
