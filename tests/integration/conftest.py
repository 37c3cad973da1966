"""Fixtures for the runner's tests: a real OpenSSH server, run ids, specs.

The server (see `sshd_server`) is shared by the session; every run id's
directory in the login directory is removed after its test.
"""

from __future__ import annotations

import shutil
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer
from sshd_server import (
    SSHD,
    SshServer,
    Target,
    command_benchmark,
    host_spec,
    stack_spec,
    start_sshd,
)

from fmbench_orch.models.spec import BenchmarkSpec, StackSpec, UploadSpec
from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.keys import create_run_key
from fmbench_orch.orchestrator.layout import REMOTE_BASE


@pytest.fixture(scope="session")
def run_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_run_key(tmp_path_factory.mktemp("keys"), "fmbench-orch-tests")


@pytest.fixture(scope="session")
def sshd(
    tmp_path_factory: pytest.TempPathFactory, run_key: Path
) -> Iterator[SshServer]:
    if not SSHD.exists():
        pytest.skip(f"{SSHD} is missing: install Debian's openssh-server to run this")
    server = start_sshd(tmp_path_factory.mktemp("sshd"), run_key)
    yield server
    server.stop()


@pytest.fixture
def run_id() -> Iterator[str]:
    """A fresh run id; whatever the run left in the login directory is removed."""
    value = f"t{uuid.uuid4().hex[:10]}"
    yield value
    shutil.rmtree(Path.home() / REMOTE_BASE / value, ignore_errors=True)


@pytest.fixture
def remote_root(run_id: str) -> Path:
    """The run's directory on the loopback host, as the local filesystem sees it."""
    return Path.home() / REMOTE_BASE / run_id


@pytest.fixture
def make_spec(run_id: str) -> Callable[..., StackSpec]:
    """`make_spec({host name: [benchmarks]}, uploads={host name: (...)})`."""

    def build(
        benchmarks: dict[str, list[BenchmarkSpec]],
        uploads: dict[str, tuple[UploadSpec, ...]] | None = None,
    ) -> StackSpec:
        hosts = [
            host_spec(name, items, (uploads or {}).get(name, ()))
            for name, items in benchmarks.items()
        ]
        return stack_spec(run_id, hosts)

    return build


@pytest.fixture
def command_bench() -> Callable[..., BenchmarkSpec]:
    return command_benchmark


@pytest.fixture(params=["sshd", "local"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "sshd":
        server = request.getfixturevalue("sshd")
        yield Target(
            "sshd",
            lambda spec, run_dir: [server.host(h.name) for h in spec.hosts],
            lambda run_dir, host: Path.home(),
        )
        return
    local = pytest.importorskip("fmbench_orch.orchestrator.provisioners.local")
    provisioner = local.LocalProvisioner()
    made: list[tuple[StackSpec, Path]] = []

    def provide(spec: StackSpec, run_dir: Path) -> list[Host]:
        create_run_key(run_dir / local.KEYS_DIR_NAME, "fmbench-orch-tests")
        made.append((spec, run_dir))
        return provisioner.up(spec, run_dir)

    yield Target(
        "local", provide, lambda run_dir, host: local.state_dir_of(run_dir) / host
    )
    for spec, run_dir in made:
        provisioner.destroy(spec, run_dir)


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh account on moto's server on 127.0.0.1, reached via AWS_ENDPOINT_URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    url = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FMBENCH_ORCH_HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield url
    finally:
        # moto keeps its accounts in this process across servers: start clean.
        urllib.request.urlopen(
            urllib.request.Request(f"{url}/moto-api/reset", method="POST")
        )
        server.stop()
