"""The FMBench sections: best option, selected rows, request rates, rows left out."""

from __future__ import annotations

from fmbench_orch.orchestrator.report.formatting import number, seconds, usd
from fmbench_orch.orchestrator.report.model import FmbenchPoint, Report
from fmbench_orch.orchestrator.report.tables import (
    Section,
    Table,
    run_column,
    run_header,
)

FMBENCH_RULES = (
    "Kept: p95 latency ≤ {threshold:g} s, error rate = 0, concurrency ≥ 1; of "
    "those, the highest concurrency per host × experiment × payload file is "
    "selected. Cost per transaction = price per hour × instance count ÷ "
    "transactions per hour; cost per 1,000 tokens divides by (prompt + "
    "completion tokens) × transactions per hour ÷ 1,000; instances for a "
    "rate = ⌈requests per minute ÷ transactions per minute⌉."
)


def best_section(report: Report, several: bool) -> Section | None:
    best = report.best_overall
    if best is None:
        if report.fmbench_points:
            return Section(
                "best",
                "Best option",
                notes=[
                    "No FMBench configuration met the threshold; see the rows left "
                    "out below."
                ],
            )
        return None
    notes = [
        f"**Best overall: {best.option}** on {best.host} — "
        f"{best.transactions_per_minute:,.0f} transactions/min at p95 "
        f"{seconds(best.latency_p95_s)}, {usd(best.cost_per_txn_usd)} per "
        f"transaction, {usd(best.cost_per_1k_tokens_usd)} per 1,000 tokens "
        f"({usd(best.price_per_hour)}/h).",
        "Ranked by cost per 1,000 tokens, then per transaction, then throughput.",
    ]
    table = Table(
        [
            "instance type",
            *run_header(several),
            "host",
            "experiment",
            "payload",
            "concurrency",
            "txn/min",
            "p95",
            "$/txn",
            "$/1k tokens",
        ],
        [_best_cells(point, several) for point in report.best_per_instance_type],
        caption="Best per instance type",
    )
    return Section("best", "Best option", notes, [table])


def _best_cells(point: FmbenchPoint, several: bool) -> list[str]:
    return [
        point.instance_type,
        *run_column(several, point.run_id),
        point.host,
        point.experiment,
        point.payload_file,
        str(point.concurrency),
        number(point.transactions_per_minute),
        seconds(point.latency_p95_s),
        usd(point.cost_per_txn_usd),
        usd(point.cost_per_1k_tokens_usd),
    ]


def selected_section(report: Report, several: bool) -> Section | None:
    if not report.fmbench_points:
        return None
    threshold = report.settings.latency_p95_s
    rows = [
        [
            *run_column(several, p.run_id),
            p.host,
            p.instance_type,
            p.experiment,
            p.payload_file,
            str(p.concurrency),
            number(p.transactions_per_minute),
            seconds(p.latency_p50_s),
            seconds(p.latency_p95_s),
            seconds(p.ttft_p50_s),
            seconds(p.tpot_p50_s),
            usd(p.cost_per_txn_usd),
            usd(p.cost_per_1k_tokens_usd),
        ]
        for p in report.selected_points
    ]
    return Section(
        "fmbench",
        "FMBench: selected configurations",
        notes=[FMBENCH_RULES.format(threshold=threshold)],
        tables=[
            Table(
                [
                    *run_header(several),
                    "host",
                    "instance type",
                    "experiment",
                    "payload",
                    "concurrency",
                    "txn/min",
                    "p50",
                    "p95",
                    "TTFT p50",
                    "TPOT p50",
                    "$/txn",
                    "$/1k tokens",
                ],
                rows,
            )
        ],
    )


def request_rates_section(report: Report, several: bool) -> Section | None:
    if not report.request_rates:
        return None
    rates = list(report.settings.request_rates_per_minute)
    cells: dict[tuple, dict[int, str]] = {}
    for cost in report.request_rates:
        key = (
            cost.run_id,
            cost.host,
            cost.instance_type,
            cost.experiment,
            cost.payload_file,
            cost.concurrency,
        )
        cells.setdefault(key, {})[cost.rate_per_minute] = (
            f"{cost.instances} × = {usd(cost.usd_per_hour)}/h"
        )
    rows = [
        [
            *run_column(several, key[0]),
            key[1],
            key[2],
            key[3],
            key[4],
            str(key[5]),
            *(values.get(rate, "—") for rate in rates),
        ]
        for key, values in cells.items()
    ]
    return Section(
        "request-rates",
        "FMBench: instances and USD per hour by request rate",
        notes=["Requests per minute; each cell: instances needed × = USD per hour."],
        tables=[
            Table(
                [
                    *run_header(several),
                    "host",
                    "instance type",
                    "experiment",
                    "payload",
                    "concurrency",
                    *(f"{rate:,}/min" for rate in rates),
                ],
                rows,
            )
        ],
    )


def rejected_section(report: Report) -> Section | None:
    rejected = [p for p in report.fmbench_points if p.rejected_because]
    if not rejected:
        return None
    not_highest = sum(
        1 for p in report.fmbench_points if not p.rejected_because and not p.selected
    )
    notes = [
        f"{len(rejected)} row(s) failed the filter; {not_highest} more passed but "
        "ran at a lower concurrency than the selected one."
    ]
    rows = [
        [
            p.host,
            p.instance_type,
            p.experiment,
            p.payload_file,
            str(p.concurrency),
            p.rejected_because or "",
        ]
        for p in rejected
    ]
    return Section(
        "rejected",
        "FMBench: rows left out",
        notes,
        [
            Table(
                [
                    "host",
                    "instance type",
                    "experiment",
                    "payload",
                    "concurrency",
                    "why",
                ],
                rows,
            )
        ],
    )
