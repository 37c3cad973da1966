"""SSH mechanics on one host and detached jobs, against a real OpenSSH server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from sshd_server import free_port, new_host_key, start_sshd

from fmbench_orch.orchestrator import jobs, remote, transfer
from fmbench_orch.orchestrator.layout import RemoteLayout
from fmbench_orch.orchestrator.remote import RemoteHost
from fmbench_orch.orchestrator.ssh_errors import (
    CommandTimedOut,
    ConnectFailed,
    ConnectionLost,
    HostKeyRejected,
    StopRequested,
)

pytestmark = pytest.mark.sshd


def known_hosts_for(path: Path, host) -> Path:
    path.write_text(f"{host.known_hosts_name} {host.host_key}\n")
    return path


@pytest.fixture
def connected(sshd, tmp_path):
    host = sshd.host()
    ssh = RemoteHost(host, known_hosts_for(tmp_path / "known_hosts", host))
    ssh.connect(5)
    yield ssh
    ssh.close()


class TestConnect:
    def test_ignores_the_users_ssh_config(self, sshd, tmp_path, monkeypatch):
        home = tmp_path / "home"
        (home / ".ssh").mkdir(parents=True)
        (home / ".ssh/config").write_text("Host *\n  Port 1\n  User nobody\n")
        monkeypatch.setenv("HOME", str(home))
        host = sshd.host()
        ssh = RemoteHost(host, known_hosts_for(tmp_path / "kh", host))
        assert ssh.connect(5) == 1
        assert ssh.exec("echo $USER", phase="t").output.strip() == host.user
        ssh.close()

    def test_refuses_a_host_with_another_key_without_waiting(self, sshd, tmp_path):
        _, other = new_host_key()
        host = sshd.host(host_key=other)
        started = time.monotonic()
        with pytest.raises(HostKeyRejected, match="unexpected key"):
            RemoteHost(host, known_hosts_for(tmp_path / "kh", host)).connect(30)
        assert time.monotonic() - started < 5

    def test_without_a_host_key_or_known_hosts_it_says_to_add_one(
        self, sshd, tmp_path, monkeypatch
    ):
        monkeypatch.setattr(remote, "USER_KNOWN_HOSTS", tmp_path / "absent")
        host = sshd.host(host_key=None)
        with pytest.raises(HostKeyRejected) as caught:
            RemoteHost(host, None).connect(30)
        assert f"ssh-keyscan -p {host.port} 127.0.0.1" in str(caught.value)
        assert "host_key" in str(caught.value)

    def test_a_static_host_without_a_key_is_checked_against_known_hosts(
        self, sshd, tmp_path, monkeypatch
    ):
        user_known = known_hosts_for(tmp_path / "user_known_hosts", sshd.host())
        monkeypatch.setattr(remote, "USER_KNOWN_HOSTS", user_known)
        ssh = RemoteHost(sshd.host(host_key=None), None)
        ssh.connect(5)
        ssh.close()

        _, other = new_host_key()
        user_known.write_text(f"{sshd.host().known_hosts_name} {other}\n")
        with pytest.raises(HostKeyRejected, match="unexpected key"):
            RemoteHost(sshd.host(host_key=None), None).connect(30)

        user_known.write_text(f"[127.0.0.1]:1 {other}\n")
        with pytest.raises(HostKeyRejected, match="not known"):
            RemoteHost(sshd.host(host_key=None), None).connect(30)

    def test_an_unreadable_key_file_fails_without_dialling(self, sshd, tmp_path):
        garbage = tmp_path / "id_ed25519"
        garbage.write_text("not a key\n")
        started = time.monotonic()
        for key_file in (garbage, tmp_path / "absent"):
            with pytest.raises(ConnectFailed, match="cannot read the private key"):
                RemoteHost(sshd.host(key_file=key_file), None).connect(30)
        assert time.monotonic() - started < 2

    def test_gives_up_on_a_silent_port_at_its_deadline(self, sshd):
        ssh = RemoteHost(sshd.host(port=free_port()), None)
        started = time.monotonic()
        with pytest.raises(ConnectFailed) as caught:
            ssh.connect(1.5)
        assert 1.5 <= time.monotonic() - started < 5
        assert "is reachable from here" in str(caught.value)
        assert caught.value.phase == "connect"

    def test_retries_until_the_server_comes_up(self, sshd, run_key, tmp_path):
        port = free_port()
        later: list = []
        timer = threading.Timer(
            1.0, lambda: later.append(start_sshd(tmp_path / "late", run_key, port))
        )
        timer.start()
        try:
            timer.join()
            host = later[0].host(port=port)
            ssh = RemoteHost(host, known_hosts_for(tmp_path / "kh", host))
            ssh.connect(10)
            assert ssh.exec("true", phase="t").ok
            ssh.close()
        finally:
            for server in later:
                server.stop()

    def test_a_waiting_connect_ends_when_the_run_is_stopped(self, sshd):
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        with pytest.raises(StopRequested):
            RemoteHost(sshd.host(port=free_port()), None).connect(30, stop)
        assert time.monotonic() - started < 5


class TestExec:
    def test_returns_the_exit_status_and_output(self, connected):
        result = connected.exec("echo out; echo err >&2; exit 5", phase="t")
        assert (result.exit_status, result.output) == (5, "out\nerr\n")

    def test_a_command_past_its_deadline_raises(self, connected):
        with pytest.raises(CommandTimedOut):
            connected.exec("sleep 5", phase="t", timeout=0.5)

    def test_a_dropped_connection_raises_connection_lost(self, connected):
        threading.Timer(0.5, connected.transport.sock.close).start()
        with pytest.raises(ConnectionLost):
            connected.exec("sleep 5", phase="t", timeout=10)


class TestJobs:
    def directory(self, run_id: str, name: str = "job") -> str:
        return RemoteLayout(run_id).benchmark_dir(name)

    def test_a_finished_job_is_noticed_within_a_second(
        self, connected, run_id, remote_root, tmp_path
    ):
        latencies = []
        for attempt in range(3):
            directory = self.directory(run_id, f"j{attempt}")
            handle = jobs.start(connected, directory, "sleep 0.3; exit 4\n", "t")
            end = jobs.follow(
                connected,
                handle,
                tmp_path / f"{attempt}.log",
                deadline=time.monotonic() + 30,
                stop=None,
            )
            noticed = time.time()
            ended = (Path.home() / directory / "exit_code").stat().st_mtime
            assert (end.reason, end.exit_code) == ("ended", 4)
            latencies.append(noticed - ended)
        print(f"completion-notice latencies: {[round(x, 3) for x in latencies]}")
        assert max(latencies) < 1.0

    def test_follow_resumes_after_a_drop_without_losing_or_repeating_output(
        self, connected, run_id, tmp_path
    ):
        directory = self.directory(run_id)
        script = "for i in $(seq 20); do echo line $i; sleep 0.1; done\n"
        handle = jobs.start(connected, directory, script, "t")
        log_path = tmp_path / "job.log"
        threading.Timer(0.8, connected.transport.sock.close).start()
        with pytest.raises(ConnectionLost):
            jobs.follow(
                connected, handle, log_path, deadline=time.monotonic() + 30, stop=None
            )
        connected.connect(10)
        state = jobs.probe(connected, directory, "t")
        assert state.handle == handle
        end = jobs.follow(
            connected, handle, log_path, deadline=time.monotonic() + 30, stop=None
        )
        assert (end.reason, end.exit_code) == ("ended", 0)
        assert log_path.read_text() == "".join(f"line {i}\n" for i in range(1, 21))

    def test_probe_tells_a_reused_pid_from_the_job(
        self, connected, run_id, remote_root, sshd
    ):
        directory = self.directory(run_id)
        jobs.start(connected, directory, "true\n", "t")
        time.sleep(0.2)
        pid_file = Path.home() / directory / "pid"
        (Path.home() / directory / "exit_code").unlink(missing_ok=True)
        pid_file.write_text(f"{sshd.process.pid} 12345 1700000000\n")
        state = jobs.probe(connected, directory, "t")
        assert state.started
        assert state.handle.pid == sshd.process.pid
        assert not state.alive
        assert state.exit_code is None

    def test_terminate_leaves_no_member_of_the_group(self, connected, run_id, tmp_path):
        directory = self.directory(run_id)
        script = "sleep 300 & sleep 300 & echo $(jobs -p)\nwait\n"
        handle = jobs.start(connected, directory, script, "t")
        assert jobs.probe(connected, directory, "t").alive
        assert jobs.terminate(connected, handle, "t") == "gone"
        assert jobs.terminate(connected, handle, "t") == "none"
        state = jobs.probe(connected, directory, "t")
        assert not state.alive
        children = (Path.home() / directory / "output.log").read_text().split()
        for pid in [handle.pid, *map(int, children)]:
            stat = Path(f"/proc/{pid}/stat")
            assert not stat.exists() or " Z " in stat.read_text()


class TestHarvest:
    def test_brings_back_regular_files_and_refuses_links_and_fifos(
        self, connected, run_id, remote_root, tmp_path
    ):
        results = remote_root / "benchmarks/b/work/results"
        (results / "sub dir").mkdir(parents=True)
        (results / "sub dir/a file.csv").write_text("x,y\n1,2\n")
        (results / "escape").symlink_to("/etc/passwd")
        (results / "climb").symlink_to("../../../../../../etc/hostname")
        os.mkfifo(results / "pipe")
        run_dir = tmp_path / "run"
        dest = run_dir / "artifacts/h/b"
        harvest = transfer.harvest(
            connected,
            RemoteLayout(run_id).root,
            ["benchmarks/b/work/results*"],
            "benchmarks/b/",
            dest,
            run_dir,
        )
        assert harvest.ok, harvest.problems
        assert [a.path for a in harvest.artifacts] == [
            "artifacts/h/b/work/results/sub dir/a file.csv"
        ]
        assert sorted(r.split(" ")[0] for r in harvest.refused) == [
            "work/results/climb",
            "work/results/escape",
            "work/results/pipe",
        ]
        assert not (dest / "work/results/escape").exists()
        assert not (dest / "work/results/escape").is_symlink()

    def test_nothing_to_harvest_is_an_empty_success(self, connected, run_id, tmp_path):
        harvest = transfer.harvest(
            connected,
            RemoteLayout(run_id).root,
            ["nothing-*", "absent"],
            "",
            tmp_path / "run/artifacts/h/b",
            tmp_path / "run",
        )
        assert harvest.ok
        assert harvest.artifacts == []

    def test_a_last_pattern_that_matches_nothing_still_harvests_the_others(
        self, connected, run_id, remote_root, tmp_path
    ):
        (remote_root / "benchmarks/b").mkdir(parents=True)
        (remote_root / "benchmarks/b/output.log").write_text("done\n")
        harvest = transfer.harvest(
            connected,
            RemoteLayout(run_id).root,
            ["benchmarks/b/output.log", "benchmarks/b/telemetry/*.csv"],
            "benchmarks/b/",
            tmp_path / "run/artifacts/h/b",
            tmp_path / "run",
        )
        assert harvest.ok, harvest.problems
        assert [a.path for a in harvest.artifacts] == ["artifacts/h/b/output.log"]
