"""One run from start to teardown: the spine, in order, with teardown in a finally.

create (validate → compile → run directory) → provision → run benchmarks →
results → manifest → destroy. Whatever happens after provisioning starts —
a failure, an exception, Ctrl-C — `destroy` runs unless the user asked to
keep the hosts, and every result already harvested stays on disk.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.compile import StackValues, compile_campaign
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.errors import (
    ExitCode,
    OrchestratorError,
    OverBudget,
    ProvisionFailed,
    RunDirectoryTaken,
)
from fmbench_orch.orchestrator.events import EventLog
from fmbench_orch.orchestrator.interrupts import InterruptGuard, TeardownAbandoned
from fmbench_orch.orchestrator.keys import create_run_key
from fmbench_orch.orchestrator.provisioners.base import Provisioner
from fmbench_orch.orchestrator.registry import forget_live, record_live
from fmbench_orch.orchestrator.rundir import ExternalStack, RunDirectory, new_run_id
from fmbench_orch.orchestrator.spot_retry import SpotRetry, rerun_reclaimed_on_demand

log = logging.getLogger(__name__)

# A destroy that failed on a throttled or flaky API usually succeeds on a
# second try; three tries with doubling waits stay under half a minute.
TEARDOWN_ATTEMPTS = 3
TEARDOWN_FIRST_BACKOFF_SECONDS = 2.0
LOCAL_OPERATOR_CIDR = "127.0.0.1/32"
# A run id is the minute and one random byte (256 per minute and campaign);
# a run directory that already has one makes us draw again, up to this often.
RUN_ID_DRAWS = 64

Progress = Callable[..., None]


@dataclass
class RunOutcome:
    """How a run ended; `summary()` is the `--json` line."""

    run_dir: RunDirectory
    spec: StackSpec
    results: list[BenchmarkResult]
    interrupted: bool = False
    provision_error: str | None = None
    provision_exit: ExitCode = ExitCode.PROVISION_FAILED
    teardown: str = "complete"  # complete | kept | failed
    teardown_error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        succeeded = sum(result.status == "success" for result in self.results)
        if self.results and succeeded == len(self.results):
            return "success"
        return "partial" if succeeded else "failure"

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.teardown == "failed":
            return ExitCode.TEARDOWN_FAILED
        if self.provision_error is not None:
            return self.provision_exit
        if self.status != "success":
            return ExitCode.BENCHMARKS_FAILED
        return ExitCode.OK

    def summary(self) -> dict[str, Any]:
        return {
            "campaign": self.spec.campaign,
            "run_id": self.spec.run_id,
            "run_dir": str(self.run_dir.path),
            "status": self.status,
            "results": [
                {
                    "host": result.host,
                    "instance_type": result.instance_type,
                    "benchmark": result.benchmark,
                    "status": result.status,
                    "exit_code": result.exit_code,
                    "artifacts": [artifact.path for artifact in result.artifacts],
                }
                for result in self.results
            ],
            "teardown": self.teardown,
        }


def new_stack_values(
    provider: str, taken: Callable[[str], bool] = lambda run_id: False
) -> StackValues:
    """The values fixed when a stack is created: run id, time, operator, address.

    The run id is drawn again while `taken` says another run has it.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    run_id = new_run_id(now)
    for _ in range(RUN_ID_DRAWS):
        if not taken(run_id):
            break
        run_id = new_run_id(now)
    else:
        raise RunDirectoryTaken(
            f"every run id tried for this minute is taken ({RUN_ID_DRAWS} draws); "
            "wait a minute and run again"
        )
    return StackValues(
        run_id=run_id,
        created_at=now,
        operator=getpass.getuser(),
        operator_cidr=_operator_cidr(provider),
    )


def create_run(campaign_file: Path, runs_root: Path) -> tuple[RunDirectory, StackSpec]:
    """Validate, compile and record a new run; nothing is provisioned yet."""
    campaign = load_campaign(campaign_file)
    runs = runs_root / campaign.name
    values = new_stack_values(campaign.provider, lambda id_: (runs / id_).exists())
    spec = _checked_spec(campaign, values, campaign_file)
    run_dir = RunDirectory.create(runs_root, spec.campaign, spec.run_id)
    create_run_key(run_dir.keys_dir, comment=f"fmbench-orch {spec.stack_name}")
    run_dir.save_stack(campaign_file, values, spec)
    return run_dir, spec


def create_run_on_stack(
    stack_name: str, project_dir: Path, runs_root: Path
) -> tuple[RunDirectory, StackSpec]:
    """A run on a stack brought up with `pulumi up` from its stack file.

    The stack file fixes the campaign and the stack values; the key pair is
    the one `stack init` made for it.
    """
    import shutil

    from fmbench_orch.infra.stack_files import read_stack_file

    settings = read_stack_file(stack_name, project_dir)
    campaign = load_campaign(settings.campaign)
    spec = _checked_spec(campaign, settings.values, settings.campaign)
    key_dir = stack_keys_dir(stack_name)
    if not (key_dir / "id_ed25519").is_file():
        raise OrchestratorError(
            f"no private key for stack {stack_name} at {key_dir}; stacks run with "
            "`--stack` must have been created by `fmbench-orch stack init` on this "
            "machine"
        )
    earlier = runs_root / spec.campaign / spec.run_id
    if earlier.exists():
        # The stack file fixes the run id, so the stack has one run directory.
        raise RunDirectoryTaken(
            f"stack {stack_name} already has a run at {earlier}; continue it with "
            f"`fmbench-orch resume {earlier}`, or move that directory away to "
            "start a fresh run on the stack"
        )
    run_dir = RunDirectory.create(runs_root, spec.campaign, spec.run_id)
    shutil.copytree(key_dir, run_dir.keys_dir)
    external = ExternalStack(stack_name, project_dir)
    run_dir.save_stack(settings.campaign, settings.values, spec, external)
    return run_dir, spec


def stack_keys_dir(stack_name: str) -> Path:
    """Where `stack init` keeps a stack's private key: never in the repository."""
    from fmbench_orch.orchestrator.provisioners.aws import state_home

    return state_home() / "stacks" / stack_name / "keys"


def _checked_spec(
    campaign: CampaignConfig, values: StackValues, campaign_file: Path
) -> StackSpec:
    spec = compile_campaign(campaign, values)
    if spec.max_usd_per_hour is not None and spec.usd_per_hour > spec.max_usd_per_hour:
        raise OverBudget(
            f"{campaign.name} costs {spec.usd_per_hour:.2f} USD/h, over its budget of "
            f"{spec.max_usd_per_hour:.2f} (policy stack-within-budget); remove hosts, "
            "pick smaller types or raise budget.max_usd_per_hour, and see "
            f"`fmbench-orch plan {campaign_file}`"
        )
    if spec.provider == "aws":
        # This process goes on to drive the engine: the mocks stay out of it.
        from fmbench_orch.infra.preview import check_in_own_process

        check_in_own_process(spec)
    return spec


def _operator_cidr(provider: str) -> str | None:
    if provider == "local":
        return LOCAL_OPERATOR_CIDR
    if provider == "aws":
        from fmbench_orch.orchestrator.provisioners.aws import detect_operator_cidr

        return detect_operator_cidr()
    return None


def provisioner_for(
    spec: StackSpec, run_dir: RunDirectory | None = None
) -> Provisioner:
    external = run_dir.external_stack() if run_dir else None
    if external is not None:
        from fmbench_orch.orchestrator.provisioners.aws import (
            ExistingStackProvisioner,
        )

        return ExistingStackProvisioner(external.name, external.project_dir)
    if spec.provider == "local":
        from fmbench_orch.orchestrator.provisioners.local import LocalProvisioner

        return LocalProvisioner()
    if spec.provider == "static":
        from fmbench_orch.orchestrator.provisioners.static import StaticProvisioner

        return StaticProvisioner()
    from fmbench_orch.orchestrator.provisioners.aws import AwsProvisioner

    return AwsProvisioner()


def execute_run(
    run_dir: RunDirectory,
    spec: StackSpec,
    *,
    keep: bool = False,
    progress: Progress | None = None,
    guard: InterruptGuard | None = None,
) -> RunOutcome:
    """Provision, run every benchmark, then tear down — in a finally."""
    from fmbench_orch.orchestrator.runner import run_benchmarks

    guard = guard or InterruptGuard()
    listener = getattr(progress, "on_event", None)
    events = EventLog(run_dir.path, listener=listener)
    provisioner = provisioner_for(spec, run_dir)
    outcome = RunOutcome(run_dir, spec, results=[])
    if getattr(provisioner, "owns_resources", True):
        record_live(run_dir, spec)
    try:
        if not guard.interrupted:
            hosts = _provision(provisioner, spec, run_dir, events)
            spec = _as_launched(spec, hosts, run_dir)
            outcome.spec = spec
            if not guard.interrupted:
                outcome.results = run_benchmarks(
                    spec,
                    hosts,
                    run_dir.path,
                    events,
                    progress=progress,
                    stop=guard.stop,
                    explain=getattr(provisioner, "why_lost", None),
                )
                spec, outcome.results = rerun_reclaimed_on_demand(
                    SpotRetry(provisioner, run_dir, events, guard, progress),
                    spec,
                    hosts,
                    outcome.results,
                    lambda spec: _provision(provisioner, spec, run_dir, events),
                )
                outcome.spec = spec
    except ProvisionFailed as error:
        outcome.provision_error = str(error)
        outcome.provision_exit = error.exit_code
    finally:
        guard.tearing_down()
        outcome.interrupted = guard.interrupted
        if keep or not getattr(provisioner, "owns_resources", True):
            outcome.teardown = "kept"
        else:
            try:
                outcome.teardown_error = destroy_with_retry(
                    provisioner, spec, run_dir, events
                )
            except TeardownAbandoned:
                outcome.teardown_error = (
                    f"teardown abandoned at your request: what {spec.stack_name} "
                    f"created may still run; finish with `fmbench-orch down "
                    f"{run_dir.path}`"
                )
                events.emit("teardown", "abandoned")
            outcome.teardown = "failed" if outcome.teardown_error else "complete"
        outcome.results = complete_results(spec, run_dir, outcome)
        run_dir.write_manifest(spec, outcome.results, outcome.status, outcome.teardown)
        from fmbench_orch.orchestrator.report import write_run_report

        write_run_report(run_dir.path)
    return outcome


def provision_and_keep(run_dir: RunDirectory, spec: StackSpec) -> list[Any]:
    """`up`: create the hosts and leave them up; a failed `up` leaves nothing.

    The run is listed as live before anything exists; if provisioning fails,
    what it created is destroyed (and the ProvisionFailed raised) as `run`
    would.
    """
    events = EventLog(run_dir.path)
    provisioner = provisioner_for(spec, run_dir)
    record_live(run_dir, spec)
    try:
        hosts = _provision(provisioner, spec, run_dir, events)
    except ProvisionFailed:
        destroy_with_retry(provisioner, spec, run_dir, events)
        raise
    _as_launched(spec, hosts, run_dir)
    return hosts


def _provision(
    provisioner: Provisioner, spec: StackSpec, run_dir: RunDirectory, events: EventLog
) -> list[Any]:
    """`up`, with any failure raised as ProvisionFailed (its own kind kept)."""
    started = time.monotonic()
    try:
        hosts = provisioner.up(spec, run_dir.path)
    except Exception as error:
        duration = time.monotonic() - started
        events.emit("provision", "failed", duration=duration, detail=str(error))
        if isinstance(error, ProvisionFailed):
            raise
        raise ProvisionFailed(
            f"provisioning {spec.stack_name} failed: {error}",
            phase="provision",
            cause=error,
        ) from error
    duration = time.monotonic() - started
    events.emit("provision", "ok", duration=duration, detail=f"{len(hosts)} host(s)")
    return hosts


def _as_launched(spec: StackSpec, hosts: list[Any], run_dir: RunDirectory) -> StackSpec:
    """The spec with each host as it was launched (a fallback's type or region)."""
    placed = spec.placed_as(
        {host.name: (host.instance_type, host.region) for host in hosts}
    )
    if placed != spec:
        run_dir.update_spec(placed)
    return placed


def destroy_with_retry(
    provisioner: Provisioner, spec: StackSpec, run_dir: RunDirectory, events: EventLog
) -> str | None:
    """Destroy, retrying with backoff; the last error's message, or None."""
    backoff = TEARDOWN_FIRST_BACKOFF_SECONDS
    started = time.monotonic()
    for attempt in range(1, TEARDOWN_ATTEMPTS + 1):
        try:
            provisioner.destroy(spec, run_dir.path)
        except Exception as error:
            if attempt == TEARDOWN_ATTEMPTS:
                message = (
                    f"teardown of {spec.stack_name} failed after {attempt} attempts: "
                    f"{error}; finish it with `fmbench-orch down {run_dir.path}`"
                )
                log.warning("%s", message)
                events.emit(
                    "teardown",
                    "failed",
                    duration=time.monotonic() - started,
                    detail=str(error),
                )
                return message
            log.debug("teardown attempt %d failed: %s", attempt, error)
            time.sleep(backoff)
            backoff *= 2
        else:
            forget_live(spec)
            events.emit("teardown", "ok", duration=time.monotonic() - started)
            return None
    return None


def complete_results(
    spec: StackSpec, run_dir: RunDirectory, outcome: RunOutcome
) -> list[BenchmarkResult]:
    """Every host × benchmark, in campaign order; those that never ran say why."""
    recorded = run_dir.load_results()
    for result in outcome.results:
        recorded[(result.host, result.benchmark)] = result
    if outcome.provision_error:
        reason = f"not run: {outcome.provision_error}"
    elif outcome.interrupted:
        reason = "not run: the run was interrupted"
    else:
        reason = "not run: its host stopped before it"
    complete = []
    for host in spec.hosts:
        for benchmark in host.benchmarks:
            result = recorded.get((host.name, benchmark.name))
            if result is None:
                result = BenchmarkResult(
                    host=host.name,
                    instance_type=host.instance_type,
                    region=host.region,
                    price_per_hour=host.price_per_hour,
                    benchmark=benchmark.name,
                    driver=benchmark.driver,
                    status="failure",
                    reason=reason,
                )
                run_dir.save_result(result)
            complete.append(result)
    return complete
