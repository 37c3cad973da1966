"""The reaper: whatever outlived its TTL, found and removed.

Two sources, in this order. First the registry of live runs: each due run
is torn down by its own provisioner (so its Pulumi state stays true) and
unlisted. Then the account itself: `aws_leftovers` finds every
`fmbench:`-tagged resource in the regions given, those of the campaign
files given and those of the registry's aws runs — which also catches what
a run whose state was lost left behind — and `aws_removal` removes what is
due. Last, stacks in the Pulumi backend that no live run accounts for and
whose resources' TTL passed (`backend_stacks`): stale state once the sweep
has removed what they held, so they are removed from the backend too.
Static hosts are never touched: they are the user's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fmbench_orch.orchestrator import aws_leftovers, aws_removal, backend_stacks
from fmbench_orch.orchestrator.backend_stacks import BackendStack
from fmbench_orch.orchestrator.registry import LiveRun, forget_stack, live_runs

log = logging.getLogger(__name__)


@dataclass
class ReapPlan:
    """What `reap` would remove, decided at `now`."""

    now: datetime
    older_than: timedelta | None
    regions: tuple[str, ...]
    campaign_names: tuple[str, ...]
    runs: list[LiveRun] = field(default_factory=list)
    left_alone: list[tuple[LiveRun, str]] = field(default_factory=list)
    sweep: aws_leftovers.Sweep = field(default_factory=aws_leftovers.Sweep)
    backend: str = ""
    stacks: list[BackendStack] = field(default_factory=list)
    # Why the backend's stacks were not listed, if they were not.
    stacks_note: str = ""

    @property
    def empty(self) -> bool:
        return not (self.runs or self.sweep.due or self.stacks)


@dataclass
class ReapOutcome:
    removed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def is_due(run: LiveRun, now: datetime, older_than: timedelta | None) -> bool:
    if run.expired(now):
        return True
    return older_than is not None and run.age(now) >= older_than


def plan_reap(
    *,
    older_than: timedelta | None = None,
    regions: Iterable[str] = (),
    campaign_files: Iterable[Path] = (),
    now: datetime | None = None,
    clients: aws_leftovers.Clients | None = None,
) -> ReapPlan:
    """Find what is due; change nothing."""
    now = now or datetime.now(UTC)
    names, campaign_regions = _campaigns(campaign_files)
    registered = live_runs()
    aws_regions = {
        r for run in registered if run.provider == "aws" for r in run.regions
    }
    plan = ReapPlan(
        now=now,
        older_than=older_than,
        regions=tuple(sorted({*regions, *campaign_regions, *aws_regions})),
        campaign_names=names,
    )
    for run in registered:
        if not is_due(run, now, older_than):
            continue
        if run.provider == "static":
            plan.left_alone.append(
                (run, f"static hosts are yours; `{run.down_command}` cleans up")
            )
        else:
            plan.runs.append(run)
    clients = clients or aws_leftovers.boto_clients()
    if plan.regions:
        plan.sweep = aws_leftovers.find(plan.regions, now, older_than, clients, names)
    _plan_stacks(plan, {run.stack_name for run in registered}, clients)
    return plan


def _plan_stacks(
    plan: ReapPlan, registered: set[str], clients: aws_leftovers.Clients
) -> None:
    from fmbench_orch.orchestrator.provisioners.aws import backend_url

    plan.backend = backend_url()
    stacks, plan.stacks_note = backend_stacks.list_stacks(plan.backend, clients)
    plan.stacks = backend_stacks.due_stacks(
        stacks, registered, plan.now, plan.older_than
    )


def execute_reap(
    plan: ReapPlan, clients: aws_leftovers.Clients | None = None
) -> ReapOutcome:
    """Tear down the plan's runs, then sweep the regions again and remove."""
    outcome = ReapOutcome()
    for run in plan.runs:
        try:
            error = _tear_down(run)
        except Exception as caught:  # a broken run directory must not stop the rest
            error = f"{caught}; finish it with `{run.down_command}`"
        if error is None:
            outcome.removed.append(f"run {run.stack_name}")
        else:
            outcome.failures.append(f"run {run.stack_name}: {error}")
    if plan.regions:
        # Listed afresh: the runs' own teardown has removed most of what was seen.
        clients = clients or aws_leftovers.boto_clients()
        sweep = aws_leftovers.find(
            plan.regions, plan.now, plan.older_than, clients, plan.campaign_names
        )
        removal = aws_removal.remove(sweep.due, clients)
        outcome.failures += sweep.problems + removal.failures
        outcome.removed += [f"{item.kind} {item.id}" for item in removal.removed]
    for stack in plan.stacks:
        error = backend_stacks.remove_stack(stack, plan.backend)
        if error is None:
            outcome.removed.append(f"stack {stack.name}")
        else:
            outcome.failures.append(f"stack {stack.name}: {error}")
    return outcome


def render_plan(plan: ReapPlan) -> str:
    now = plan.now
    lines = []
    if plan.empty:
        lines.append("nothing has outlived its TTL" + _age_clause(plan, "is"))
    else:
        count = len(plan.runs) + len(plan.sweep.due) + len(plan.stacks)
        clause = _age_clause(plan, "are")
        lines.append(f"{count} item(s) outlived their TTL{clause}:")
    for run in plan.runs:
        lines.append(
            f"  run            {run.stack_name}  {run.provider}  "
            f"{', '.join(run.regions)}  ~{run.spent_usd(now):.2f} USD so far  "
            f"({run.run_dir})"
        )
    lines += [f"  {item.describe(now)}" for item in plan.sweep.due]
    lines += [
        f"  stack          {stack.name}  run {stack.run_id}  {stack.resources} "
        f"resource(s) in {plan.backend} (its resources go by tag)"
        for stack in plan.stacks
    ]
    for run, reason in plan.left_alone:
        lines.append(f"left alone: run {run.stack_name}: {reason}")
    for item in plan.sweep.untagged_endpoints:
        lines.append(
            f"left alone: endpoint {item.id} in {item.region} has no fmbench: tags; "
            "if FMBench made it, delete it with `aws sagemaker delete-endpoint "
            f"--endpoint-name {item.id} --region {item.region}`"
        )
    if plan.sweep.fresh:
        lines.append(
            f"{len(plan.sweep.fresh)} tagged resource(s) are within their TTL and stay"
        )
    lines += [f"warning: {problem}" for problem in plan.sweep.problems]
    if plan.stacks_note:
        lines.append(f"note: {plan.stacks_note}")
    if not plan.regions:
        lines.append(
            "no AWS region to sweep (none given, none in the registry); add "
            "--region or --campaign to look for leftovers in the account"
        )
    return "\n".join(lines)


def render_failures(failures: list[str]) -> str:
    listed = "\n".join(f"  {failure}" for failure in failures)
    return (
        f"{len(failures)} item(s) could not be removed and may still cost money:\n"
        f"{listed}\nFix the cause shown, then run `fmbench-orch reap` again."
    )


def _tear_down(run: LiveRun) -> str | None:
    """Destroy a registry run with its provisioner; None when it is gone."""
    from fmbench_orch.orchestrator.errors import RunNotFound
    from fmbench_orch.orchestrator.events import EventLog
    from fmbench_orch.orchestrator.lifecycle import destroy_with_retry, provisioner_for
    from fmbench_orch.orchestrator.rundir import RunDirectory

    try:
        directory = RunDirectory.open(run.run_dir)
    except RunNotFound:
        # Limitation: a run whose directory was deleted is unlisted without its
        # provisioner: aws resources are swept by tag below, and a local run's
        # daemon stops itself at the TTL — until then (only with --older-than)
        # its SSH servers keep running.
        log.warning(
            "%s: run directory %s is gone; sweeping its tagged resources instead",
            run.stack_name,
            run.run_dir,
        )
        forget_stack(run.stack_name)
        return None
    spec = directory.load_spec()
    error = destroy_with_retry(
        provisioner_for(spec, directory), spec, directory, EventLog(directory.path)
    )
    if error is None:
        forget_stack(run.stack_name)
    return error


def _campaigns(files: Iterable[Path]) -> tuple[tuple[str, ...], set[str]]:
    from fmbench_orch.models.loader import load_campaign

    names, regions = [], set()
    for path in files:
        campaign = load_campaign(path, check_paths=False)
        names.append(campaign.name)
        regions.add(campaign.region)
        for host in campaign.hosts:
            regions.update(
                region
                for region in (host.region, *(f.region for f in host.fallbacks))
                if region
            )
    return tuple(names), regions


def _age_clause(plan: ReapPlan, verb: str) -> str:
    if plan.older_than is None:
        return ""
    from fmbench_orch.models.durations import format_duration

    return f" or {verb} older than {format_duration(plan.older_than)}"
