"""`reap`: remove whatever outlived its TTL — live runs, then tagged AWS leftovers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click


def _duration(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> timedelta | None:
    from fmbench_orch.models.durations import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command()
@click.option(
    "--older-than",
    metavar="DURATION",
    callback=_duration,
    help="Also remove what is older than this (e.g. 2h, 1d), TTL or not.",
)
@click.option("--dry-run", is_flag=True, help="Show what would go; change nothing.")
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="REGION",
    help="Sweep this AWS region too (repeatable).",
)
@click.option(
    "--campaign",
    "campaign_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Sweep this campaign's regions too (repeatable).",
)
def reap(
    older_than: timedelta | None,
    dry_run: bool,
    regions: tuple[str, ...],
    campaign_files: tuple[Path, ...],
) -> None:
    """Remove runs and fmbench-tagged AWS resources that outlived their TTL.

    Live runs in the registry are torn down by their provisioner; instances,
    security groups, key pairs, buckets and SageMaker endpoints tagged
    fmbench:* are found by tag, so this works even when a run's state is lost;
    stacks such runs left in a file or S3 Pulumi backend are removed after.
    Resources without those tags, and static hosts, are never touched.
    """
    from fmbench_orch.orchestrator.errors import TeardownFailed
    from fmbench_orch.orchestrator.reaper import (
        execute_reap,
        plan_reap,
        render_failures,
        render_plan,
    )

    plan = plan_reap(
        older_than=older_than, regions=regions, campaign_files=campaign_files
    )
    click.echo(render_plan(plan))
    if dry_run:
        click.echo("dry run: nothing was changed")
        return
    outcome = execute_reap(plan)
    for item in outcome.removed:
        click.echo(f"removed {item}")
    if outcome.failures:
        raise TeardownFailed(render_failures(outcome.failures), phase="reap")
    if outcome.removed:
        click.echo("nothing that outlived its TTL is left")


COMMANDS = (reap,)
