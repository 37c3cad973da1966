"""What `plan --check-aws` asks AWS, and how its answers and errors are read.

Each lookup is made once per check and remembered, failures included; an
error is classified by its code (ERROR_KINDS) into unusable credentials, a
lookup these credentials may not make, a region not enabled, or other. The
vCPU quota table says which EC2 quota a host counts against.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fmbench_orch.models import catalog
from fmbench_orch.orchestrator import aws_leftovers

log = logging.getLogger(__name__)

T = TypeVar("T")
# Instance states whose vCPUs count against the running-instances quotas.
COUNTED_STATES = ["pending", "running"]

# How an AWS error code is read. `credentials`: nothing can be checked with
# them. `denied`: these credentials may not make this call, so the check is
# skipped with a warning. `region`: the region is not enabled for the account.
# A code not listed here fails the check it stopped.
_CREDENTIAL_CODES = (
    "AuthFailure",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
)
_DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")
ERROR_KINDS = {
    **dict.fromkeys(_CREDENTIAL_CODES, "credentials"),
    **dict.fromkeys(_DENIED_CODES, "denied"),
    "OptInRequired": "region",
}


@dataclass(frozen=True)
class Quota:
    code: str
    name: str


_P_ON_DEMAND = Quota("L-417A185B", "Running On-Demand P instances")
# EC2's vCPU quotas by instance class and whether the host is Spot, with the
# codes and names Service Quotas lists for service code `ec2` (`aws
# service-quotas list-service-quotas --service-code ec2`). P5 Spot requests
# have a quota of their own; P5 On-Demand shares the P one.
VCPU_QUOTAS: dict[tuple[str, bool], Quota] = {
    ("standard", False): Quota(
        "L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"
    ),
    ("g", False): Quota("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("p", False): _P_ON_DEMAND,
    ("p5", False): _P_ON_DEMAND,
    ("inf", False): Quota("L-1945791B", "Running On-Demand Inf instances"),
    ("trn", False): Quota("L-2C3B7624", "Running On-Demand Trn instances"),
    ("standard", True): Quota(
        "L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"
    ),
    ("g", True): Quota("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("p", True): Quota("L-7212CCBC", "All P4, P3 and P2 Spot Instance Requests"),
    ("p5", True): Quota("L-C4BD4855", "All P5 Spot Instance Requests"),
    ("inf", True): Quota("L-B5D1601B", "All Inf Spot Instance Requests"),
    ("trn", True): Quota("L-6B0D517C", "All Trn Spot Instance Requests"),
}
# Classes named by the letters a family starts with, before the one-letter
# standard classes: "inf2" is Inf, not I. DL, F, HPC, high memory (u-), Mac
# and X have quotas of their own that the table above does not hold.
_LETTER_CLASSES = {"g": "g", "gr": "g", "vt": "g", "p": "p", "inf": "inf", "trn": "trn"}
_UNCHECKED_LETTERS = {"dl", "f", "hpc", "mac", "u", "x"}
_STANDARD_LETTERS = set("acdhimrtz")


def quota_for(instance_type: str, spot: bool) -> Quota | None:
    """The vCPU quota a host of this type counts against; None if not known."""
    family = instance_type.split(".")[0]
    letters = re.match(r"[a-z]*", family).group()  # "inf2" → "inf"
    if letters in _LETTER_CLASSES:
        kind = "p5" if family.startswith("p5") else _LETTER_CLASSES[letters]
    elif letters in _UNCHECKED_LETTERS or letters[:1] not in _STANDARD_LETTERS:
        return None
    else:
        kind = "standard"
    return VCPU_QUOTAS[(kind, spot)]


def vcpus(instance_type: str) -> int:
    return catalog.get_instance_type(instance_type).vcpus


def instance_vcpus(instance: dict[str, Any]) -> int:
    try:
        return vcpus(instance["InstanceType"])
    except catalog.UnknownInstanceType:
        options = instance.get("CpuOptions") or {}
        # Limitation: a type neither in the catalog nor reporting CpuOptions
        # counts as 0 vCPUs — it would matter only for very old instances.
        return options.get("CoreCount", 0) * options.get("ThreadsPerCore", 1)


class CredentialsUnusable(Exception):
    """No check can run: the credentials are missing, invalid or expired."""


class LookupFailed(Exception):
    """A lookup without an answer, classified by ERROR_KINDS."""

    def __init__(self, kind: str, code: str | None, cause: BaseException) -> None:
        self.kind = kind
        self.code = code
        self.cause = cause
        super().__init__(str(cause))

    @property
    def reason(self) -> str:
        response = getattr(self.cause, "response", None)
        if self.code and isinstance(response, dict):
            message = response.get("Error", {}).get("Message", "")
            return f"{self.code}: {message}".rstrip(". ")
        return str(self.cause).rstrip(". ")


def classified(error: Exception) -> Exception:
    from botocore.exceptions import (
        CredentialRetrievalError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(
        error, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError
    ):
        return CredentialsUnusable(str(error))
    code = aws_leftovers.error_code(error)
    kind = ERROR_KINDS.get(code or "", "other")
    if kind == "credentials":
        return CredentialsUnusable(f"{code}: {error}")
    return LookupFailed(kind, code, error)


class Account:
    """The lookups the checks make, each asked once per run and remembered."""

    def __init__(self, clients: aws_leftovers.Clients) -> None:
        self._clients = clients
        self._answers: dict[tuple[str, ...], tuple[Any, Exception | None]] = {}

    def zones(self, instance_type: str, region: str) -> list[str]:
        def ask() -> list[str]:
            ec2 = self._clients("ec2", region)
            pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
                LocationType="availability-zone",
                Filters=[{"Name": "instance-type", "Values": [instance_type]}],
            )
            return sorted(
                {o["Location"] for page in pages for o in page["InstanceTypeOfferings"]}
            )

        return self._remembered(("zones", instance_type, region), ask)

    def image(self, ami: str, region: str) -> dict[str, Any] | None:
        def ask() -> dict[str, Any] | None:
            images = self._clients("ec2", region).describe_images(ImageIds=[ami])
            return next(iter(images.get("Images", [])), None)

        return self._remembered(("image", ami, region), ask)

    def parameter(self, name: str, region: str) -> str:
        def ask() -> str:
            reply = self._clients("ssm", region).get_parameter(Name=name)
            return reply["Parameter"]["Value"]

        return self._remembered(("parameter", name, region), ask)

    def quota(self, code: str, region: str) -> float:
        def ask() -> float:
            quotas = self._clients("service-quotas", region)
            reply = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)
            return float(reply["Quota"]["Value"])

        return self._remembered(("quota", code, region), ask)

    def quota_unreadable(self, code: str, region: str) -> bool:
        try:
            self.quota(code, region)
        except LookupFailed:
            return True
        return False

    def vcpus_in_use(self, region: str) -> dict[str, int]:
        """vCPUs of the region's pending and running instances, by quota code."""

        def ask() -> dict[str, int]:
            pages = (
                self._clients("ec2", region)
                .get_paginator("describe_instances")
                .paginate(
                    Filters=[{"Name": "instance-state-name", "Values": COUNTED_STATES}]
                )
            )
            used: dict[str, int] = defaultdict(int)
            for page in pages:
                for reservation in page["Reservations"]:
                    for instance in reservation["Instances"]:
                        spot = instance.get("InstanceLifecycle") == "spot"
                        quota = quota_for(instance["InstanceType"], spot)
                        if quota is not None:
                            used[quota.code] += instance_vcpus(instance)
            return dict(used)

        return self._remembered(("in-use", region), ask)

    def _remembered(self, key: tuple[str, ...], ask: Callable[[], T]) -> T:
        if key not in self._answers:
            try:
                self._answers[key] = (ask(), None)
            except Exception as error:
                log.debug("AWS lookup %s failed: %s", key, error)
                self._answers[key] = (None, classified(error))
        answer, error = self._answers[key]
        if error is not None:
            raise error
        return answer
