"""The floor under orchestration: a plain parallel `ssh host true` fan-out.

One paramiko connection per host, one thread per connection, each verifying
the host's key, authenticating, running `true` and closing. Nothing an
orchestrator does per host can be cheaper than this on the same machine, so
the runner's overhead is judged against it.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Sequence

import paramiko

from fmbench_orch.orchestrator.hosts import Host

# Generous: 64 handshakes on 2 busy cores finish in seconds.
CONNECT_TIMEOUT_S = 60.0


def fan_out(hosts: Sequence[Host]) -> float:
    """Seconds from the first thread's start until every `true` has returned."""
    keys = {host.key_file: paramiko.PKey.from_path(host.key_file) for host in hosts}
    failures: list[str] = []
    threads = [
        threading.Thread(
            target=_true_on, args=(host, keys[host.key_file], failures), daemon=True
        )
        for host in hosts
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"fan-out failed on {len(failures)} host(s): {failures[:3]}")
    return elapsed


def _true_on(host: Host, key: paramiko.PKey, failures: list[str]) -> None:
    client = paramiko.SSHClient()
    try:
        if host.host_key is not None:
            key_type, blob = host.host_key.split()[:2]
            client.get_host_keys().add(
                host.known_hosts_name,
                key_type,
                paramiko.PKey.from_type_string(key_type, base64.b64decode(blob)),
            )
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            host.address,
            port=host.port,
            username=host.user,
            pkey=key,
            look_for_keys=False,
            allow_agent=False,
            timeout=CONNECT_TIMEOUT_S,
            banner_timeout=CONNECT_TIMEOUT_S,
            auth_timeout=CONNECT_TIMEOUT_S,
        )
        _, stdout, _ = client.exec_command("true", timeout=CONNECT_TIMEOUT_S)
        status = stdout.channel.recv_exit_status()
        if status != 0:
            failures.append(f"{host.name}: `true` exited {status}")
    except Exception as exc:  # every host's failure is reported, none stops others
        failures.append(f"{host.name}: {exc!r}")
    finally:
        client.close()


def copies(host: Host, count: int) -> list[Host]:
    """`count` names for one server: N connections to a single sshd."""
    return [
        Host(
            name=f"{host.name}-{index}",
            address=host.address,
            port=host.port,
            user=host.user,
            key_file=host.key_file,
            host_key=host.host_key,
            instance_type=host.instance_type,
            region=host.region,
        )
        for index in range(count)
    ]
