"""Spot hosts EC2 took back, brought back On-Demand when the campaign asks.

After the benchmarks ran, a host with `spot: true` and
`on_spot_interruption: on-demand` whose benchmarks did not all succeed is
asked about: if the provisioner says EC2 reclaimed it (`spot_reclaimed`),
the spec turns it On-Demand, one more `up` replaces the instance, and the
benchmarks that did not succeed on it run again. Everything else is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.events import EventLog
from fmbench_orch.orchestrator.interrupts import InterruptGuard
from fmbench_orch.orchestrator.provisioners.base import Provisioner
from fmbench_orch.orchestrator.rundir import RunDirectory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpotRetry:
    """The run a retry belongs to."""

    provisioner: Provisioner
    run_dir: RunDirectory
    events: EventLog
    guard: InterruptGuard
    progress: Callable[..., None] | None


def rerun_reclaimed_on_demand(
    run: SpotRetry,
    spec: StackSpec,
    hosts: list[Any],
    results: list[BenchmarkResult],
    provision: Callable[[StackSpec], list[Any]],
) -> tuple[StackSpec, list[BenchmarkResult]]:
    """The spec and results after bringing reclaimed hosts back, if any were.

    `provision` is the run's own `up` (events and errors as for the first).
    """
    from fmbench_orch.orchestrator.runner import run_benchmarks

    reclaimed = getattr(run.provisioner, "spot_reclaimed", None)
    if reclaimed is None or run.guard.interrupted:
        return spec, results
    by_name = {host.name: host for host in hosts}
    asked = {
        host.name
        for host in spec.hosts
        if host.spot and host.on_spot_interruption == "on-demand"
    }
    unfinished = {r.host for r in results if r.status != "success" and r.host in asked}
    names = {name for name in unfinished if reclaimed(by_name[name])}
    if not names:
        return spec, results
    log.warning(
        "%s: EC2 reclaimed Spot host(s) %s; replacing them with On-Demand hosts "
        "and rerunning what did not succeed on them",
        spec.stack_name,
        ", ".join(sorted(names)),
    )
    run.events.emit("spot-retry", "on-demand", detail=", ".join(sorted(names)))
    spec = spec.on_demand(names)
    run.run_dir.update_spec(spec)
    hosts = provision(spec)
    again = run_benchmarks(
        spec.only(names),
        hosts,
        run.run_dir.path,
        run.events,
        progress=run.progress,
        stop=run.guard.stop,
        explain=getattr(run.provisioner, "why_lost", None),
        rerun=lambda result: result.status != "success",
    )
    latest = {(r.host, r.benchmark): r for r in again}
    return spec, [latest.get((r.host, r.benchmark), r) for r in results]
