"""Offline answers for the Pulumi engine: the program runs without AWS or the CLI.

`OfflineMocks` records every resource the program declares (type, name and
inputs as they travel on the wire, camelCase) and answers the data sources
the program reads with stable, made-up values: a default VPC, six zones
per region offering every instance type, one default subnet per zone, and
an AMI id derived from the SSM parameter name. Ids and addresses are derived
from names, so two runs give the same answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

# Limitation: offline, every instance type is offered in every zone — a type
# AWS does not offer in a region is caught only by a real `pulumi preview`.
MOCK_ACCOUNT = "123456789012"
# Every zone letter a region has today (us-east-1 goes up to f): offline, a
# host pinned to any real zone finds it.
MOCK_ZONE_SUFFIXES = ("a", "b", "c", "d", "e", "f")

_VPC = "aws:ec2/getVpc:getVpc"
_SUBNET = "aws:ec2/getSubnet:getSubnet"
_SUBNETS = "aws:ec2/getSubnets:getSubnets"
_OFFERINGS = "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings"
_PARAMETER = "aws:ssm/getParameter:getParameter"


@dataclass(frozen=True)
class DeclaredResource:
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool


@dataclass
class OfflineMocks(pulumi.runtime.Mocks):
    """Mocks for one program run.

    `offered_zones` overrides which zones offer an instance type in a region
    (`{(instance_type, region): [zones]}`); every other type is offered in
    every mock zone.
    """

    offered_zones: Mapping[tuple[str, str], Sequence[str]] = field(default_factory=dict)
    declared: list[DeclaredResource] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        self.declared.append(
            DeclaredResource(args.typ, args.name, inputs, bool(args.custom))
        )
        if not args.custom:
            return None, {}
        return _physical(args.typ, args.name, inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append((args.token, dict(args.args)))
        region = args.args.get("region") or "us-east-1"
        if args.token == _VPC:
            return {"id": _vpc_id(region), "default": True, "region": region}
        if args.token == _SUBNET:
            subnet = args.args["id"]
            return {"id": subnet, "vpcId": _vpc_id(region), "region": region}
        if args.token == _OFFERINGS:
            return {"locations": self._zones(args.args, region), "region": region}
        if args.token == _SUBNETS:
            return {"ids": _subnets(args.args, region), "region": region}
        if args.token == _PARAMETER:
            name = args.args["name"]
            return {"name": name, "value": "ami-" + _hex(f"{name}/{region}")}
        raise NotImplementedError(
            f"the offline mocks do not answer {args.token}; add it to "
            "fmbench_orch.infra.mocks.OfflineMocks.call"
        )

    def _zones(self, call_args: Mapping[str, Any], region: str) -> list[str]:
        instance_type = _filter(call_args, "instance-type")[0]
        zones = self.offered_zones.get((instance_type, region))
        if zones is not None:
            return list(zones)
        return [f"{region}{suffix}" for suffix in MOCK_ZONE_SUFFIXES]


def _physical(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
    """A physical id and the outputs AWS would add for the types the program uses."""
    region = inputs.get("region") or "us-east-1"
    state = dict(inputs)
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs["bucket"]
        state.update(arn=f"arn:aws:s3:::{bucket}", bucketRegionalDomainName=bucket)
        return bucket, state
    if typ in ("aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile"):
        kind = "role" if typ.endswith("Role") else "instance-profile"
        state["arn"] = f"arn:aws:iam::{MOCK_ACCOUNT}:{kind}/{inputs['name']}"
        return inputs["name"], state
    if typ == "aws:ec2/keyPair:KeyPair":
        return inputs["keyName"], state
    if typ == "aws:ec2/securityGroup:SecurityGroup":
        return "sg-" + _hex(f"{name}/{region}"), state
    if typ == "aws:ec2/instance:Instance":
        digest = hashlib.sha256(f"{name}/{region}".encode()).digest()
        state.update(
            publicIp=f"198.51.100.{digest[0] % 254 + 1}",
            privateIp=f"10.{digest[1]}.{digest[2]}.{digest[3] % 254 + 1}",
            availabilityZone=f"{region}{MOCK_ZONE_SUFFIXES[0]}",
            arn=f"arn:aws:ec2:{region}:{MOCK_ACCOUNT}:instance/{name}",
        )
        return "i-" + _hex(f"{name}/{region}"), state
    return f"{name}-id", state


def _subnets(call_args: Mapping[str, Any], region: str) -> list[str]:
    zones = _filter(call_args, "availability-zone")
    wanted = _filter(call_args, "subnet-id")
    if wanted:
        return list(wanted)
    return ["subnet-" + _hex(f"{zone}/{region}") for zone in zones]


def _vpc_id(region: str) -> str:
    return "vpc-" + _hex(f"default/{region}")


def _filter(call_args: Mapping[str, Any], name: str) -> list[str]:
    for item in call_args.get("filters") or []:
        if item.get("name") == name:
            return list(item.get("values") or [])
    return []


def _hex(text: str) -> str:
    """17 hex digits derived from `text`: the length of EC2's own ids."""
    return hashlib.sha256(text.encode()).hexdigest()[:17]
