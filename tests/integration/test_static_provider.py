"""The static provider: hosts the user has; teardown only removes the run's files."""

from __future__ import annotations

import logging

import pytest
from sshd_server import free_port, host_spec, stack_spec

from fmbench_orch.models.spec import StaticSpec
from fmbench_orch.orchestrator.events import EventLog
from fmbench_orch.orchestrator.provisioners.static import (
    StaticHostError,
    StaticProvisioner,
)
from fmbench_orch.orchestrator.runner import run_benchmarks

pytestmark = pytest.mark.sshd


def static_spec(run_id, sshd, names=("s1",), **static_changes):
    hosts = []
    for name in names:
        spec = host_spec(name, [])
        static = StaticSpec(
            address="127.0.0.1",
            port=sshd.port,
            key_file=sshd.client_key,
            host_key=sshd.host_key,
        )
        static = static.model_copy(update=static_changes)
        hosts.append(spec.model_copy(update={"static": static}))
    return stack_spec(run_id, hosts)


def test_up_describes_the_hosts_without_creating_anything(sshd, run_id, tmp_path):
    [host] = StaticProvisioner().up(static_spec(run_id, sshd), tmp_path)
    assert (host.name, host.address, host.port) == ("s1", "127.0.0.1", sshd.port)
    assert host.host_key == sshd.host_key
    assert host.key_file == sshd.client_key
    assert host.instance_type == "loopback.sshd"


def test_up_refuses_a_host_without_an_address(run_id, tmp_path):
    spec = stack_spec(run_id, [host_spec("bare", [])])
    with pytest.raises(StaticHostError, match="address"):
        StaticProvisioner().up(spec, tmp_path)


def test_up_refuses_a_malformed_host_key(sshd, run_id, tmp_path):
    spec = static_spec(run_id, sshd, host_key="ssh-ed25519 not-base64!")
    with pytest.raises(StaticHostError, match="host_key"):
        StaticProvisioner().up(spec, tmp_path)


def test_destroy_removes_only_the_runs_directory_and_can_run_twice(
    sshd, run_id, remote_root, command_bench, tmp_path
):
    spec = static_spec(run_id, sshd)
    spec = spec.model_copy(
        update={
            "hosts": (
                spec.hosts[0].model_copy(
                    update={"benchmarks": (command_bench("b", "echo hi"),)}
                ),
            )
        }
    )
    provisioner = StaticProvisioner()
    hosts = provisioner.up(spec, tmp_path)
    [result] = run_benchmarks(spec, hosts, tmp_path, EventLog(tmp_path))
    assert result.status == "success", result.reason
    assert remote_root.is_dir()
    sibling = remote_root.parent / f"{run_id}-other"
    sibling.mkdir()
    try:
        provisioner.destroy(spec, tmp_path)
        assert not remote_root.exists()
        assert sibling.is_dir()
        provisioner.destroy(spec, tmp_path)
    finally:
        sibling.rmdir()
    assert provisioner.status(spec, tmp_path) == {"s1": "running"}


def test_destroy_of_an_unreachable_host_is_logged_not_raised(
    sshd, run_id, tmp_path, caplog, monkeypatch
):
    from fmbench_orch.orchestrator.provisioners import static

    monkeypatch.setattr(static, "CLEANUP_CONNECT_DEADLINE_S", 0.5)
    spec = static_spec(run_id, sshd, port=free_port())
    with caplog.at_level(logging.WARNING):
        StaticProvisioner().destroy(spec, tmp_path)
    assert "s1: cleanup skipped" in caplog.text
    assert StaticProvisioner().status(spec, tmp_path) == {"s1": "unreachable"}
