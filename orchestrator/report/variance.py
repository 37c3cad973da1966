"""Run-to-run spread: one metric measured more than once for the same setup.

Measurements group by instance type, benchmark, point (a sweep coordinate
set or an FMBench experiment × payload × concurrency) and metric; they come
from several runs compared, or from several hosts of one type in one run.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from fmbench_orch.orchestrator.report.model import FmbenchPoint, Spread, SweepPoint
from fmbench_orch.orchestrator.report.sweep import coordinate_label

# FMBench metrics whose spread the report shows.
FMBENCH_METRICS = ("transactions_per_minute", "latency_p95_s", "latency_p50_s")
# Sweep metrics other than these (throughput, latency) are bookkeeping.
SWEEP_METRIC_HINTS = ("latency", "per_s")


@dataclass(frozen=True)
class Measurement:
    instance_type: str
    benchmark: str
    point: str
    metric: str
    value: float
    measured_by: str


def fmbench_measurements(points: Iterable[FmbenchPoint]) -> list[Measurement]:
    found = []
    for point in points:
        label = f"{point.experiment} · {point.payload_file} · c{point.concurrency}"
        for metric in FMBENCH_METRICS:
            value = getattr(point, metric)
            if value is not None:
                found.append(
                    Measurement(
                        point.instance_type,
                        point.benchmark,
                        label,
                        metric,
                        value,
                        f"{point.run_id}/{point.host}",
                    )
                )
    return found


def sweep_measurements(points: Iterable[SweepPoint]) -> list[Measurement]:
    found = []
    for point in points:
        label = coordinate_label(point.coordinates.items()) or "—"
        for metric, value in point.metrics.items():
            if any(hint in metric for hint in SWEEP_METRIC_HINTS):
                found.append(
                    Measurement(
                        point.instance_type,
                        point.benchmark,
                        label,
                        metric,
                        value,
                        f"{point.run_id}/{point.host}",
                    )
                )
    return found


def spreads(measurements: Iterable[Measurement]) -> list[Spread]:
    """Groups measured at least twice, the noisiest (highest CV) first."""
    groups: dict[tuple[str, str, str, str], list[Measurement]] = {}
    for item in measurements:
        key = (item.instance_type, item.benchmark, item.point, item.metric)
        groups.setdefault(key, []).append(item)
    found = []
    for (instance_type, benchmark, point, metric), items in groups.items():
        if len(items) < 2:
            continue
        values = [item.value for item in items]
        mean = statistics.fmean(values)
        stdev = statistics.stdev(values)
        found.append(
            Spread(
                instance_type=instance_type,
                benchmark=benchmark,
                point=point,
                metric=metric,
                count=len(values),
                mean=mean,
                stdev=stdev,
                minimum=min(values),
                maximum=max(values),
                cv_percent=100 * stdev / abs(mean) if mean else None,
                measured_by=tuple(item.measured_by for item in items),
            )
        )
    return sorted(found, key=lambda s: (-(s.cv_percent or 0.0), s.instance_type))
