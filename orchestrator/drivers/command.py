"""The `command` driver: any shell command, a results directory, optional metrics.

The command runs with bash in the benchmark's working directory
(`.fmbench-orch/<run>/benchmarks/<name>/work`); uploads stay where the
campaign put them, relative to the login directory. The benchmark's settings
reach it as environment variables exported by its script file (never through
the SSH command line):

- FMBENCH_MODEL_ID, FMBENCH_BATCH_SIZES and FMBENCH_SEQUENCE_LENGTHS
  (comma lists), FMBENCH_NUM_ITERATIONS: only those the campaign sets;
- FMBENCH_BENCHMARK, FMBENCH_RUN_ID; FMBENCH_RESULTS_DIR and
  FMBENCH_METRICS_FILE (relative to the working directory) when set.

The metrics file, if named, must hold one flat JSON object of numbers.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Sequence
from pathlib import Path

from fmbench_orch.models.spec import BenchmarkSpec
from fmbench_orch.orchestrator.drivers import (
    DriverError,
    Verdict,
    no_exit_code_verdict,
    relative_path,
)

# Nothing to install; the runner's own preflight already checked bash and tar.
BOOTSTRAP_TIMEOUT_S = 300.0


class MetricsError(ValueError):
    """The metrics file is missing or not a flat JSON object of numbers."""


class CommandDriver:
    """Driver (see `drivers.Driver`) for an arbitrary command."""

    name = "command"
    bootstrap_timeout_s = BOOTSTRAP_TIMEOUT_S
    harvest_bootstrap_log = False
    # Nothing to undo: whatever a command left dies with its process group.
    cleanup_timeout_s = 0.0

    def bootstrap_script(self, benchmarks: Sequence[BenchmarkSpec]) -> str:
        return ""

    def run_script(self, benchmark: BenchmarkSpec, run_id: str) -> str:
        if not benchmark.run or not benchmark.run.strip():
            raise DriverError(
                f"benchmark {benchmark.name} uses the command driver but has no "
                "`run` command; add one to the campaign"
            )
        exports = [
            f"export {key}={shlex.quote(value)}"
            for key, value in environment(benchmark, run_id).items()
        ]
        return "\n".join(["cd work || exit 1", *exports, benchmark.run, ""])

    def uploads(self, benchmark: BenchmarkSpec) -> list[tuple[Path, str]]:
        return []

    def harvest_patterns(self, benchmark: BenchmarkSpec) -> list[str]:
        patterns = ["output.log"]
        if benchmark.results:
            patterns.append(
                f"work/{relative_path('results', benchmark, benchmark.results)}"
            )
        if benchmark.metrics:
            patterns.append(
                f"work/{relative_path('metrics', benchmark, benchmark.metrics)}"
            )
        return patterns

    def check_script(self, benchmark: BenchmarkSpec) -> str | None:
        return None

    def cleanup_script(self, benchmark: BenchmarkSpec, timed_out: bool) -> str | None:
        return None

    def judge(
        self,
        benchmark: BenchmarkSpec,
        exit_code: int | None,
        check_output: str,
        artifacts: Path,
    ) -> Verdict:
        if exit_code is None:
            return no_exit_code_verdict()
        if exit_code != 0:
            return Verdict("failure", f"the command exited with status {exit_code}")
        if not benchmark.metrics:
            return Verdict("success")
        name = relative_path("metrics", benchmark, benchmark.metrics)
        try:
            metrics = read_metrics(artifacts / "work" / name, f"work/{name}")
        except MetricsError as exc:
            return Verdict("failure", str(exc))
        return Verdict("success", metrics=metrics)


def environment(benchmark: BenchmarkSpec, run_id: str) -> dict[str, str]:
    """The variables the command sees, in a stable order."""
    env = {"FMBENCH_BENCHMARK": benchmark.name, "FMBENCH_RUN_ID": run_id}
    if benchmark.model_id is not None:
        env["FMBENCH_MODEL_ID"] = benchmark.model_id
    if benchmark.batch_sizes is not None:
        env["FMBENCH_BATCH_SIZES"] = ",".join(map(str, benchmark.batch_sizes))
    if benchmark.sequence_lengths is not None:
        env["FMBENCH_SEQUENCE_LENGTHS"] = ",".join(map(str, benchmark.sequence_lengths))
    if benchmark.num_iterations is not None:
        env["FMBENCH_NUM_ITERATIONS"] = str(benchmark.num_iterations)
    if benchmark.results:
        env["FMBENCH_RESULTS_DIR"] = relative_path(
            "results", benchmark, benchmark.results
        )
    if benchmark.metrics:
        env["FMBENCH_METRICS_FILE"] = relative_path(
            "metrics", benchmark, benchmark.metrics
        )
    return env


def read_metrics(path: Path, shown: str) -> dict[str, float]:
    """A flat JSON object of finite numbers, as floats; `shown` names the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetricsError(f"metrics file {shown} was not written") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetricsError(f"metrics file {shown} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise MetricsError(f"metrics file {shown} holds a {kind}, expected an object")
    metrics = {}
    for key, value in document.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MetricsError(
                f"metrics file {shown}: {key!r} is {type(value).__name__} "
                f"{json.dumps(value)[:40]}, expected a number"
            )
        if not math.isfinite(value):
            raise MetricsError(f"metrics file {shown}: {key!r} is {value}, not finite")
        metrics[key] = float(value)
    return metrics
