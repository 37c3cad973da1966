"""Where hosts of one region attach: a VPC, subnets that offer their type, SSH rules.

The VPC and subnets are the ones the campaign names, or the region's default
VPC and its default subnets. Lookups are data sources (they need the network
during a real preview) and are made once per region, VPC and instance type.
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws

from fmbench_orch.infra.errors import NoSubnetForInstanceType
from fmbench_orch.models.spec import NetworkSpec

SSH_PORT = 22
ALL_PROTOCOLS = "-1"
ANYWHERE_IPV4 = "0.0.0.0/0"
ANYWHERE_IPV6 = "::/0"


class HostNetwork(pulumi.ComponentResource):
    """The VPC, the subnet choice and the security group for one network setting.

    SSH ingress is exactly the spec's `ssh_ingress_cidrs` (the operator's /32
    unless the campaign says otherwise); egress is open, since hosts download
    packages and models from the internet.
    """

    security_group_id: pulumi.Output[str]
    vpc_id: str

    def __init__(
        self,
        name: str,
        region: str,
        spec: NetworkSpec,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fmbench:index:HostNetwork", name, None, opts)
        self.region = region
        self.spec = spec
        self._subnet_by_type: dict[tuple[str, str | None], str] = {}

        self.vpc_id = self._vpc_id()
        ipv4, ipv6 = _split_cidrs(spec.ssh_ingress_cidrs)
        ingress = []
        if spec.ssh_ingress_cidrs:
            ingress.append(
                {
                    "description": "SSH from the operator",
                    "protocol": "tcp",
                    "from_port": SSH_PORT,
                    "to_port": SSH_PORT,
                    "cidr_blocks": ipv4,
                    "ipv6_cidr_blocks": ipv6,
                }
            )
        group = aws.ec2.SecurityGroup(
            name,
            name=f"fmbench-{name}",
            description="fmbench-orchestrator hosts: SSH from the operator only",
            vpc_id=self.vpc_id,
            region=region,
            ingress=ingress,
            egress=[
                {
                    "description": "Packages, models and the results bucket",
                    "protocol": ALL_PROTOCOLS,
                    "from_port": 0,
                    "to_port": 0,
                    "cidr_blocks": [ANYWHERE_IPV4],
                    "ipv6_cidr_blocks": [ANYWHERE_IPV6],
                }
            ],
            tags={**tags, "Name": f"fmbench-{name}"},
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.security_group_id = group.id
        self.register_outputs({"security_group_id": group.id, "vpc_id": self.vpc_id})

    def subnet_for(self, host: str, instance_type: str, zone: str | None = None) -> str:
        """A subnet whose zone offers `instance_type` (in `zone` if given); the
        same one for every host of that type and zone, so a preview never moves
        hosts between zones.

        Raises NoSubnetForInstanceType naming the zones checked when none fits.
        """
        # Limitation: without a zone, the first offering zone is taken. When
        # EC2 is out of capacity there, the host's `fallbacks` (another zone,
        # type or region) are what moves it; name `availability_zone` to pin a
        # capacity reservation's zone.
        key = (instance_type, zone)
        if key not in self._subnet_by_type:
            zones = _zones_offering(instance_type, self.region)
            if zone is not None:
                zones = [z for z in zones if z == zone]
            subnets = self._subnets_in(zones) if zones else []
            if not subnets:
                raise NoSubnetForInstanceType(
                    host, instance_type, self.region, zones, self.vpc_id, zone
                )
            self._subnet_by_type[key] = subnets[0]
        return self._subnet_by_type[key]

    def _vpc_id(self) -> str:
        if self.spec.vpc_id:
            return self.spec.vpc_id
        if self.spec.subnet_ids:
            subnet = aws.ec2.get_subnet(id=self.spec.subnet_ids[0], region=self.region)
            return subnet.vpc_id
        return aws.ec2.get_vpc(default=True, region=self.region).id

    # Limitation: hosts in campaign-named subnets get a public address only if
    # the subnet assigns one at launch — in private subnets the runner needs a
    # route in (VPN, bastion) to the hosts' private addresses.
    def _subnets_in(self, zones: list[str]) -> list[str]:
        filters = [
            {"name": "vpc-id", "values": [self.vpc_id]},
            {"name": "availability-zone", "values": zones},
        ]
        if self.spec.subnet_ids:
            filters.append({"name": "subnet-id", "values": list(self.spec.subnet_ids)})
        elif not self.spec.vpc_id:
            # The default VPC's default subnets give hosts a public address.
            filters.append({"name": "default-for-az", "values": ["true"]})
        found = aws.ec2.get_subnets(filters=filters, region=self.region)
        return sorted(found.ids)


def _zones_offering(instance_type: str, region: str) -> list[str]:
    offerings = aws.ec2.get_instance_type_offerings(
        location_type="availability-zone",
        filters=[{"name": "instance-type", "values": [instance_type]}],
        region=region,
    )
    return sorted(offerings.locations)


def _split_cidrs(cidrs: tuple[str, ...]) -> tuple[list[str], list[str]]:
    ipv4 = [c for c in cidrs if ipaddress.ip_network(c, strict=False).version == 4]
    ipv6 = [c for c in cidrs if ipaddress.ip_network(c, strict=False).version == 6]
    return ipv4, ipv6
