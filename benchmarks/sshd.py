"""Debian's OpenSSH `sshd` on 127.0.0.1, started the way the tests start it.

The tests' helper (tests/integration/sshd_server.py) already knows how to run
a private sshd with its own host key, config and authorized key; it is loaded
from its file rather than copied, so the benchmarks and the tests always dial
the same server.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.keys import create_run_key

REPOSITORY = Path(__file__).resolve().parents[1]
SSHD_HELPER = REPOSITORY / "tests" / "integration" / "sshd_server.py"
HELPER_MODULE = "fmbench_benchmarks_sshd_server"


def helper() -> ModuleType:
    """The tests' sshd helper module (loaded once)."""
    if HELPER_MODULE in sys.modules:
        return sys.modules[HELPER_MODULE]
    spec = importlib.util.spec_from_file_location(HELPER_MODULE, SSHD_HELPER)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {SSHD_HELPER}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[HELPER_MODULE] = module
    spec.loader.exec_module(module)
    return module


def available() -> str | None:
    """None when an sshd can run here, else why not."""
    module = helper()
    for binary in (module.SSHD, module.SFTP_SERVER):
        if not Path(binary).exists():
            return f"{binary} is missing (apt-get install openssh-server)"
    return None


class OpenSshServer:
    """A private sshd and a client key it accepts; use as a context manager."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.client_key = create_run_key(directory / "client", "fmbench-benchmarks")
        self._server = helper().start_sshd(directory / "server", self.client_key)

    @property
    def port(self) -> int:
        return self._server.port

    def host(self, name: str = "sshd") -> Host:
        return self._server.host(name)

    def __enter__(self) -> OpenSshServer:
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop()
