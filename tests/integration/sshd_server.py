"""Helpers for the runner's tests: Debian's OpenSSH `sshd` on loopback, specs.

The server runs as the current user's own sshd (`-D -e -f <config> -p <port>`)
with a host key and an authorized_keys file of its own, so nothing in
/etc/ssh or ~/.ssh is read or changed. Tests only ever dial 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import gc
import getpass
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fmbench_orch.models.spec import (
    BenchmarkSpec,
    HostSpec,
    ImageSpec,
    NetworkSpec,
    StackSpec,
    StorageSpec,
    UploadSpec,
)
from fmbench_orch.orchestrator.hosts import Host

SSHD = Path("/usr/sbin/sshd")
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
# sshd listens within a fraction of a second; a loaded CI runner may need more.
SSHD_READY_DEADLINE_S = 15.0
# How long a stopped sshd gets to exit before it is killed.
SSHD_STOP_DEADLINE_S = 5.0

_CONFIG = """\
ListenAddress 127.0.0.1
HostKey {host_key}
AuthorizedKeysFile {authorized_keys}
StrictModes no
UsePAM no
PidFile none
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PrintMotd no
UseDNS no
MaxStartups 100
MaxSessions 32
Subsystem sftp {sftp_server}
LogLevel VERBOSE
"""


def new_host_key() -> tuple[bytes, str]:
    """An ed25519 host key: (private key in OpenSSH format, public key line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SshServer:
    port: int
    host_key: str
    client_key: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def host(self, name: str = "sshd-host", **changes: object) -> Host:
        fields: dict[str, object] = {
            "name": name,
            "address": "127.0.0.1",
            "port": self.port,
            "user": getpass.getuser(),
            "key_file": self.client_key,
            "host_key": self.host_key,
            "instance_type": "loopback.sshd",
            "region": "local",
        }
        fields.update(changes)
        return Host(**fields)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(SSHD_STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(SSHD_STOP_DEADLINE_S)


def start_sshd(directory: Path, client_key: Path, port: int | None = None) -> SshServer:
    directory.mkdir(parents=True, exist_ok=True)
    private, public = new_host_key()
    host_key = directory / "ssh_host_ed25519_key"
    host_key.write_bytes(private)
    host_key.chmod(0o600)
    authorized = directory / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    config = directory / "sshd_config"
    config.write_text(
        _CONFIG.format(
            host_key=host_key, authorized_keys=authorized, sftp_server=SFTP_SERVER
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation
    port = port or free_port()
    log_path = directory / "sshd.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config), "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = SshServer(port, public, client_key, process, log_path)
    _wait_for_banner(server)
    return server


def _wait_for_banner(server: SshServer) -> None:
    deadline = time.monotonic() + SSHD_READY_DEADLINE_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"sshd exited: {server.log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), 1) as sock:
                if sock.recv(8).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"sshd not ready: {server.log_path.read_text()}")


def command_benchmark(name: str, run: str, **changes: object) -> BenchmarkSpec:
    fields: dict[str, object] = {
        "name": name,
        "driver": "command",
        "timeout_seconds": 60,
        "run": run,
    }
    fields.update(changes)
    return BenchmarkSpec(**fields)  # type: ignore[arg-type]


def host_spec(
    name: str,
    benchmarks: list[BenchmarkSpec],
    uploads: tuple[UploadSpec, ...] = (),
) -> HostSpec:
    return HostSpec(
        name=name,
        group="loopback",
        index=0,
        instance_type="loopback.sshd",
        region="local",
        architecture="x86_64",
        accelerator_kind=None,
        image=ImageSpec(alias="local"),
        ssh_user=getpass.getuser(),
        storage=StorageSpec(
            device_name="/dev/sda1",
            size_gib=8,
            volume_type="gp3",
            iops=None,
            throughput_mibps=None,
            encrypted=True,
        ),
        network=NetworkSpec(vpc_id=None, subnet_ids=(), ssh_ingress_cidrs=()),
        capacity=None,
        spot=False,
        price_per_hour=1.25,
        tags={},
        uploads=uploads,
        benchmarks=tuple(benchmarks),
    )


def stack_spec(run_id: str, hosts: list[HostSpec]) -> StackSpec:
    now = datetime.now(UTC)
    return StackSpec(
        campaign="runner-tests",
        description=None,
        provider="static",
        run_id=run_id,
        stack_name=f"runner-tests-{run_id}",
        region="local",
        owner="tests",
        created_at=now,
        expires_at=now + timedelta(hours=1),
        tags={},
        bucket=None,
        role=None,
        hosts=tuple(hosts),
        max_usd_per_hour=None,
        max_hours=None,
    )


def drop_connections() -> int:
    """Cut every live SSH connection of this process under paramiko's feet,
    as a network failure would; return how many were cut."""
    cut = 0
    for candidate in gc.get_objects():
        if isinstance(candidate, paramiko.Transport) and candidate.is_active():
            with contextlib.suppress(OSError):
                candidate.sock.shutdown(socket.SHUT_RDWR)
                cut += 1
    return cut


@dataclass
class Target:
    """Where a test's hosts come from: the sshd fixture or the local provider."""

    kind: str
    provide: Callable[[StackSpec, Path], list[Host]]
    home: Callable[[Path, str], Path]
