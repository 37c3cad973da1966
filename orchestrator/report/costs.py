"""What each host cost: its benchmarks' time, its whole life, and the plan's cap.

A host's life is read from the event log: it starts when provisioning
starts and ends when a teardown succeeds (a resumed run adds its intervals;
a run with no successful teardown counts up to its last event). Without an
event log, the first benchmark's start and the last one's end stand in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.models.spec import HostSpec
from fmbench_orch.orchestrator.plan import BOOTSTRAP_ALLOWANCE
from fmbench_orch.orchestrator.report.collect import RunInputs
from fmbench_orch.orchestrator.report.model import HostCost

SECONDS_PER_HOUR = 3600.0


def host_costs(run: RunInputs) -> list[HostCost]:
    lifetime, basis = run_lifetime(run.events)
    by_host: dict[str, list[BenchmarkResult]] = {}
    for result in run.results:
        by_host.setdefault(result.host, []).append(result)
    costs = []
    for host in run.spec.hosts:
        results = by_host.get(host.name, [])
        price = host.price_per_hour
        benchmark_s = sum(result.duration_seconds or 0.0 for result in results)
        host_lifetime, host_basis = lifetime, basis
        if host_lifetime is None:
            host_lifetime, host_basis = _lifetime_from_results(results)
        costs.append(
            HostCost(
                run_id=run.spec.run_id,
                host=host.name,
                instance_type=host.instance_type,
                provider=run.spec.provider,
                price_per_hour=price,
                benchmark_s=round(benchmark_s, 3),
                estimated_usd=benchmark_s * price / SECONDS_PER_HOUR,
                lifetime_s=None if host_lifetime is None else round(host_lifetime, 3),
                accounted_usd=None
                if host_lifetime is None
                else host_lifetime * price / SECONDS_PER_HOUR,
                accounted_from=host_basis,
                worst_case_usd=worst_case_usd(
                    host, run.spec.expires_at - run.spec.created_at
                ),
            )
        )
    return costs


def run_lifetime(events: list[dict[str, Any]]) -> tuple[float | None, str]:
    """Seconds the run's hosts existed, and where that number came from."""
    opened: datetime | None = None
    total = 0.0
    last: datetime | None = None
    seen_provision = False
    for event in sorted(events, key=lambda e: str(e.get("time", ""))):
        time = _time(event)
        if time is None:
            continue
        last = time
        phase, outcome = event.get("phase"), event.get("outcome")
        if phase == "provision" and opened is None:
            seen_provision = True
            opened = time - timedelta(seconds=float(event.get("duration") or 0.0))
        elif phase == "teardown" and outcome == "ok" and opened is not None:
            total += (time - opened).total_seconds()
            opened = None
    if not seen_provision:
        return None, "result timestamps (no provisioning in the event log)"
    if opened is not None and last is not None:
        total += (last - opened).total_seconds()
        return total, "event log: provisioning → last event (no teardown recorded)"
    return total, "event log: provisioning → teardown"


def worst_case_usd(host: HostSpec, ttl: timedelta) -> float:
    """The plan's ceiling for one host: bootstrap allowance + timeouts, within TTL."""
    longest = BOOTSTRAP_ALLOWANCE + timedelta(
        seconds=sum(benchmark.timeout_seconds for benchmark in host.benchmarks)
    )
    return min(longest, ttl).total_seconds() * host.price_per_hour / SECONDS_PER_HOUR


def _lifetime_from_results(
    results: list[BenchmarkResult],
) -> tuple[float | None, str]:
    starts = [result.started_at for result in results if result.started_at]
    ends = [result.finished_at for result in results if result.finished_at]
    if not starts or not ends:
        return None, "nothing recorded (no events, no benchmark timestamps)"
    return (max(ends) - min(starts)).total_seconds(), "result timestamps"


def _time(event: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(event["time"]))
    except (KeyError, ValueError):
        return None
