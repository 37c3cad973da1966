"""The local provider against real clients: paramiko and asyncssh over TCP."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
import paramiko
import pytest

from fmbench_orch.models.spec import (
    HostSpec,
    ImageSpec,
    NetworkSpec,
    StackSpec,
    StorageSpec,
)
from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.keys import create_run_key
from fmbench_orch.orchestrator.provisioners.local import (
    LocalHostsError,
    LocalProvisioner,
    state_dir_of,
)
from fmbench_orch.orchestrator.provisioners.local_processes import (
    PROCESS_STOP_GRACE,
    marked_processes,
)

# How long a test waits for something the hosts do asynchronously (a kill
# after a disconnect, an expiry): seconds here, generous for a loaded runner.
EVENTUALLY = 10.0


def make_spec(names: list[str], expires_in: timedelta = timedelta(hours=1)):
    now = datetime.now(UTC)
    hosts = tuple(
        HostSpec(
            name=name,
            group="local",
            index=index,
            instance_type="local.small",
            region="local",
            architecture="x86_64",
            accelerator_kind=None,
            image=ImageSpec(alias="local"),
            ssh_user="bench",
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
            price_per_hour=0.0,
            tags={},
            uploads=(),
            benchmarks=(),
        )
        for index, name in enumerate(names)
    )
    return StackSpec(
        campaign="local-test",
        description=None,
        provider="local",
        run_id="run-1",
        stack_name="local-test-run-1",
        region="local",
        owner="tester",
        created_at=now,
        expires_at=now + expires_in,
        tags={},
        bucket=None,
        role=None,
        hosts=hosts,
        max_usd_per_hour=None,
        max_hours=None,
    )


def new_run_dir(base: Path) -> Path:
    run_dir = base / "run"
    create_run_key(run_dir / "keys", "local-test")
    return run_dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return new_run_dir(tmp_path)


@pytest.fixture
def provisioner() -> LocalProvisioner:
    return LocalProvisioner()


@pytest.fixture
def hosts(provisioner, run_dir) -> Iterator[list[Host]]:
    spec = make_spec(["alpha", "beta"])
    try:
        yield provisioner.up(spec, run_dir)
    finally:
        provisioner.destroy(spec, run_dir)


def connect(host: Host, key_file: Path | None = None, user: str | None = None):
    client = paramiko.SSHClient()
    _, b64 = host.host_key.split()[:2]
    known = paramiko.Ed25519Key(data=base64.b64decode(b64))
    client.get_host_keys().add(host.known_hosts_name, "ssh-ed25519", known)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host.address,
        port=host.port,
        username=user or host.user,
        key_filename=str(key_file or host.key_file),
        look_for_keys=False,
        allow_agent=False,
        timeout=5,
    )
    return client


def run(client: paramiko.SSHClient, command: str, stdin: bytes | None = None):
    """Run a command; return stdout, stderr and the exit status."""
    channel = client.get_transport().open_session()
    channel.exec_command(command)
    if stdin is not None:

        def send() -> None:
            channel.sendall(stdin)
            channel.shutdown_write()

        sender = threading.Thread(target=send)
        sender.start()
    stdout = channel.makefile("rb").read()
    stderr = channel.makefile_stderr("rb").read()
    status = channel.recv_exit_status()
    if stdin is not None:
        sender.join()
    return stdout, stderr, status


def asyncssh_run(host: Host, command: str) -> asyncssh.SSHCompletedProcess:
    async def go() -> asyncssh.SSHCompletedProcess:
        trusted = [asyncssh.import_public_key(host.host_key)]
        async with asyncssh.connect(
            host.address,
            host.port,
            username=host.user,
            client_keys=[str(host.key_file)],
            known_hosts=(trusted, [], []),
        ) as conn:
            return await conn.run(command)

    return asyncio.run(go())


def eventually(condition: Callable[[], bool], timeout: float = EVENTUALLY) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def process_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0].decode()
    except FileNotFoundError:
        return None


def alive(pid: int) -> bool:
    return process_state(pid) not in (None, "Z", "X")


def group_alive(pgid: int) -> bool:
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except FileNotFoundError:
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def daemon_pid(run_dir: Path) -> int:
    return json.loads((state_dir_of(run_dir) / "hosts.json").read_text())["pid"]


def test_up_returns_one_loopback_host_per_spec_host_with_its_own_host_key(
    hosts, run_dir
):
    assert [host.name for host in hosts] == ["alpha", "beta"]
    assert {host.address for host in hosts} == {"127.0.0.1"}
    assert hosts[0].port != hosts[1].port
    assert hosts[0].host_key != hosts[1].host_key
    assert hosts[0].host_key.startswith("ssh-ed25519 ")
    assert hosts[0].user == "bench"
    assert hosts[0].key_file == run_dir.resolve() / "keys" / "id_ed25519"
    assert (hosts[0].instance_type, hosts[0].region) == ("local.small", "local")


def test_a_client_with_the_run_key_connects_and_the_host_key_matches(hosts):
    client = connect(hosts[0])
    try:
        served = client.get_transport().get_remote_server_key().get_base64()
        assert served == hosts[0].host_key.split()[1]
    finally:
        client.close()


def test_a_client_expecting_another_hosts_key_is_refused(hosts):
    impostor = Host(**{**hosts[0].__dict__, "host_key": hosts[1].host_key})
    with pytest.raises(paramiko.SSHException):
        connect(impostor)


def test_a_different_client_key_or_user_is_rejected(hosts, tmp_path):
    stranger = create_run_key(tmp_path / "stranger", "stranger")
    with pytest.raises(paramiko.AuthenticationException):
        connect(hosts[0], key_file=stranger)
    with pytest.raises(paramiko.AuthenticationException):
        connect(hosts[0], user="root")


def test_a_command_returns_its_output_and_exit_status_in_the_host_dir(hosts, run_dir):
    client = connect(hosts[0])
    try:
        stdout, stderr, status = run(client, "pwd; echo $HOME; echo oops >&2; exit 3")
    finally:
        client.close()
    host_dir = str(state_dir_of(run_dir) / "alpha")
    assert stdout.decode().splitlines() == [host_dir, host_dir]
    assert stderr == b"oops\n"
    assert status == 3


def test_a_command_started_with_exec_keeps_its_exit_status(hosts):
    client = connect(hosts[0])
    try:
        assert run(client, "exec sh -c 'echo replaced; exit 7'")[::2] == (
            b"replaced\n",
            7,
        )
    finally:
        client.close()


def test_large_output_arrives_complete_before_the_exit_status(hosts):
    client = connect(hosts[0])
    try:
        for _ in range(5):
            stdout, _, status = run(client, "head -c 3000000 /dev/zero")
            assert (len(stdout), status) == (3_000_000, 0)
    finally:
        client.close()


def test_a_command_killed_by_a_signal_reports_the_signal(hosts):
    result = asyncssh_run(hosts[0], "kill -KILL $$")
    assert result.exit_signal is not None
    assert result.exit_signal[0] == "KILL"

    client = connect(hosts[0])
    try:
        assert run(client, "kill -TERM $$")[2] == -1  # paramiko's "no status"
    finally:
        client.close()


def test_a_session_without_a_command_runs_bash_on_its_stdin(hosts):
    async def go() -> asyncssh.SSHCompletedProcess:
        host = hosts[0]
        async with asyncssh.connect(
            host.address,
            host.port,
            username=host.user,
            client_keys=[str(host.key_file)],
            known_hosts=([asyncssh.import_public_key(host.host_key)], [], []),
        ) as conn:
            return await conn.run(input="echo from-shell\nexit 4\n")

    result = asyncio.run(go())
    assert (result.stdout, result.exit_status) == ("from-shell\n", 4)


def test_stdin_is_piped_to_the_command(hosts):
    payload = os.urandom(1_000_000)
    client = connect(hosts[0])
    try:
        stdout, _, status = run(client, "cat", stdin=payload)
    finally:
        client.close()
    assert (stdout == payload, status) == (True, 0)


def test_a_tar_stream_unpacks_on_the_host_and_reads_back_over_sftp(hosts):
    files = {"a.txt": b"first\n", "sub/b.bin": os.urandom(300_000), "sub/c": b""}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))

    client = connect(hosts[0])
    try:
        _, stderr, status = run(
            client, "mkdir -p up && tar -xf - -C up", archive.getvalue()
        )
        assert (stderr, status) == (b"", 0)
        sftp = client.open_sftp()
        for name, content in files.items():
            with sftp.open(f"up/{name}", "rb") as remote:
                assert remote.read() == content
    finally:
        client.close()


def test_sftp_cannot_leave_the_host_dir(hosts, run_dir):
    secret = run_dir / "outside.txt"
    secret.write_text("not for hosts")
    client = connect(hosts[0])
    try:
        sftp = client.open_sftp()
        sftp.putfo(io.BytesIO(b"inside"), "mine.txt")
        assert sftp.normalize("..") == "/"
        assert "mine.txt" in sftp.listdir("/")
        assert "mine.txt" in sftp.listdir("../../..")
        for escape in ("../../outside.txt", "/../../outside.txt", str(secret)):
            with pytest.raises(FileNotFoundError):
                sftp.open(escape, "rb")
        sftp.putfo(io.BytesIO(b"stays"), "../../escaped.txt")
    finally:
        client.close()
    assert (state_dir_of(run_dir) / "alpha" / "escaped.txt").read_bytes() == b"stays"
    assert not (run_dir / "escaped.txt").exists()


def test_a_client_disconnect_kills_the_commands_process_group(hosts):
    client = connect(hosts[0])
    channel = client.get_transport().open_session()
    channel.exec_command("echo $$; sleep 300 & sleep 300")
    pgid = int(channel.makefile("rb").readline())
    assert group_alive(pgid)

    client.close()
    assert eventually(lambda: not group_alive(pgid))


def test_a_setsid_detached_command_survives_the_disconnect_until_destroy(
    provisioner, run_dir
):
    spec = make_spec(["alpha"])
    host = provisioner.up(spec, run_dir)[0]
    pid_file = state_dir_of(run_dir) / "alpha" / "detached.pid"
    try:
        client = connect(host)
        channel = client.get_transport().open_session()
        channel.exec_command(
            "setsid bash -c 'echo $$ > detached.pid; exec sleep 300' "
            "</dev/null >detached.log 2>&1 & echo $$; sleep 300"
        )
        pgid = int(channel.makefile("rb").readline())
        assert eventually(lambda: pid_file.exists() and pid_file.read_text() != "")
        detached = int(pid_file.read_text())

        client.close()
        assert eventually(lambda: not group_alive(pgid))
        assert alive(detached)
    finally:
        provisioner.destroy(spec, run_dir)
    assert not alive(detached)


def test_after_destroy_no_port_listens_no_process_remains_and_dirs_are_gone(
    provisioner, run_dir
):
    spec = make_spec(["alpha", "beta"])
    hosts = provisioner.up(spec, run_dir)
    daemon = daemon_pid(run_dir)
    client = connect(hosts[1])
    client.exec_command("setsid sleep 300 </dev/null >/dev/null 2>&1 &")
    state_dir = state_dir_of(run_dir)
    assert eventually(lambda: len(marked_processes(state_dir)) == 1)
    assert provisioner.status(spec, run_dir) == {"alpha": "running", "beta": "running"}

    provisioner.destroy(spec, run_dir)
    client.close()

    assert not any(listening(host.port) for host in hosts)
    assert not alive(daemon)
    assert marked_processes(state_dir) == set()
    assert not (state_dir / "alpha").exists()
    assert provisioner.status(spec, run_dir) == {"alpha": "gone", "beta": "gone"}

    provisioner.destroy(spec, run_dir)  # twice is a no-op


def test_destroy_kills_a_detached_process_that_ignores_sigterm_after_the_grace(
    provisioner, run_dir
):
    spec = make_spec(["alpha"])
    host = provisioner.up(spec, run_dir)[0]
    state_dir = state_dir_of(run_dir)
    try:
        client = connect(host)
        client.exec_command(
            "setsid bash -c \"trap '' TERM; sleep 300 & wait\" "
            "</dev/null >/dev/null 2>&1 &"
        )
        assert eventually(lambda: len(marked_processes(state_dir)) == 2)
        client.close()
    finally:
        started = time.monotonic()
        provisioner.destroy(spec, run_dir)
    assert marked_processes(state_dir) == set()
    assert time.monotonic() - started >= PROCESS_STOP_GRACE


def test_destroy_after_the_daemon_was_killed_still_stops_what_its_hosts_started(
    provisioner, run_dir
):
    spec = make_spec(["alpha"])
    host = provisioner.up(spec, run_dir)[0]
    state_dir = state_dir_of(run_dir)
    client = connect(host)
    client.exec_command("setsid sleep 300 </dev/null >/dev/null 2>&1 &")
    assert eventually(lambda: len(marked_processes(state_dir)) == 1)
    client.close()

    os.kill(daemon_pid(run_dir), signal.SIGKILL)
    assert eventually(lambda: provisioner.status(spec, run_dir) == {"alpha": "gone"})
    assert len(marked_processes(state_dir)) == 1

    provisioner.destroy(spec, run_dir)
    assert marked_processes(state_dir) == set()


def test_destroy_without_up_is_a_no_op(provisioner, run_dir):
    spec = make_spec(["alpha"])
    provisioner.destroy(spec, run_dir)
    assert provisioner.status(spec, run_dir) == {"alpha": "gone"}


def test_up_twice_returns_the_same_hosts(provisioner, run_dir):
    spec = make_spec(["alpha"])
    try:
        first = provisioner.up(spec, run_dir)
        assert provisioner.up(spec, run_dir) == first
    finally:
        provisioner.destroy(spec, run_dir)


def test_the_daemon_exits_by_itself_at_expiry_and_stops_its_processes(
    provisioner, run_dir
):
    spec = make_spec(["alpha"], expires_in=timedelta(seconds=2))
    host = provisioner.up(spec, run_dir)[0]
    daemon = daemon_pid(run_dir)
    try:
        client = connect(host)
        client.exec_command("setsid sleep 300 </dev/null >/dev/null 2>&1 &")
        state_dir = state_dir_of(run_dir)
        assert eventually(lambda: len(marked_processes(state_dir)) == 1)
        client.close()

        assert eventually(lambda: not alive(daemon))
        assert provisioner.status(spec, run_dir) == {"alpha": "gone"}
        assert marked_processes(state_dir) == set()
        assert not listening(host.port)
    finally:
        provisioner.destroy(spec, run_dir)


def test_an_expired_spec_is_refused_before_anything_starts(provisioner, run_dir):
    spec = make_spec(["alpha"], expires_in=timedelta(seconds=-1))
    with pytest.raises(LocalHostsError, match="expired"):
        provisioner.up(spec, run_dir)


def test_a_daemon_that_dies_before_ready_raises_with_its_log(provisioner, run_dir):
    (run_dir / "keys" / "id_ed25519.pub").write_text("not a key\n")
    spec = make_spec(["alpha"])
    with pytest.raises(LocalHostsError) as failure:
        provisioner.up(spec, run_dir)
    assert failure.value.phase == "up"
    assert "cannot read the run key" in failure.value.log_tail
    assert "run `up` again" in str(failure.value)
    provisioner.destroy(spec, run_dir)


def test_two_runs_at_once_do_not_interfere(provisioner, tmp_path):
    first_dir, second_dir = new_run_dir(tmp_path / "1"), new_run_dir(tmp_path / "2")
    spec = make_spec(["alpha"])
    first = provisioner.up(spec, first_dir)[0]
    second = provisioner.up(spec, second_dir)[0]
    try:
        with pytest.raises(paramiko.AuthenticationException):
            connect(second, key_file=first.key_file)

        provisioner.destroy(spec, first_dir)
        client = connect(second)
        try:
            assert run(client, "echo still here")[0] == b"still here\n"
        finally:
            client.close()
        assert provisioner.status(spec, second_dir) == {"alpha": "running"}
    finally:
        provisioner.destroy(spec, first_dir)
        provisioner.destroy(spec, second_dir)


UP_IN_ANOTHER_PROCESS = """
import dataclasses, json, sys
from pathlib import Path
from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.provisioners.local import LocalProvisioner
spec = StackSpec.model_validate_json(Path(sys.argv[1]).read_text())
hosts = LocalProvisioner().up(spec, Path(sys.argv[2]))
print(json.dumps([dataclasses.asdict(host) for host in hosts], default=str))
"""


def test_hosts_brought_up_by_one_process_are_destroyed_by_another(
    provisioner, run_dir, tmp_path
):
    spec = make_spec(["alpha"])
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.model_dump_json())
    up = subprocess.run(
        [sys.executable, "-c", UP_IN_ANOTHER_PROCESS, str(spec_file), str(run_dir)],
        capture_output=True,
        check=True,
        text=True,
        timeout=60,
    )
    fields = json.loads(up.stdout)[0]
    host = Host(**{**fields, "key_file": Path(fields["key_file"])})
    try:
        client = connect(host)
        try:
            assert run(client, "echo outlived its parent")[2] == 0
        finally:
            client.close()
    finally:
        provisioner.destroy(spec, run_dir)
    assert not listening(host.port)


def test_sixty_four_hosts_come_up_quickly_and_each_accepts_connections(
    provisioner, run_dir
):
    spec = make_spec([f"host-{index:02d}" for index in range(64)])
    started = time.monotonic()
    hosts = provisioner.up(spec, run_dir)
    took = time.monotonic() - started
    try:
        assert all(listening(host.port) for host in hosts)
        assert took < 5.0, f"up for 64 hosts took {took:.2f} s"
    finally:
        provisioner.destroy(spec, run_dir)
