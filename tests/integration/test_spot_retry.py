"""Spot hosts EC2 takes back, rerun On-Demand when the campaign asks for it.

The hosts are Debian's OpenSSH sshd on 127.0.0.1. A stand-in for the aws
provisioner hands out, for a Spot host, a second sshd whose key is not the
one recorded for it (what a reclaimed instance's address looks like from
here: the connection is refused at once) and says EC2 reclaimed it; asked
again for the same host On-Demand, it hands out the real sshd. Everything else — the
runner, the retry, the results, teardown — is the real code.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sshd_server import start_sshd

from fmbench_orch.models.compile import StackValues
from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator import lifecycle
from fmbench_orch.orchestrator.events import read_events
from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.lifecycle import execute_run
from fmbench_orch.orchestrator.rundir import RunDirectory

pytestmark = pytest.mark.sshd

SPOT_REASON = "spot interruption: EC2 reclaimed Spot instance i-0abc"


class ReclaimingProvisioner:
    """Spot hosts come up already reclaimed; On-Demand ones are the real sshd."""

    def __init__(self, sshd, elsewhere) -> None:
        self.sshd = sshd
        self.elsewhere = elsewhere
        self.stale_key = sshd.host_key
        self.ups: list[dict[str, bool]] = []
        self.destroyed: list[StackSpec] = []

    def up(self, spec: StackSpec, run_dir: Path) -> list[Host]:
        self.ups.append({host.name: host.spot for host in spec.hosts})
        return [
            self.elsewhere.host(host.name, host_key=self.stale_key)
            if host.spot
            else self.sshd.host(host.name)
            for host in spec.hosts
        ]

    def destroy(self, spec: StackSpec, run_dir: Path) -> None:
        self.destroyed.append(spec)

    def status(self, spec: StackSpec, run_dir: Path) -> dict[str, str]:
        return {}

    def why_lost(self, host: Host) -> str | None:
        return SPOT_REASON if self.spot_reclaimed(host) else None

    def spot_reclaimed(self, host: Host) -> bool:
        return host.port == self.elsewhere.port


@pytest.fixture
def provisioner(sshd, run_key, tmp_path) -> Iterator[ReclaimingProvisioner]:
    elsewhere = start_sshd(tmp_path / "reclaimed", run_key)
    yield ReclaimingProvisioner(sshd, elsewhere)
    elsewhere.stop()


def spot_spec(make_spec, command_bench, policy: str) -> StackSpec:
    spec = make_spec(
        {
            "spot": [
                command_bench("first", "echo first ran"),
                command_bench("second", "true"),
            ],
            "steady": [command_bench("other", "exit 3")],
        }
    )
    host = spec.host("spot").model_copy(
        update={"spot": True, "on_spot_interruption": policy}
    )
    return spec.with_host(host)


def run_with(provisioner, spec: StackSpec, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(lifecycle, "provisioner_for", lambda spec, run_dir: provisioner)
    run_dir = RunDirectory.create(tmp_path / "runs", spec.campaign, spec.run_id)
    values = StackValues(
        run_id=spec.run_id, created_at=datetime.now(UTC), operator="tester"
    )
    run_dir.save_stack(None, values, spec)
    return run_dir, execute_run(run_dir, spec)


def test_a_reclaimed_spot_host_comes_back_on_demand_and_reruns_what_it_lost(
    provisioner, make_spec, command_bench, tmp_path, monkeypatch
):
    spec = spot_spec(make_spec, command_bench, "on-demand")

    run_dir, outcome = run_with(provisioner, spec, tmp_path, monkeypatch)

    statuses = {(r.host, r.benchmark): r.status for r in outcome.results}
    assert statuses == {
        ("spot", "first"): "success",
        ("spot", "second"): "success",
        # A real failure elsewhere is not retried: only the reclaimed host is.
        ("steady", "other"): "failure",
    }
    assert provisioner.ups == [
        {"spot": True, "steady": False},
        {"spot": False, "steady": False},
    ]
    assert [s.host("spot").spot for s in provisioner.destroyed] == [False]
    assert run_dir.load_spec().host("spot").spot is False
    log = run_dir.path / "artifacts/spot/first/output.log"
    assert "first ran" in log.read_text()
    [retry] = [e for e in read_events(run_dir.path) if e["phase"] == "spot-retry"]
    assert retry["detail"] == "spot"
    assert outcome.teardown == "complete"


def test_without_the_retry_a_reclaimed_spot_host_fails_saying_why(
    provisioner, make_spec, command_bench, tmp_path, monkeypatch
):
    spec = spot_spec(make_spec, command_bench, "fail")

    _, outcome = run_with(provisioner, spec, tmp_path, monkeypatch)

    lost = [r for r in outcome.results if r.host == "spot"]
    assert [r.status for r in lost] == ["failure", "failure"]
    assert all(r.reason.startswith(SPOT_REASON) for r in lost)
    assert len(provisioner.ups) == 1
    assert outcome.teardown == "complete"
