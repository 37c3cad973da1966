"""The `aws` provisioner: the campaign's Pulumi stack, driven by the Automation API.

The program is `infra.program.declare_stack`, run inline: the same function
`pulumi up` runs on a stack file. The workspace lives in the run directory
(`pulumi/`), the state in a local file backend under `~/.fmbench-orch/pulumi`
unless `PULUMI_BACKEND_URL` names another (S3, Pulumi Cloud). Engine failures
are classified by `pulumi_errors` into typed errors with a next step.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.keys import PRIVATE_KEY_NAME, public_key_line
from fmbench_orch.orchestrator.provisioners import engine_session
from fmbench_orch.orchestrator.provisioners.fallbacks import launch_with_fallbacks
from fmbench_orch.orchestrator.provisioners.pulumi_errors import (
    PendingOperations,
    classify,
    missing_cli,
)

log = logging.getLogger(__name__)

PROJECT_NAME = "fmbench-orchestrator"
PASSPHRASE_FILE = "pulumi-passphrase"
WORKSPACE_DIR = "pulumi"
# cloud-init prints the host keys a minute or two after boot; GPU AMIs with
# big root volumes are slower. Past this, something is wrong with the image.
HOST_KEY_DEADLINE_SECONDS = 600


# Where the operator's own address is looked up when the campaign names no
# SSH ingress; AWS's own echo service, answering in plain text.
CHECKIP_URL = "https://checkip.amazonaws.com"
CHECKIP_TIMEOUT_SECONDS = 5


def state_home() -> Path:
    """The tool's per-user state (`FMBENCH_ORCH_HOME`, else ~/.fmbench-orch)."""
    return Path(os.environ.get("FMBENCH_ORCH_HOME", "~/.fmbench-orch")).expanduser()


def detect_operator_cidr() -> str:
    """The operator's public address as a /32, for the SSH ingress rule.

    `FMBENCH_OPERATOR_CIDR` overrides the lookup (behind NAT pools or proxies
    the address AWS sees may differ from the one an echo service sees).
    """
    import ipaddress
    import urllib.request

    given = os.environ.get("FMBENCH_OPERATOR_CIDR")
    if given:
        return str(ipaddress.ip_network(given, strict=False))
    try:
        with urllib.request.urlopen(
            CHECKIP_URL, timeout=CHECKIP_TIMEOUT_SECONDS
        ) as reply:
            address = ipaddress.ip_address(reply.read().decode().strip())
    except (OSError, ValueError) as error:
        from fmbench_orch.orchestrator.errors import ProvisionFailed

        raise ProvisionFailed(
            f"could not find this machine's public address ({error}); set "
            "FMBENCH_OPERATOR_CIDR=<your address>/32 or give "
            "network.ssh_ingress_cidrs in the campaign",
            phase="create",
        ) from error
    return f"{address}/{address.max_prefixlen}"


def backend_url() -> str:
    """`PULUMI_BACKEND_URL` if set, else a file backend in the user's home."""
    url = os.environ.get("PULUMI_BACKEND_URL")
    if url:
        return url
    state = state_home() / "pulumi"
    state.mkdir(parents=True, exist_ok=True)
    return f"file://{state}"


def passphrase_env() -> dict[str, str]:
    """The secrets passphrase of the file backend: one per user, stored 0600.

    A user who already set `PULUMI_CONFIG_PASSPHRASE(_FILE)` keeps theirs.
    """
    if {"PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"} & set(os.environ):
        return {}
    path = state_home() / PASSPHRASE_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        log.warning(
            "created the Pulumi secrets passphrase for the local state at %s "
            "(keep it: the stacks' secrets are encrypted with it)",
            path,
        )
    return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}


class AwsProvisioner:
    """Provisioner for `provider: aws`; see `provisioners.base` for the contract."""

    def up(self, spec: StackSpec, run_dir: Path) -> list[Host]:
        """`pulumi up`; hosts EC2 refuses move to their fallbacks (see there)."""

        def attempt(placed: StackSpec) -> Any:
            stack = self._stack(placed, run_dir)
            return self._engine(placed, "up", lambda: stack.up(on_output=_log_line))

        result, placed = launch_with_fallbacks(spec, attempt)
        outputs = {name: value.value for name, value in result.outputs.items()}
        return hosts_from_outputs(placed, run_dir, outputs)

    def destroy(self, spec: StackSpec, run_dir: Path) -> None:
        stack = self._stack(spec, run_dir)
        try:
            self._engine(spec, "destroy", lambda: stack.destroy(on_output=_log_line))
        except PendingOperations:
            log.warning(
                "%s: an interrupted update left pending creates; refreshing and "
                "destroying again",
                spec.stack_name,
            )
            self._engine(
                spec,
                "refresh",
                lambda: stack.refresh(clear_pending_creates=True, on_output=_log_line),
            )
            self._engine(spec, "destroy", lambda: stack.destroy(on_output=_log_line))
        self._sweep_by_tag(spec)
        stack.workspace.remove_stack(spec.stack_name)

    def _sweep_by_tag(self, spec: StackSpec) -> None:
        """What the state lost track of goes too, found by the run's tag."""
        from fmbench_orch.orchestrator.aws_leftovers import boto_clients
        from fmbench_orch.orchestrator.aws_removal import sweep_run

        removal = sweep_run(list(spec.regions), spec.run_id, boto_clients())
        if removal.failures:
            raise RuntimeError(
                f"{spec.stack_name} is destroyed, but resources tagged with run "
                f"{spec.run_id} remain: {'; '.join(removal.failures)}"
            )

    def status(self, spec: StackSpec, run_dir: Path) -> dict[str, str]:
        import boto3

        states = {host.name: "gone" for host in spec.hosts}
        for region in spec.regions:
            client = boto3.client("ec2", region_name=region)
            pages = client.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "tag:fmbench:run", "Values": [spec.run_id]}]
            )
            for page in pages:
                for reservation in page["Reservations"]:
                    for instance in reservation["Instances"]:
                        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
                        name = tags.get("fmbench:host")
                        if name in states and instance["State"]["Name"] != "terminated":
                            states[name] = instance["State"]["Name"]
        return states

    def why_lost(self, host: Host) -> str | None:
        """What EC2 says of a host that stopped answering (see `lost_reason`)."""
        return _why_lost(host)

    def spot_reclaimed(self, host: Host) -> bool:
        """Whether EC2 took the host back: a Spot interruption."""
        return _state_reason(host) in SPOT_REASONS

    def _stack(self, spec: StackSpec, run_dir: Path) -> Any:
        from pulumi import automation as auto

        from fmbench_orch.infra.program import declare_stack

        public_key = public_key_line(run_dir / "keys" / PRIVATE_KEY_NAME)
        work_dir = run_dir / WORKSPACE_DIR
        work_dir.mkdir(parents=True, exist_ok=True)
        real_cli = shutil.which("pulumi")
        if real_cli is None:
            raise missing_cli("select stack")
        url = backend_url()
        options = auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            # The CLI in a session of its own: a Ctrl-C only cancels it cleanly.
            pulumi_command=auto.PulumiCommand(
                root=str(engine_session.install(work_dir / "cli", real_cli))
            ),
            env_vars={"PULUMI_BACKEND_URL": url, **passphrase_env()},
            project_settings=auto.ProjectSettings(
                name=PROJECT_NAME,
                runtime="python",
                backend=auto.ProjectBackend(url=url),
            ),
        )
        try:
            return auto.create_or_select_stack(
                spec.stack_name,
                project_name=PROJECT_NAME,
                program=lambda: declare_stack(spec, public_key),
                opts=options,
            )
        except FileNotFoundError as error:
            raise missing_cli("select stack") from error

    def _engine(self, spec: StackSpec, phase: str, action: Any) -> Any:
        from pulumi.automation import CommandError

        try:
            return action()
        except FileNotFoundError as error:
            raise missing_cli(phase) from error
        except CommandError as error:
            raise classify(str(error), phase=phase, stack=spec.stack_name) from error


class ExistingStackProvisioner:
    """Hosts of a stack someone brought up with `pulumi up` (`run --stack`).

    The stack is theirs: `up` only reads its outputs, and `destroy` leaves it
    standing (they finish with `pulumi destroy`).
    """

    owns_resources = False

    def __init__(self, stack_name: str, project_dir: Path) -> None:
        self.stack_name = stack_name
        self.project_dir = project_dir

    def up(self, spec: StackSpec, run_dir: Path) -> list[Host]:
        from pulumi import automation as auto

        try:
            stack = auto.select_stack(self.stack_name, work_dir=str(self.project_dir))
            outputs = {name: out.value for name, out in stack.outputs().items()}
        except FileNotFoundError as error:
            raise missing_cli("read stack outputs") from error
        except auto.CommandError as error:
            raise classify(
                str(error), phase="outputs", stack=self.stack_name
            ) from error
        return hosts_from_outputs(spec, run_dir, outputs)

    def destroy(self, spec: StackSpec, run_dir: Path) -> None:
        log.warning(
            "stack %s was brought up outside fmbench-orch and stays up; destroy it "
            "with `pulumi destroy -s %s` when you are done",
            self.stack_name,
            self.stack_name,
        )

    def status(self, spec: StackSpec, run_dir: Path) -> dict[str, str]:
        return AwsProvisioner().status(spec, run_dir)

    def why_lost(self, host: Host) -> str | None:
        return _why_lost(host)


def _why_lost(host: Host) -> str | None:
    reply = _describe(host)
    return None if reply is None else lost_reason(reply)


def _state_reason(host: Host) -> str | None:
    """EC2's StateReason code for the host's instance, if it has one."""
    reply = _describe(host) or {}
    for reservation in reply.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            return instance.get("StateReason", {}).get("Code")
    return None


def _describe(host: Host) -> dict[str, Any] | None:
    import boto3

    if not host.instance_id:
        return None
    client = boto3.client("ec2", region_name=host.region)
    return client.describe_instances(InstanceIds=[host.instance_id])


# EC2's state reasons for an instance it took away (StateReason.Code).
SPOT_REASONS = ("Server.SpotInstanceTermination", "Server.SpotInstanceShutdown")


def lost_reason(reply: dict[str, Any]) -> str | None:
    """Why an instance is gone, from a `describe_instances` reply; None if running.

    A reclaimed Spot instance says so and what to do; any other stopped or
    terminated instance gives EC2's state and reason code.
    """
    for reservation in reply.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            state = instance.get("State", {}).get("Name", "unknown")
            if state in ("pending", "running"):
                return None
            reason = instance.get("StateReason", {})
            code = reason.get("Code", "")
            if code in SPOT_REASONS:
                return (
                    f"spot interruption: EC2 reclaimed Spot instance "
                    f"{instance['InstanceId']} ({code}); rerun the campaign, "
                    "or set on_spot_interruption: on-demand (or spot: false)"
                )
            detail = f" ({code}: {reason.get('Message', '')})" if code else ""
            return f"instance {instance['InstanceId']} is {state}{detail}"
    return None


def hosts_from_outputs(
    spec: StackSpec, run_dir: Path, outputs: dict[str, Any]
) -> list[Host]:
    """The stack's `hosts` output as Hosts, each with its key from the console."""
    import boto3

    from fmbench_orch.infra.host_keys import wait_for_host_keys
    from fmbench_orch.infra.program import OUTPUT_HOSTS

    deadline = time.monotonic() + HOST_KEY_DEADLINE_SECONDS
    declared = outputs.get(OUTPUT_HOSTS, {})
    hosts = []
    for host in spec.hosts:
        facts = declared[host.name]
        client = boto3.client("ec2", region_name=host.region)
        # Limitation: hosts are waited for one after another — harmless, since
        # the shared deadline and cloud-init's pace make the first wait the long one.
        keys = wait_for_host_keys(client, facts["instance_id"], deadline)
        hosts.append(
            Host(
                name=host.name,
                address=facts["public_ip"],
                port=22,
                user=facts["ssh_user"],
                key_file=run_dir / "keys" / PRIVATE_KEY_NAME,
                host_key=keys[0],
                instance_type=host.instance_type,
                region=host.region,
                instance_id=facts["instance_id"],
            )
        )
    return hosts


def _log_line(line: str) -> None:
    log.info("pulumi: %s", line.rstrip())
