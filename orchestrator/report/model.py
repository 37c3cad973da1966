"""The report's content: plain records the analysis fills and renderers read.

Every record is a frozen dataclass of JSON-friendly values, so `--json`
is `dataclasses.asdict` of the `Report` and every renderer reads the same
numbers. Money is USD; times are seconds; latencies are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Request rates (per minute) the legacy analytics priced, and ours too.
REQUEST_RATES_PER_MINUTE = (1, 10, 100, 1_000, 10_000)
# The legacy analytics' default p95 latency threshold, in seconds.
DEFAULT_LATENCY_P95_S = 2.0


@dataclass(frozen=True)
class Settings:
    latency_p95_s: float = DEFAULT_LATENCY_P95_S
    request_rates_per_minute: tuple[int, ...] = REQUEST_RATES_PER_MINUTE


@dataclass(frozen=True)
class RunInfo:
    campaign: str
    run_id: str
    provider: str
    region: str
    path: str
    status: str
    teardown: str
    created_at: str
    hosts: int
    succeeded: int
    failed: int


@dataclass(frozen=True)
class BenchmarkStatus:
    run_id: str
    host: str
    instance_type: str
    benchmark: str
    driver: str
    status: str
    exit_code: int | None
    duration_s: float | None
    reason: str | None


@dataclass(frozen=True)
class HostCost:
    """What a host cost: its benchmarks' time, its whole life, the plan's cap.

    `estimated_usd` prices only the benchmarks' own run time; `accounted_usd`
    prices the host's life from provisioning to teardown (what the provider
    bills, to within its boot time); `worst_case_usd` is the plan's ceiling.
    """

    run_id: str
    host: str
    instance_type: str
    provider: str
    price_per_hour: float
    benchmark_s: float
    estimated_usd: float
    lifetime_s: float | None
    accounted_usd: float | None
    accounted_from: str
    worst_case_usd: float | None


@dataclass(frozen=True)
class FmbenchPoint:
    """One summary row of one host, priced, and whether the legacy filter kept it."""

    run_id: str
    host: str
    instance_type: str
    price_per_hour: float
    benchmark: str
    experiment: str
    payload_file: str
    concurrency: int
    instance_count: int
    error_rate: float
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    ttft_p50_s: float | None
    tpot_p50_s: float | None
    transactions_per_minute: float
    tokens_per_transaction: float | None
    cost_per_txn_usd: float | None
    cost_per_1k_tokens_usd: float | None
    rejected_because: str | None = None
    selected: bool = False

    @property
    def option(self) -> str:
        """How tables name this configuration in one cell."""
        return (
            f"{self.instance_type} · {self.experiment} · {self.payload_file} "
            f"· c{self.concurrency}"
        )


@dataclass(frozen=True)
class RequestRateCost:
    run_id: str
    host: str
    instance_type: str
    experiment: str
    payload_file: str
    concurrency: int
    rate_per_minute: int
    instances: int
    usd_per_hour: float


@dataclass(frozen=True)
class SweepPoint:
    """One coordinate set of a `command` benchmark's sweep and its metrics."""

    run_id: str
    host: str
    instance_type: str
    price_per_hour: float
    benchmark: str
    coordinates: dict[str, int]
    metrics: dict[str, float]
    cost_per_1k_tokens_usd: float | None = None


@dataclass(frozen=True)
class Spread:
    """One metric measured more than once for the same instance type and point."""

    instance_type: str
    benchmark: str
    point: str
    metric: str
    count: int
    mean: float
    stdev: float
    minimum: float
    maximum: float
    cv_percent: float | None
    measured_by: tuple[str, ...]


@dataclass(frozen=True)
class TelemetrySummary:
    run_id: str
    host: str
    benchmark: str
    gpus: int
    samples: int
    duration_s: float
    gpu_util_mean_percent: float | None
    gpu_idle_s: float | None
    gpu_idle_percent: float | None
    gpu_memory_peak_mib: float | None
    cpu_mean_percent: float | None
    memory_peak_mib: float | None
    idle_gpu_flag: bool
    # (seconds since the first sample, mean utilization over the host's GPUs)
    gpu_series: tuple[tuple[float, float], ...] = ()
    cpu_series: tuple[tuple[float, float], ...] = ()
    # (seconds, MiB): the host's memory in use, and the sum over its GPUs.
    memory_series: tuple[tuple[float, float], ...] = ()
    gpu_memory_series: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Problem:
    """Something the report could not read, and where."""

    run_id: str
    host: str | None
    benchmark: str | None
    file: str
    reason: str


@dataclass
class Report:
    generated_at: str
    settings: Settings
    runs: list[RunInfo] = field(default_factory=list)
    benchmarks: list[BenchmarkStatus] = field(default_factory=list)
    costs: list[HostCost] = field(default_factory=list)
    fmbench_points: list[FmbenchPoint] = field(default_factory=list)
    request_rates: list[RequestRateCost] = field(default_factory=list)
    best_overall: FmbenchPoint | None = None
    best_per_instance_type: list[FmbenchPoint] = field(default_factory=list)
    sweep_points: list[SweepPoint] = field(default_factory=list)
    spreads: list[Spread] = field(default_factory=list)
    telemetry: list[TelemetrySummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def selected_points(self) -> list[FmbenchPoint]:
        return [point for point in self.fmbench_points if point.selected]
