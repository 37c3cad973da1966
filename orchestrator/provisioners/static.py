"""The static provider: hosts the user already has, reached over SSH.

`up` only describes them (nothing is created); `destroy` never stops or
terminates anything: it removes what the run put under
`~/.fmbench-orch/<run_id>/` on each host, best effort and idempotent.
"""

from __future__ import annotations

import logging
import shlex
import socket
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from fmbench_orch.models.spec import HostSpec, StackSpec
from fmbench_orch.orchestrator.errors import ProvisionFailed
from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.jobs import bash
from fmbench_orch.orchestrator.layout import RemoteLayout, RunLayout
from fmbench_orch.orchestrator.remote import RemoteHost
from fmbench_orch.orchestrator.runner import known_hosts_line, write_known_hosts
from fmbench_orch.orchestrator.ssh_errors import RemoteError

log = logging.getLogger(__name__)

# A static host is already up: if it does not answer within a minute, the
# cleanup is skipped (and logged) rather than holding up the teardown.
CLEANUP_CONNECT_DEADLINE_S = 60.0
# Removing the run's directory; large harvested trees can take a while.
CLEANUP_COMMAND_TIMEOUT_S = 300.0
# The whole teardown waits at most this long for all hosts together.
DESTROY_DEADLINE_S = CLEANUP_CONNECT_DEADLINE_S + CLEANUP_COMMAND_TIMEOUT_S + 30.0
# Hosts cleaned at the same time; each is one short SSH session.
CLEANUP_PARALLELISM = 16
# `status` only asks whether the SSH port answers.
PORT_PROBE_TIMEOUT_S = 3.0


class StaticHostError(ProvisionFailed):
    """A host of a static run lacks what is needed to reach it."""


def host_of(spec: HostSpec) -> Host:
    static = spec.static
    if static is None:
        raise StaticHostError(
            f"host {spec.name} has no address: a static campaign must give each "
            "host `address`, `port`, `key_file` (and `host_key`)",
            host=spec.name,
            phase="provision",
        )
    return Host(
        name=spec.name,
        address=static.address,
        port=static.port,
        user=spec.ssh_user,
        key_file=static.key_file,
        host_key=static.host_key,
        instance_type=spec.instance_type,
        region=spec.region,
    )


class StaticProvisioner:
    """Provisioner (see `base.Provisioner`) for hosts the user already has."""

    def up(self, spec: StackSpec, run_dir: Path) -> list[Host]:
        hosts = [host_of(host) for host in spec.hosts]
        for host in hosts:
            if host.host_key is not None:
                try:
                    known_hosts_line(host)
                except ValueError as exc:
                    raise StaticHostError(
                        f"host {host.name}: {exc}", host=host.name, phase="provision"
                    ) from None
            if not host.key_file.expanduser().is_file():
                raise StaticHostError(
                    f"host {host.name}: key file {host.key_file} does not exist; "
                    "fix key_file in the campaign",
                    host=host.name,
                    phase="provision",
                )
        return hosts

    def destroy(self, spec: StackSpec, run_dir: Path) -> None:
        """Remove the run's directory from every host; never raises for a host."""
        hosts = []
        for host_spec in spec.hosts:
            try:
                hosts.append(host_of(host_spec))
            except StaticHostError as exc:
                log.warning("%s: nothing to clean: %s", host_spec.name, exc)
        if not hosts:
            return
        known_hosts = RunLayout(run_dir).known_hosts
        write_known_hosts(known_hosts, hosts)
        remote_root = RemoteLayout(spec.run_id).root
        workers = min(CLEANUP_PARALLELISM, len(hosts))
        pool = ThreadPoolExecutor(workers, thread_name_prefix="static-cleanup")
        futures = [
            pool.submit(_clean, host, known_hosts, remote_root) for host in hosts
        ]
        _, late = wait(futures, timeout=DESTROY_DEADLINE_S)
        pool.shutdown(wait=False, cancel_futures=True)
        for future in late:
            future.cancel()
        if late:
            log.warning(
                "%d static host(s) were still being cleaned after %.0f s; "
                "remove ~/%s on them by hand",
                *(len(late), DESTROY_DEADLINE_S, remote_root),
            )

    def status(self, spec: StackSpec, run_dir: Path) -> dict[str, str]:
        """`running` when the host's SSH port answers, else `unreachable`."""
        states = {}
        for host_spec in spec.hosts:
            static = host_spec.static
            reachable = static is not None and _port_answers(
                static.address, static.port
            )
            states[host_spec.name] = "running" if reachable else "unreachable"
        return states


def _clean(host: Host, known_hosts: Path, remote_root: str) -> None:
    remote = RemoteHost(host, known_hosts)
    try:
        remote.connect(CLEANUP_CONNECT_DEADLINE_S)
        result = remote.exec(
            bash(f"rm -rf -- {shlex.quote(remote_root)}"),
            phase="cleanup",
            timeout=CLEANUP_COMMAND_TIMEOUT_S,
        )
        if result.ok:
            log.info("%s: removed ~/%s", host.name, remote_root)
        else:
            log.warning(
                "%s: could not remove ~/%s: %s; remove it by hand",
                *(host.name, remote_root, result.output.strip()),
            )
    except RemoteError as exc:
        log.warning("%s: cleanup skipped: %s", host.name, exc)
    finally:
        remote.close()


def _port_answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), PORT_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False
