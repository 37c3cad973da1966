"""The report's sections as titled tables of text: what markdown and HTML show.

Both renderers read these, so the two never disagree. `max_rows` caps each
table (a PR comment has a size limit); a capped table says how many rows it
left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from fmbench_orch.orchestrator.report.fmbench_analysis import best_options
from fmbench_orch.orchestrator.report.formatting import seconds, usd
from fmbench_orch.orchestrator.report.model import FmbenchPoint, Report, SweepPoint
from fmbench_orch.orchestrator.report.sections_fmbench import (
    best_section,
    rejected_section,
    request_rates_section,
    selected_section,
)
from fmbench_orch.orchestrator.report.sections_measured import (
    spreads_section,
    sweeps_section,
    telemetry_section,
)
from fmbench_orch.orchestrator.report.sweep import THROUGHPUT_METRIC
from fmbench_orch.orchestrator.report.tables import (
    Section,
    Table,
    run_column,
    run_header,
)

COST_NOTES = (
    "Estimated: the benchmarks' own run time × price per hour. Accounted: the "
    "host's life (provisioning → teardown, from the event log) × price per "
    "hour — what EC2 bills, to within boot time. Plan worst case: bootstrap "
    "allowance + every timeout, capped by the TTL."
)
LOCAL_NOTE = (
    "Runs on the local provider billed nothing: their costs are what the "
    "same time on the labelled instance types would cost."
)


def sections(report: Report, max_rows: int | None = None) -> list[Section]:
    several = len(report.runs) > 1
    found = [
        _runs(report),
        best_section(report, several),
        _comparison(report) if several else None,
        _benchmarks(report, several),
        _costs(report, several),
        selected_section(report, several),
        request_rates_section(report, several),
        rejected_section(report),
        sweeps_section(report, several),
        spreads_section(report),
        telemetry_section(report),
        _problems(report),
    ]
    chosen = [section for section in found if section is not None]
    if max_rows is not None:
        for section in chosen:
            for table in section.tables:
                if len(table.rows) > max_rows:
                    table.left_out += len(table.rows) - max_rows
                    table.rows = table.rows[:max_rows]
    return chosen


def _runs(report: Report) -> Section:
    section = Section(
        "runs",
        "Runs",
        notes=[
            f"Generated {report.generated_at}. p95 latency threshold: "
            f"{report.settings.latency_p95_s:g} s."
        ],
    )
    section.tables.append(
        Table(
            [
                "campaign",
                "run",
                "provider",
                "status",
                "teardown",
                "hosts",
                "succeeded",
                "failed",
                "created",
            ],
            [
                [
                    run.campaign,
                    run.run_id,
                    run.provider,
                    run.status,
                    run.teardown,
                    str(run.hosts),
                    str(run.succeeded),
                    str(run.failed),
                    run.created_at,
                ]
                for run in report.runs
            ],
        )
    )
    return section


def _comparison(report: Report) -> Section:
    """Each instance type × benchmark's headline in each run, side by side."""
    runs = [run.run_id for run in report.runs]
    headline: dict[tuple[str, str], dict[str, str]] = {}
    groups: dict[tuple[str, str, str], list[FmbenchPoint]] = {}
    for point in report.selected_points:
        key = (point.instance_type, point.benchmark, point.run_id)
        groups.setdefault(key, []).append(point)
    for (instance_type, benchmark, run_id), points in groups.items():
        best, _ = best_options(points)
        if best is None:
            continue
        headline.setdefault((instance_type, benchmark), {})[run_id] = (
            f"{best.transactions_per_minute:,.0f} txn/min · "
            f"{usd(best.cost_per_1k_tokens_usd)}/1k tok"
        )
    for key, run_id, value, cost in _sweep_bests(report.sweep_points):
        headline.setdefault(key, {}).setdefault(
            run_id, f"{value:,.0f} tok/s · {usd(cost)}/1k tok"
        )
    rows = [
        [instance_type, benchmark, *(cells.get(run, "—") for run in runs)]
        for (instance_type, benchmark), cells in sorted(headline.items())
    ]
    return Section(
        "comparison",
        "Comparison across runs",
        notes=[
            "FMBench: the best selected configuration (cheapest per 1,000 "
            "tokens) of each run; sweeps: the best tokens per second of any "
            "point, with its cost."
        ],
        tables=[Table(["instance type", "benchmark", *runs], rows)],
    )


def _sweep_bests(
    points: Sequence[SweepPoint],
) -> list[tuple[tuple[str, str], str, float, float | None]]:
    best: dict[tuple[tuple[str, str], str], SweepPoint] = {}
    for point in points:
        value = point.metrics.get(THROUGHPUT_METRIC)
        if value is None:
            continue
        key = ((point.instance_type, point.benchmark), point.run_id)
        if key not in best or value > best[key].metrics[THROUGHPUT_METRIC]:
            best[key] = point
    return [
        (key, run_id, point.metrics[THROUGHPUT_METRIC], point.cost_per_1k_tokens_usd)
        for (key, run_id), point in best.items()
    ]


def _benchmarks(report: Report, several: bool) -> Section:
    total = len(report.benchmarks)
    succeeded = sum(b.status == "success" for b in report.benchmarks)
    rows = [
        [
            *run_column(several, b.run_id),
            b.host,
            b.instance_type,
            b.benchmark,
            b.driver,
            _status_text(b.status),
            "—" if b.exit_code is None else str(b.exit_code),
            seconds(b.duration_s),
            b.reason or "",
        ]
        for b in report.benchmarks
    ]
    return Section(
        "benchmarks",
        "Benchmarks",
        notes=[f"{succeeded} of {total} benchmark(s) succeeded."],
        tables=[
            Table(
                [
                    *run_header(several),
                    "host",
                    "instance type",
                    "benchmark",
                    "driver",
                    "status",
                    "exit",
                    "duration",
                    "reason",
                ],
                rows,
            )
        ],
    )


def _status_text(status: str) -> str:
    return status if status == "success" else f"**{status}**"


def _costs(report: Report, several: bool) -> Section:
    notes = [COST_NOTES]
    if any(cost.provider == "local" for cost in report.costs):
        notes.append(LOCAL_NOTE)
    rows = [
        [
            *run_column(several, c.run_id),
            c.host,
            c.instance_type,
            usd(c.price_per_hour),
            seconds(c.benchmark_s),
            usd(c.estimated_usd),
            seconds(c.lifetime_s),
            usd(c.accounted_usd),
            usd(c.worst_case_usd),
            c.accounted_from,
        ]
        for c in report.costs
    ]
    estimated = sum(c.estimated_usd for c in report.costs)
    accounted = sum(c.accounted_usd or 0.0 for c in report.costs)
    notes.append(f"Total: estimated {usd(estimated)}, accounted {usd(accounted)}.")
    return Section(
        "costs",
        "Cost per host: estimated vs accounted",
        notes,
        [
            Table(
                [
                    *run_header(several),
                    "host",
                    "instance type",
                    "USD/h",
                    "benchmark time",
                    "estimated",
                    "host life",
                    "accounted",
                    "plan worst case",
                    "accounted from",
                ],
                rows,
            )
        ],
    )


def _problems(report: Report) -> Section | None:
    if not report.problems:
        return None
    rows = [
        [p.run_id, p.host or "", p.benchmark or "", p.file, p.reason]
        for p in report.problems
    ]
    return Section(
        "problems",
        "Problems reading the runs",
        notes=["These files could not be read; the rest of the report stands."],
        tables=[Table(["run", "host", "benchmark", "file", "problem"], rows)],
    )
