"""Reading run directories back for the report: spec, results, events.

Only the stack record is required. A result file or event line that cannot
be read becomes a `Problem` in the report instead of stopping it, so one
damaged file never hides the rest of a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.errors import ExitCode, OrchestratorError
from fmbench_orch.orchestrator.events import EVENTS_FILE
from fmbench_orch.orchestrator.report.model import Problem
from fmbench_orch.orchestrator.rundir import RunDirectory

RESULTS_DIR = "results"


class UnreadableRun(OrchestratorError):
    """A run directory whose stack record cannot be read."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(
            f"{path}: cannot read the run's stack record ({cause}); pass a run "
            "directory `run` or `harvest` wrote, e.g. runs/<campaign>/<run-id>",
            phase="report",
        )
        self.path = path


@dataclass
class RunInputs:
    path: Path
    spec: StackSpec
    manifest: dict[str, Any] | None
    results: list[BenchmarkResult]
    events: list[dict[str, Any]]
    problems: list[Problem] = field(default_factory=list)

    def artifacts(self, result: BenchmarkResult) -> Path:
        return RunDirectory(self.path).layout.artifacts(result.host, result.benchmark)


def load_run(path: Path) -> RunInputs:
    """Everything the report reads from one run directory."""
    directory = RunDirectory.open(path)
    try:
        spec = directory.load_spec()
        manifest = directory.read_manifest()
    except (ValueError, KeyError, OSError) as exc:
        raise UnreadableRun(path, _short(exc)) from exc
    problems: list[Problem] = []
    results = _results(directory.path, spec, problems)
    events = _events(directory.path, spec.run_id, problems)
    return RunInputs(directory.path, spec, manifest, results, events, problems)


def _results(
    run_dir: Path, spec: StackSpec, problems: list[Problem]
) -> list[BenchmarkResult]:
    """Every readable result, in campaign order (hosts, then their benchmarks)."""
    found: dict[tuple[str, str], BenchmarkResult] = {}
    for path in sorted((run_dir / RESULTS_DIR).glob("*/*.json")):
        shown = str(path.relative_to(run_dir))
        try:
            result = BenchmarkResult.model_validate_json(path.read_bytes())
        except (ValidationError, OSError) as exc:
            problems.append(
                Problem(spec.run_id, path.parent.name, path.stem, shown, _short(exc))
            )
            continue
        found[(result.host, result.benchmark)] = result
    order = {
        (host.name, benchmark.name): index
        for index, (host, benchmark) in enumerate(
            (host, benchmark) for host in spec.hosts for benchmark in host.benchmarks
        )
    }
    return sorted(found.values(), key=lambda r: order.get((r.host, r.benchmark), 1e9))


def _events(run_dir: Path, run_id: str, problems: list[Problem]) -> list[dict]:
    path = run_dir / EVENTS_FILE
    if not path.exists():
        return []
    events = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(
                Problem(run_id, None, None, f"{EVENTS_FILE} line {number}", str(exc))
            )
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
