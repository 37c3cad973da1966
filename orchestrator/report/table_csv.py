"""The report as one CSV: every measured point, priced, one row each.

FMBench rows (`kind` fmbench) and sweep points (`kind` sweep; `metrics` for
a command benchmark's plain metrics) share the first columns; a sweep's
coordinates and any other metric it measured follow, one column each.
Numbers are written unrounded, empty where unknown, so a spreadsheet or
script can sort and sum them.
"""

from __future__ import annotations

import csv
import io

from fmbench_orch.orchestrator.report.model import FmbenchPoint, Report, SweepPoint

COLUMNS = (
    "kind",
    "run_id",
    "host",
    "instance_type",
    "price_per_hour_usd",
    "benchmark",
    "experiment",
    "payload_file",
    "concurrency",
    "point",
    "error_rate",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "ttft_p50_s",
    "tpot_p50_s",
    "transactions_per_minute",
    "tokens_per_s",
    "cost_per_txn_usd",
    "cost_per_1k_tokens_usd",
    "within_threshold",
    "rejected_because",
    "selected",
)


def render_csv(report: Report) -> str:
    extra = _extra_columns(report.sweep_points)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*COLUMNS, *extra], lineterminator="\n")
    writer.writeheader()
    for point in report.fmbench_points:
        writer.writerow(_fmbench_row(point))
    for point in report.sweep_points:
        writer.writerow(_sweep_row(point))
    return out.getvalue()


def _extra_columns(points: list[SweepPoint]) -> list[str]:
    names: dict[str, None] = {}
    for point in points:
        names.update(dict.fromkeys(point.coordinates))
    for point in points:
        names.update(dict.fromkeys(point.metrics))
    return [name for name in names if name not in COLUMNS]


def _fmbench_row(point: FmbenchPoint) -> dict[str, object]:
    return {
        "kind": "fmbench",
        "run_id": point.run_id,
        "host": point.host,
        "instance_type": point.instance_type,
        "price_per_hour_usd": point.price_per_hour,
        "benchmark": point.benchmark,
        "experiment": point.experiment,
        "payload_file": point.payload_file,
        "concurrency": point.concurrency,
        "error_rate": point.error_rate,
        "latency_p50_s": point.latency_p50_s,
        "latency_p95_s": point.latency_p95_s,
        "latency_p99_s": point.latency_p99_s,
        "ttft_p50_s": point.ttft_p50_s,
        "tpot_p50_s": point.tpot_p50_s,
        "transactions_per_minute": point.transactions_per_minute,
        "cost_per_txn_usd": point.cost_per_txn_usd,
        "cost_per_1k_tokens_usd": point.cost_per_1k_tokens_usd,
        "within_threshold": "no" if point.rejected_because else "yes",
        "rejected_because": point.rejected_because,
        "selected": "yes" if point.selected else "no",
    }


def _sweep_row(point: SweepPoint) -> dict[str, object]:
    row: dict[str, object] = {
        "kind": "sweep" if point.coordinates else "metrics",
        "run_id": point.run_id,
        "host": point.host,
        "instance_type": point.instance_type,
        "price_per_hour_usd": point.price_per_hour,
        "benchmark": point.benchmark,
        "point": " ".join(f"{k}={v}" for k, v in point.coordinates.items()),
        "cost_per_1k_tokens_usd": point.cost_per_1k_tokens_usd,
    }
    row.update(point.coordinates)
    row.update(point.metrics)
    return row
