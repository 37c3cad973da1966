"""The report's charts, chosen from what the runs measured.

- throughput vs cost: FMBench's selected points (transactions per minute)
  and sweep points (tokens per second) against the cost of 1,000 tokens;
- latency vs concurrency per instance type (sweeps: vs batch size);
- the request-rate cost heatmap (USD per hour for each rate);
- GPU utilization over time, per host and benchmark (with telemetry).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from fmbench_orch.orchestrator.report.formatting import usd
from fmbench_orch.orchestrator.report.model import Report, SweepPoint
from fmbench_orch.orchestrator.report.svg import (
    PALETTE,
    Series,
    heatmap,
    scatter_chart,
)
from fmbench_orch.orchestrator.report.sweep import THROUGHPUT_METRIC, latency_metric

# A chart with more lines than this is unreadable; the rest are left out
# (and the chart says so).
MAX_SERIES = 20

T = TypeVar("T")


@dataclass(frozen=True)
class Chart:
    title: str
    svg: str
    caption: str
    # The anchor of the report section the chart belongs under.
    section: str


def charts(report: Report) -> list[Chart]:
    found = [
        _fmbench_throughput_vs_cost(report),
        _fmbench_latency_vs_concurrency(report),
        _request_rate_heatmap(report),
        _sweep_throughput_vs_cost(report),
        _sweep_latency_vs_batch(report),
        _gpu_utilization(report),
        _cpu_utilization(report),
        _memory_in_use(report),
    ]
    return [chart for chart in found if chart is not None and chart.svg]


def _grouped(
    items: Iterable[T], key: Callable[[T], Hashable], label: Callable[[Any], str]
) -> list[tuple[str, list[T]]]:
    """Items grouped by `key` in first-seen order, each group named by `label`."""
    groups: dict[Hashable, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return [(label(k), v) for k, v in groups.items()]


def _type_colors(report: Report) -> dict[str, str]:
    """One colour per instance type in every chart, in the order types appear."""
    types = dict.fromkeys(b.instance_type for b in report.benchmarks)
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(types)}


def _fmbench_throughput_vs_cost(report: Report) -> Chart | None:
    selected = [p for p in report.selected_points if p.cost_per_1k_tokens_usd]
    if not selected:
        return None
    colors = _type_colors(report)
    series = [
        Series(
            label,
            [(p.cost_per_1k_tokens_usd, p.transactions_per_minute) for p in points],
            [
                f"{p.option}: {p.transactions_per_minute:,.0f} txn/min, "
                f"{usd(p.cost_per_1k_tokens_usd)} per 1k tokens"
                for p in points
            ],
            colors.get(label),
        )
        for label, points in _grouped(selected, lambda p: p.instance_type, lambda k: k)
    ]
    return Chart(
        "Throughput vs cost (FMBench)",
        scatter_chart(
            "Throughput vs cost (FMBench, selected configurations)",
            series,
            "USD per 1,000 tokens",
            "transactions per minute",
        ),
        "Up and to the left is better: more transactions for less money.",
        "fmbench",
    )


def _fmbench_latency_vs_concurrency(report: Report) -> Chart | None:
    points = [p for p in report.fmbench_points if p.latency_p95_s is not None]
    if not points:
        return None
    grouped = _grouped(
        points,
        lambda p: (p.instance_type, p.payload_file, p.run_id, p.host),
        lambda k: f"{k[0]} · {_payload(k[1])}",
    )
    series = [
        Series(
            label,
            [(p.concurrency, p.latency_p95_s) for p in items],
            [f"{p.option}: p95 {p.latency_p95_s:.3g} s" for p in items],
        )
        for label, items in grouped[:MAX_SERIES]
    ]
    threshold = report.settings.latency_p95_s
    return Chart(
        "Latency vs concurrency (FMBench)",
        scatter_chart(
            "p95 latency vs concurrency per instance type",
            series,
            "concurrency",
            "p95 latency (s)",
            lines=True,
            hline=(threshold, f"threshold {threshold:g} s"),
        ),
        f"The dashed line is the p95 threshold ({threshold:g} s)."
        + _left_out(len(grouped)),
        "fmbench",
    )


def _request_rate_heatmap(report: Report) -> Chart | None:
    if not report.request_rates:
        return None
    rates = list(report.settings.request_rates_per_minute)
    options: dict[tuple, dict[int, tuple[int, float]]] = {}
    for cost in report.request_rates:
        key = (
            cost.instance_type,
            cost.experiment,
            cost.payload_file,
            cost.concurrency,
            cost.host,
            cost.run_id,
        )
        options.setdefault(key, {})[cost.rate_per_minute] = (
            cost.instances,
            cost.usd_per_hour,
        )
    keys = sorted(options, key=lambda k: options[k][rates[-1]][1])[:MAX_SERIES]
    labels = [f"{k[0]} · {_payload(k[2])} · c{k[3]}" for k in keys]
    values = [[options[k][rate][1] for rate in rates] for k in keys]

    def text(i: int, j: int) -> str:
        instances, price = options[keys[i]][rates[j]]
        return f"{instances} × {usd(price)}"

    def tooltip(i: int, j: int) -> str:
        instances, price = options[keys[i]][rates[j]]
        return (
            f"{keys[i][0]} · {keys[i][1]} · {keys[i][2]} · c{keys[i][3]} on "
            f"{keys[i][4]}: {rates[j]:,}/min needs {instances} × = {usd(price)}/h"
        )

    return Chart(
        "Cost per request rate (FMBench)",
        heatmap(
            "USD per hour to serve each request rate (requests per minute)",
            labels,
            [f"{rate:,}/min" for rate in rates],
            values,
            text,
            tooltip,
        ),
        "Each cell: instances needed × their USD per hour; hover for the option. "
        "Rows are sorted by the cost of the highest rate." + _left_out(len(options)),
        "request-rates",
    )


def _sweep_throughput_vs_cost(report: Report) -> Chart | None:
    points = [p for p in report.sweep_points if p.cost_per_1k_tokens_usd]
    if not points:
        return None
    series = [
        Series(
            label,
            [(p.cost_per_1k_tokens_usd, p.metrics[THROUGHPUT_METRIC]) for p in items],
            [_sweep_tip(p) for p in items],
            _type_colors(report).get(label),
        )
        for label, items in _grouped(points, lambda p: p.instance_type, lambda k: k)
    ]
    return Chart(
        "Throughput vs cost (sweeps)",
        scatter_chart(
            "Throughput vs cost (command sweeps, every point)",
            series,
            "USD per 1,000 tokens",
            "tokens per second",
        ),
        "Each point is one sweep point on one host; up and to the left is better.",
        "sweeps",
    )


def _sweep_latency_vs_batch(report: Report) -> Chart | None:
    points = [p for p in report.sweep_points if "bs" in p.coordinates]
    name = latency_metric(n for p in points for n in p.metrics)
    points = [p for p in points if name and name in p.metrics]
    if not points or name is None:
        return None
    grouped = _grouped(
        points,
        lambda p: (
            p.instance_type,
            tuple((k, v) for k, v in p.coordinates.items() if k != "bs"),
            p.run_id,
            p.host,
        ),
        lambda k: " · ".join([k[0], *(f"{c}={v}" for c, v in k[1])]),
    )
    series = [
        Series(
            label,
            [(p.coordinates["bs"], p.metrics[name]) for p in items],
            [_sweep_tip(p) for p in items],
        )
        for label, items in grouped[:MAX_SERIES]
    ]
    return Chart(
        "Latency vs batch size (sweeps)",
        scatter_chart(
            f"{name} vs batch size per instance type",
            series,
            "batch size",
            f"{name} (s)",
            lines=True,
        ),
        "One line per instance type and sequence length." + _left_out(len(grouped)),
        "sweeps",
    )


def _gpu_utilization(report: Report) -> Chart | None:
    return _utilization_chart(
        report,
        "gpu_series",
        "GPU utilization",
        "GPU utilization over each benchmark (mean over the host's GPUs)",
        "Long stretches near 0 % are paid-for idle accelerators.",
    )


def _cpu_utilization(report: Report) -> Chart | None:
    return _utilization_chart(
        report,
        "cpu_series",
        "CPU utilization",
        "Host CPU utilization over each benchmark",
        "A host pinned near 100 % while its GPUs idle is CPU-bound (tokenization, "
        "the load generator).",
    )


def _utilization_chart(
    report: Report, series_of: str, name: str, title: str, caption: str
) -> Chart | None:
    """One line per host and benchmark of a telemetry series, in percent."""
    sampled = [t for t in report.telemetry if getattr(t, series_of)]
    if not sampled:
        return None
    series = [
        Series(f"{t.host} · {t.benchmark}", list(getattr(t, series_of)))
        for t in sampled[:MAX_SERIES]
    ]
    return Chart(
        name,
        scatter_chart(
            title,
            series,
            "seconds since the benchmark started",
            f"{name} (%)",
            lines=True,
        ),
        caption + _left_out(len(sampled)),
        "telemetry",
    )


def _memory_in_use(report: Report) -> Chart | None:
    series = []
    for t in report.telemetry:
        if t.memory_series:
            series.append(Series(f"{t.host} · {t.benchmark} · host", t.memory_series))
        if t.gpu_memory_series:
            series.append(
                Series(f"{t.host} · {t.benchmark} · GPUs", t.gpu_memory_series)
            )
    if not series:
        return None
    return Chart(
        "Memory in use",
        scatter_chart(
            "Host and GPU memory in use over each benchmark",
            series[:MAX_SERIES],
            "seconds since the benchmark started",
            "memory in use (MiB)",
            lines=True,
        ),
        "GPU memory is summed over the host's GPUs; a model that barely fills "
        "them may fit a smaller instance." + _left_out(len(series)),
        "telemetry",
    )


def _payload(name: str) -> str:
    return name.removesuffix(".jsonl")


def _sweep_tip(point: SweepPoint) -> str:
    where = " ".join(f"{k}={v}" for k, v in point.coordinates.items())
    values = ", ".join(f"{k} {v:.4g}" for k, v in point.metrics.items())
    return f"{point.host} {where}: {values}"


def _left_out(total: int) -> str:
    if total <= MAX_SERIES:
        return ""
    return f" Showing {MAX_SERIES} of {total} series."
