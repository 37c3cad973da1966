"""The contract every provisioner keeps.

`up` creates what the spec declares and returns the hosts; `destroy` removes
everything `up` created for that run (idempotent: calling it twice, or after a
failed `up`, is safe); `status` says what of the run still exists. State a
provisioner needs between calls lives in the run directory, so `down` and
`resume` work from a fresh process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.hosts import Host


class Provisioner(Protocol):
    def up(self, spec: StackSpec, run_dir: Path) -> list[Host]: ...

    def destroy(self, spec: StackSpec, run_dir: Path) -> None: ...

    def status(self, spec: StackSpec, run_dir: Path) -> dict[str, str]:
        """Host name → a short state (`running`, `stopped`, `gone`)."""
        ...
