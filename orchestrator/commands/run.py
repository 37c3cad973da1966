"""`run` and its single steps: `up`, `down`, `status`, `logs`, `resume`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

# Run directories go under ./runs unless --runs-dir says otherwise.
DEFAULT_RUNS_ROOT = Path("runs")

runs_root_option = click.option(
    "--runs-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_RUNS_ROOT,
    show_default=True,
    help="Where run directories are created.",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="End with one JSON summary line on stdout."
)
run_dir_argument = click.argument(
    "run_dir", type=click.Path(path_type=Path, file_okay=False)
)


@click.command()
@click.argument("file", type=click.Path(path_type=Path), required=False)
@runs_root_option
@json_option
@click.option("--keep", is_flag=True, help="Leave the hosts up after the run.")
@click.option(
    "--stack",
    "stack_name",
    help="Run on this stack, brought up with `pulumi up` from stacks/ (its "
    "stack file names the campaign; the stack stays up).",
)
@click.option(
    "--store",
    metavar="S3_URL",
    help="Also upload the run directory to your own bucket (s3://bucket/prefix).",
)
def run(
    file: Path | None,
    runs_dir: Path,
    as_json: bool,
    keep: bool,
    stack_name: str | None,
    store: str | None,
) -> None:
    """Run a whole campaign: provision, benchmark, harvest, tear down."""
    if (file is None) == (stack_name is None):
        raise click.UsageError("give a campaign FILE or --stack NAME (not both)")
    if store is not None:
        from fmbench_orch.orchestrator.store import StoreLocation

        StoreLocation.parse(store)  # a typo fails now, not after the run
    if stack_name is not None:
        from fmbench_orch.infra.stack_files import find_project_dir
        from fmbench_orch.orchestrator.lifecycle import create_run_on_stack

        project_dir = find_project_dir(Path.cwd())
        run_dir, spec = create_run_on_stack(stack_name, project_dir, runs_dir)
    else:
        from fmbench_orch.orchestrator.lifecycle import create_run

        run_dir, spec = create_run(file, runs_dir)
    _execute(run_dir, spec, keep=keep, as_json=as_json, store=store)


@click.command()
@run_dir_argument
@json_option
@click.option("--keep", is_flag=True, help="Leave the hosts up afterwards.")
def resume(run_dir: Path, as_json: bool, keep: bool) -> None:
    """Continue an interrupted or kept run: reattach, finish, tear down."""
    from fmbench_orch.orchestrator.rundir import RunDirectory

    directory = RunDirectory.open(run_dir)
    _execute(directory, directory.load_spec(), keep=keep, as_json=as_json)


def _execute(
    run_dir, spec, *, keep: bool, as_json: bool, store: str | None = None
) -> None:
    from fmbench_orch.orchestrator.console import RunProgress, print_outcome
    from fmbench_orch.orchestrator.interrupts import InterruptGuard
    from fmbench_orch.orchestrator.lifecycle import execute_run

    click.echo(f"run directory: {run_dir.path}", err=True)
    live = sys.stderr.isatty()
    progress = RunProgress() if live else None
    with InterruptGuard() as guard:
        if progress is not None:
            with progress:
                outcome = execute_run(
                    run_dir, spec, keep=keep, progress=progress, guard=guard
                )
        else:
            outcome = execute_run(run_dir, spec, keep=keep, guard=guard)
    summary = outcome.summary()
    print_outcome(summary)
    if store is not None:
        _upload(run_dir.path, store)
    if outcome.teardown_error:
        click.echo(outcome.teardown_error, err=True)
    if outcome.provision_error:
        click.echo(outcome.provision_error, err=True)
    if as_json:
        click.echo(json.dumps(summary, separators=(",", ":")))
    sys.exit(outcome.exit_code)


def _upload(run_dir: Path, store: str) -> None:
    """Copy the run to the user's store; a failure here never changes the run's
    exit code, and says how to retry."""
    from fmbench_orch.orchestrator.store import StoreError, upload_run

    try:
        click.echo(str(upload_run(run_dir, store)), err=True)
    except StoreError as error:
        click.echo(f"{error}\nthe run itself is complete at {run_dir}", err=True)


@click.command()
@run_dir_argument
def down(run_dir: Path) -> None:
    """Destroy everything a run created (idempotent)."""
    from fmbench_orch.orchestrator.events import EventLog
    from fmbench_orch.orchestrator.lifecycle import destroy_with_retry, provisioner_for
    from fmbench_orch.orchestrator.rundir import RunDirectory

    directory = RunDirectory.open(run_dir)
    spec = directory.load_spec()
    error = destroy_with_retry(
        provisioner_for(spec, directory), spec, directory, EventLog(directory.path)
    )
    if error:
        from fmbench_orch.orchestrator.errors import TeardownFailed

        raise TeardownFailed(error)
    click.echo(f"{spec.stack_name}: destroyed")


@click.command()
@runs_root_option
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
def status(runs_dir: Path, run_dirs: tuple[Path, ...]) -> None:
    """Show runs: their hosts' state and each benchmark's outcome."""
    from fmbench_orch.orchestrator.lifecycle import provisioner_for
    from fmbench_orch.orchestrator.rundir import RunDirectory

    if not run_dirs:
        from fmbench_orch.orchestrator.registry import live_runs, render_live_runs

        click.echo(render_live_runs(live_runs()))
    directories = [RunDirectory.open(path) for path in run_dirs] or [
        RunDirectory(path.parent) for path in sorted(runs_dir.glob("*/*/stack.json"))
    ]
    for directory in directories:
        spec = directory.load_spec()
        hosts = provisioner_for(spec, directory).status(spec, directory.path)
        recorded = directory.load_results()
        up = sum(state == "running" for state in hosts.values())
        click.echo(
            f"{directory.path}  {spec.provider}  {up}/{len(spec.hosts)} host(s) up  "
            f"expires {spec.expires_at:%Y-%m-%d %H:%M}Z"
        )
        for host in spec.hosts:
            for benchmark in host.benchmarks:
                result = recorded.get((host.name, benchmark.name))
                state = result.status if result else "pending"
                click.echo(f"  {host.name:<24} {benchmark.name:<32} {state}")


@click.command()
@run_dir_argument
@click.option("--host", help="Only this host.")
@click.option("--benchmark", help="Only this benchmark.")
def logs(run_dir: Path, host: str | None, benchmark: str | None) -> None:
    """Print the logs a run collected."""
    from fmbench_orch.orchestrator.rundir import RunDirectory

    directory = RunDirectory.open(run_dir)
    pattern = f"{host or '*'}/{benchmark or '*'}.log"
    found = sorted((directory.path / "logs").glob(pattern))
    if not found:
        from fmbench_orch.orchestrator.errors import RunNotFound

        raise RunNotFound(f"no logs match {pattern} under {directory.path / 'logs'}")
    for path in found:
        click.echo(f"==> {path.relative_to(directory.path)} <==")
        click.echo(path.read_text(errors="replace"), nl=False)


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@runs_root_option
def up(file: Path, runs_dir: Path) -> None:
    """Create a campaign's hosts and leave them up (finish with resume or down)."""
    from fmbench_orch.orchestrator.lifecycle import create_run, provision_and_keep

    run_dir, spec = create_run(file, runs_dir)
    hosts = provision_and_keep(run_dir, spec)
    for host in hosts:
        click.echo(f"{host.name}  {host.user}@{host.address}:{host.port}")
    click.echo(f"run directory: {run_dir.path}")


COMMANDS = (run, resume, up, down, status, logs)
