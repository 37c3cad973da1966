"""The run directory: everything one run keeps on the operator's machine.

`runs/<campaign>/<run-id>/` holds the stack record (campaign file, stack
values, compiled spec), the run's SSH key, logs, harvested artifacts, one
result file per benchmark, the event log and the manifest. Every single-step
command (`down`, `status`, `logs`, `harvest`, `resume`) works from it alone.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fmbench_orch.models.compile import StackValues
from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.errors import RunNotFound
from fmbench_orch.orchestrator.layout import RunLayout

STACK_FILE = "stack.json"
MANIFEST_FILE = "manifest.json"
KEYS_DIR = "keys"


def new_run_id(now: datetime) -> str:
    """Sortable by time, unique enough for one operator: `2612031913a7`."""
    return f"{now:%y%m%d%H%M}{secrets.token_hex(1)}"


@dataclass(frozen=True)
class ExternalStack:
    """A Pulumi stack brought up outside the tool, which a run only borrows."""

    name: str
    project_dir: Path


@dataclass(frozen=True)
class RunDirectory:
    path: Path

    @classmethod
    def create(cls, root: Path, campaign: str, run_id: str) -> RunDirectory:
        path = root / campaign / run_id
        path.mkdir(parents=True, exist_ok=False)
        return cls(path.resolve())

    @classmethod
    def open(cls, path: Path) -> RunDirectory:
        if not (path / STACK_FILE).is_file():
            raise RunNotFound(
                f"{path} is not a run directory (no {STACK_FILE}); pass the folder "
                "`run` printed, e.g. runs/<campaign>/<run-id>"
            )
        return cls(path.resolve())

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.path)

    @property
    def keys_dir(self) -> Path:
        return self.path / KEYS_DIR

    def save_stack(
        self,
        campaign_file: Path | None,
        values: StackValues,
        spec: StackSpec,
        external_stack: ExternalStack | None = None,
    ) -> None:
        record = {
            "campaign_file": str(campaign_file.resolve()) if campaign_file else None,
            "values": values.model_dump(mode="json"),
            "spec": spec.model_dump(mode="json"),
            "external_stack": (
                {
                    "name": external_stack.name,
                    "project_dir": str(external_stack.project_dir),
                }
                if external_stack
                else None
            ),
        }
        _write_json(self.path / STACK_FILE, record)

    def external_stack(self) -> ExternalStack | None:
        """The stack this run borrowed (`run --stack`), if it did not make its own."""
        record = json.loads((self.path / STACK_FILE).read_text()).get("external_stack")
        if not record:
            return None
        return ExternalStack(record["name"], Path(record["project_dir"]))

    def update_spec(self, spec: StackSpec) -> None:
        """Record the spec as launched (hosts moved to a fallback placement)."""
        record = json.loads((self.path / STACK_FILE).read_text())
        record["spec"] = spec.model_dump(mode="json")
        _write_json(self.path / STACK_FILE, record)

    def load_spec(self) -> StackSpec:
        record = json.loads((self.path / STACK_FILE).read_text())
        return StackSpec.model_validate(record["spec"])

    def save_result(self, result: BenchmarkResult) -> None:
        path = self.layout.result(result.host, result.benchmark)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_text(path, result.model_dump_json(indent=2))

    def load_results(self) -> dict[tuple[str, str], BenchmarkResult]:
        """Results recorded so far, by (host, benchmark)."""
        found = {}
        for path in sorted((self.path / "results").glob("*/*.json")):
            result = BenchmarkResult.model_validate_json(path.read_text())
            found[(result.host, result.benchmark)] = result
        return found

    def write_manifest(
        self,
        spec: StackSpec,
        results: list[BenchmarkResult],
        status: str,
        teardown: str,
    ) -> dict[str, Any]:
        by_key = {(r.host, r.benchmark): r for r in results}
        manifest = {
            "campaign": spec.campaign,
            "run_id": spec.run_id,
            "provider": spec.provider,
            "stack_name": spec.stack_name,
            "created_at": spec.created_at.isoformat(),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": status,
            "teardown": teardown,
            "hosts": [
                {
                    "name": host.name,
                    "instance_type": host.instance_type,
                    "region": host.region,
                    "price_per_hour": host.price_per_hour,
                    "benchmarks": [
                        by_key[(host.name, b.name)].model_dump(mode="json")
                        for b in host.benchmarks
                        if (host.name, b.name) in by_key
                    ],
                }
                for host in spec.hosts
            ],
        }
        _write_json(self.path / MANIFEST_FILE, manifest)
        return manifest

    def read_manifest(self) -> dict[str, Any] | None:
        path = self.path / MANIFEST_FILE
        return json.loads(path.read_text()) if path.exists() else None


def _write_json(path: Path, document: Any) -> None:
    _write_text(path, json.dumps(document, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    """Write atomically: a reader never sees half a manifest."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    os.replace(partial, path)
