"""Building the report: every run directory read, analysed and put together."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from fmbench_orch.models.fmbench_results import (
    FmbenchResultsError,
    find_results_dirs,
    read_results,
)
from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.orchestrator.report.collect import RunInputs, load_run
from fmbench_orch.orchestrator.report.costs import host_costs
from fmbench_orch.orchestrator.report.fmbench_analysis import (
    apply_legacy_filter,
    best_options,
    price_rows,
    request_rate_costs,
)
from fmbench_orch.orchestrator.report.model import (
    BenchmarkStatus,
    FmbenchPoint,
    Problem,
    Report,
    RunInfo,
    Settings,
    SweepPoint,
)
from fmbench_orch.orchestrator.report.sweep import (
    THROUGHPUT_METRIC,
    benchmark_sweep,
    cost_per_1k_tokens,
    split_key,
    sweep_from_metrics,
)
from fmbench_orch.orchestrator.report.telemetry import read_telemetry
from fmbench_orch.orchestrator.report.variance import (
    fmbench_measurements,
    spreads,
    sweep_measurements,
)


def build_report(run_dirs: Sequence[Path], settings: Settings | None = None) -> Report:
    """The report over `run_dirs`, in the order given."""
    settings = settings or Settings()
    report = Report(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        settings=settings,
    )
    points: list[FmbenchPoint] = []
    for path in run_dirs:
        run = load_run(path)
        report.problems.extend(run.problems)
        report.runs.append(_run_info(run))
        report.costs.extend(host_costs(run))
        for result in run.results:
            report.benchmarks.append(_status(run, result))
            artifacts = run.artifacts(result)
            if result.driver == "fmbench":
                points.extend(_fmbench_points(run, result, artifacts, report.problems))
            else:
                report.sweep_points.extend(_sweep_points(run, result, artifacts))
            telemetry = read_telemetry(
                artifacts, run.spec.run_id, result.host, result.benchmark
            )
            if telemetry is not None:
                report.telemetry.append(telemetry)

    report.fmbench_points = apply_legacy_filter(points, settings.latency_p95_s)
    selected = report.selected_points
    report.request_rates = request_rate_costs(
        selected, settings.request_rates_per_minute
    )
    report.best_overall, report.best_per_instance_type = best_options(selected)
    report.spreads = spreads(
        [
            *fmbench_measurements(report.fmbench_points),
            *sweep_measurements(report.sweep_points),
        ]
    )
    return report


def _run_info(run: RunInputs) -> RunInfo:
    spec, manifest = run.spec, run.manifest or {}
    succeeded = sum(result.status == "success" for result in run.results)
    planned = sum(len(host.benchmarks) for host in spec.hosts)
    if manifest.get("status"):
        status = str(manifest["status"])
    elif succeeded == planned and planned:
        status = "success"
    else:
        status = "incomplete (no manifest)"
    return RunInfo(
        campaign=spec.campaign,
        run_id=spec.run_id,
        provider=spec.provider,
        region=spec.region,
        path=str(run.path),
        status=status,
        teardown=str(manifest.get("teardown", "unknown")),
        created_at=spec.created_at.isoformat(),
        hosts=len(spec.hosts),
        succeeded=succeeded,
        failed=planned - succeeded,
    )


def _status(run: RunInputs, result: BenchmarkResult) -> BenchmarkStatus:
    duration = result.duration_seconds
    return BenchmarkStatus(
        run_id=run.spec.run_id,
        host=result.host,
        instance_type=result.instance_type,
        benchmark=result.benchmark,
        driver=result.driver,
        status=result.status,
        exit_code=result.exit_code,
        duration_s=None if duration is None else round(duration, 3),
        reason=result.reason,
    )


def _fmbench_points(
    run: RunInputs,
    result: BenchmarkResult,
    artifacts: Path,
    problems: list[Problem],
) -> list[FmbenchPoint]:
    """Rows of every results directory; unreadable ones of a success are problems."""
    found = []
    for results_dir in find_results_dirs(artifacts):
        shown = str(results_dir.relative_to(run.path))
        try:
            results = read_results(results_dir, shown)
        except FmbenchResultsError as exc:
            if result.status == "success":
                problems.append(
                    Problem(
                        run.spec.run_id,
                        result.host,
                        result.benchmark,
                        exc.path,
                        str(exc),
                    )
                )
            continue
        found.extend(
            price_rows(
                results.rows,
                run_id=run.spec.run_id,
                host=result.host,
                instance_type=result.instance_type,
                price_per_hour=result.price_per_hour,
                benchmark=result.benchmark,
            )
        )
    if not found and result.status == "success" and not find_results_dirs(artifacts):
        problems.append(
            Problem(
                run.spec.run_id,
                result.host,
                result.benchmark,
                str(artifacts.relative_to(run.path)),
                "no results-* directory among the harvested artifacts",
            )
        )
    return found


def _sweep_points(
    run: RunInputs, result: BenchmarkResult, artifacts: Path
) -> list[SweepPoint]:
    """The sweep's points, then one point of the metrics that are no sweep's."""
    swept = sweep_from_metrics(result.metrics)
    plain = {
        key: value
        for key, value in result.metrics.items()
        if not swept or split_key(key) is None
    }
    points = []
    for coordinates, metrics in benchmark_sweep(result.metrics, artifacts).items():
        points.append(_sweep_point(run, result, dict(coordinates), metrics))
    if plain:
        points.append(_sweep_point(run, result, {}, plain))
    return points


def _sweep_point(
    run: RunInputs,
    result: BenchmarkResult,
    coordinates: dict[str, int],
    metrics: dict[str, float],
) -> SweepPoint:
    return SweepPoint(
        run_id=run.spec.run_id,
        host=result.host,
        instance_type=result.instance_type,
        price_per_hour=result.price_per_hour,
        benchmark=result.benchmark,
        coordinates=coordinates,
        metrics=metrics,
        cost_per_1k_tokens_usd=cost_per_1k_tokens(
            result.price_per_hour, metrics.get(THROUGHPUT_METRIC)
        ),
    )
