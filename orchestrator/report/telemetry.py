"""Host telemetry in the report: GPU and CPU use per host and benchmark.

Reads the CSVs the sampler (`orchestrator.telemetry`) wrote into a
benchmark's artifacts. A GPU sample under `IDLE_GPU_PERCENT` counts as idle;
a benchmark whose GPUs idled for `IDLE_FLAG_PERCENT` of its samples or more
is flagged, since it paid for accelerators it did not use.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from fmbench_orch.orchestrator.report.model import TelemetrySummary
from fmbench_orch.orchestrator.telemetry import (
    GPU_CSV,
    HOST_CSV,
    SAMPLE_INTERVAL_S,
    TELEMETRY_DIR,
)

# nvidia-smi reports a busy-but-waiting GPU at a few percent; under this it
# did no work worth the price.
IDLE_GPU_PERCENT = 5.0
# Picked without special meaning: half the benchmark's time on idle GPUs is
# worth a second look (model loading, CPU-bound tokenization, a stuck client).
IDLE_FLAG_PERCENT = 50.0
# Plots need no more points than an SVG line is wide.
MAX_SERIES_POINTS = 300
_NVIDIA_TIME = "%Y/%m/%d %H:%M:%S.%f"


def read_telemetry(
    artifacts: Path, run_id: str, host: str, benchmark: str
) -> TelemetrySummary | None:
    """The summary of one benchmark's telemetry, or None when it has none."""
    folder = artifacts / TELEMETRY_DIR
    gpu = _gpu_samples(folder / GPU_CSV)
    cpu = _host_samples(folder / HOST_CSV)
    if not gpu and not cpu:
        return None
    gpu_series = _mean_per_time(gpu)
    utilizations = [util for _, _, util, _ in gpu]
    idle = [util < IDLE_GPU_PERCENT for util in utilizations]
    duration = _duration([t for t, *_ in gpu] or [t for t, _, _ in cpu])
    idle_percent = 100 * sum(idle) / len(idle) if idle else None
    return TelemetrySummary(
        run_id=run_id,
        host=host,
        benchmark=benchmark,
        gpus=len({index for _, index, _, _ in gpu}),
        samples=max(len(gpu_series), len(cpu)),
        duration_s=duration,
        gpu_util_mean_percent=statistics.fmean(utilizations) if gpu else None,
        gpu_idle_s=None if idle_percent is None else duration * idle_percent / 100,
        gpu_idle_percent=idle_percent,
        gpu_memory_peak_mib=max((memory for *_, memory in gpu), default=None),
        cpu_mean_percent=statistics.fmean(c for _, c, _ in cpu) if cpu else None,
        memory_peak_mib=max((memory for *_, memory in cpu), default=None),
        idle_gpu_flag=idle_percent is not None and idle_percent >= IDLE_FLAG_PERCENT,
        gpu_series=_downsample(gpu_series),
        cpu_series=_downsample(_relative([(t, c) for t, c, _ in cpu])),
        memory_series=_downsample(_relative([(t, m) for t, _, m in cpu])),
        gpu_memory_series=_downsample(_sum_per_time(gpu)),
    )


def _gpu_samples(path: Path) -> list[tuple[float, int, float, float]]:
    """(epoch seconds, GPU index, utilization %, memory MiB) per readable line."""
    samples = []
    for cells in _rows(path):
        if len(cells) < 4:
            continue
        try:
            moment = datetime.strptime(cells[0], _NVIDIA_TIME).timestamp()
            samples.append((moment, int(cells[1]), float(cells[2]), float(cells[3])))
        except ValueError:
            continue  # "[N/A]" on GPUs that do not report, a cut-off last line
    return samples


def _host_samples(path: Path) -> list[tuple[float, float, float]]:
    samples = []
    for cells in _rows(path):
        try:
            samples.append((float(cells[0]), float(cells[1]), float(cells[2])))
        except (ValueError, IndexError):
            continue
    return samples


def _rows(path: Path) -> Iterable[list[str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8", errors="replace") as lines:
        rows = list(csv.reader(lines))
    return [[cell.strip() for cell in row] for row in rows[1:]]


def _sum_per_time(
    samples: list[tuple[float, int, float, float]],
) -> list[tuple[float, float]]:
    """GPU memory in use summed over the host's GPUs, per whole second."""
    buckets: dict[int, float] = {}
    for moment, _, _, memory in samples:
        buckets[round(moment)] = buckets.get(round(moment), 0.0) + memory
    return _relative([(float(t), m) for t, m in sorted(buckets.items())])


def _mean_per_time(
    samples: list[tuple[float, int, float, float]],
) -> list[tuple[float, float]]:
    """Mean utilization over the host's GPUs, per whole second of the run."""
    buckets: dict[int, list[float]] = {}
    for moment, _, util, _ in samples:
        buckets.setdefault(round(moment), []).append(util)
    series = [(float(t), statistics.fmean(v)) for t, v in sorted(buckets.items())]
    return _relative(series)


def _relative(series: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if not series:
        return []
    start = series[0][0]
    return [(round(t - start, 3), round(v, 2)) for t, v in series]


def _downsample(series: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    if len(series) <= MAX_SERIES_POINTS:
        return tuple(series)
    step = len(series) / MAX_SERIES_POINTS
    buckets = [
        series[int(i * step) : int((i + 1) * step)] for i in range(MAX_SERIES_POINTS)
    ]
    return tuple(
        (bucket[0][0], round(statistics.fmean(v for _, v in bucket), 2))
        for bucket in buckets
        if bucket
    )


def _duration(moments: list[float]) -> float:
    if not moments:
        return 0.0
    return round(max(moments) - min(moments) + SAMPLE_INTERVAL_S, 3)
