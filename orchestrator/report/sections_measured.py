"""The measured sections: command sweeps, run-to-run spread, host telemetry."""

from __future__ import annotations

from fmbench_orch.orchestrator.report.formatting import (
    metric,
    number,
    percent,
    seconds,
    usd,
)
from fmbench_orch.orchestrator.report.model import Report, SweepPoint
from fmbench_orch.orchestrator.report.sweep import COORDINATE_NAMES
from fmbench_orch.orchestrator.report.sweep import __doc__ as SWEEP_CONVENTION
from fmbench_orch.orchestrator.report.tables import Section, Table


def sweeps_section(report: Report, several: bool) -> Section | None:
    if not report.sweep_points:
        return None
    groups: dict[tuple[str, str, str, str], list[SweepPoint]] = {}
    for point in report.sweep_points:
        key = (point.run_id, point.host, point.instance_type, point.benchmark)
        groups.setdefault(key, []).append(point)
    section = Section(
        "sweeps",
        "Command benchmarks: sweeps and metrics",
        notes=[convention_text()],
    )
    for (run_id, host, instance_type, benchmark), points in groups.items():
        coordinates = list(dict.fromkeys(k for p in points for k in p.coordinates))
        metrics = list(dict.fromkeys(k for p in points for k in p.metrics))
        rows = [
            [
                *(str(p.coordinates.get(c, "—")) for c in coordinates),
                *(metric(m, p.metrics.get(m)) for m in metrics),
                usd(p.cost_per_1k_tokens_usd),
            ]
            for p in points
        ]
        run = f"run {run_id} · " if several else ""
        section.tables.append(
            Table(
                [
                    *(COORDINATE_NAMES.get(c, c) for c in coordinates),
                    *metrics,
                    "$/1k tokens",
                ],
                rows,
                caption=f"{run}{host} ({instance_type}) · {benchmark}",
            )
        )
    return section


def convention_text() -> str:
    """The sweep convention, from the module that implements it."""
    paragraphs = (SWEEP_CONVENTION or "").strip().split("\n\n")[1:]
    return " ".join(" ".join(p.split()) for p in paragraphs)


def spreads_section(report: Report) -> Section | None:
    if not report.spreads:
        return None
    rows = [
        [
            s.instance_type,
            s.benchmark,
            s.point,
            s.metric,
            str(s.count),
            metric(s.metric, s.mean),
            metric(s.metric, s.stdev),
            metric(s.metric, s.minimum),
            metric(s.metric, s.maximum),
            percent(s.cv_percent),
        ]
        for s in report.spreads
    ]
    return Section(
        "spread",
        "Run-to-run spread",
        notes=[
            "Metrics measured more than once for the same instance type, "
            "benchmark and point (across runs, or across hosts of one type); "
            "the noisiest (highest coefficient of variation) first."
        ],
        tables=[
            Table(
                [
                    "instance type",
                    "benchmark",
                    "point",
                    "metric",
                    "n",
                    "mean",
                    "stdev",
                    "min",
                    "max",
                    "CV",
                ],
                rows,
            )
        ],
    )


def telemetry_section(report: Report) -> Section | None:
    if not report.telemetry:
        return None
    flagged = [t for t in report.telemetry if t.idle_gpu_flag]
    notes = ["Sampled every second beside each benchmark."]
    if flagged:
        names = ", ".join(f"{t.host} · {t.benchmark}" for t in flagged)
        notes.append(f"**Idle GPUs** for half the time or more: {names}.")
    rows = [
        [
            t.host,
            t.benchmark,
            str(t.gpus),
            seconds(t.duration_s),
            percent(t.gpu_util_mean_percent),
            seconds(t.gpu_idle_s),
            percent(t.gpu_idle_percent),
            number(t.gpu_memory_peak_mib),
            percent(t.cpu_mean_percent),
            number(t.memory_peak_mib),
            "idle GPU" if t.idle_gpu_flag else "",
        ]
        for t in report.telemetry
    ]
    return Section(
        "telemetry",
        "Host telemetry",
        notes,
        [
            Table(
                [
                    "host",
                    "benchmark",
                    "GPUs",
                    "sampled",
                    "GPU util",
                    "GPU idle",
                    "idle share",
                    "GPU mem peak (MiB)",
                    "CPU",
                    "mem peak (MiB)",
                    "flag",
                ],
                rows,
            )
        ],
    )
