"""`report` and `harvest`: compare finished runs, and bring stored runs back."""

from __future__ import annotations

from pathlib import Path

import click

# The run commands' default (`runs/`); repeated so --help stays light.
DEFAULT_RUNS_ROOT = Path("runs")
# A comparison of many runs is named after this many of them, then "etc".
NAMED_RUNS = 3


@click.command()
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write the report files (default: the run directory; for "
    "several runs, a report-… folder beside them).",
)
@click.option(
    "--latency-p95",
    "latency_p95",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Keep FMBench configurations whose p95 latency is at most this (seconds).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option(
    "--markdown",
    "as_markdown",
    is_flag=True,
    help="Print the report as Markdown sized for a PR comment (≤ 60 KB).",
)
def report(
    run_dirs: tuple[Path, ...],
    out: Path | None,
    latency_p95: float,
    as_json: bool,
    as_markdown: bool,
) -> None:
    """Compare runs: best options, costs, sweeps, failures; writes report.md/csv/html.

    Reads each run directory's results and harvested artifacts; a campaign's
    folder (runs/<campaign>) stands for all its runs. With several runs,
    every table compares them side by side and repeated benchmarks show
    their run-to-run spread.
    """
    from fmbench_orch.orchestrator.report.build import build_report
    from fmbench_orch.orchestrator.report.document import render_json
    from fmbench_orch.orchestrator.report.markdown import render_pr_markdown
    from fmbench_orch.orchestrator.report.model import Settings
    from fmbench_orch.orchestrator.report.write import write_report_files

    if as_json and as_markdown:
        raise click.UsageError(
            "--json and --markdown each print the whole report; pick one"
        )
    runs = _expand(run_dirs)
    built = build_report(runs, Settings(latency_p95_s=latency_p95))
    destination = out or _default_out(runs, [run.run_id for run in built.runs])
    written = write_report_files(built, destination)
    click.echo(f"report: {written} (and .csv, .html, .json beside it)", err=True)
    if as_json:
        click.echo(render_json(built), nl=False)
    elif as_markdown:
        click.echo(render_pr_markdown(built), nl=False)


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Run directories as given; a campaign's folder stands for all its runs."""
    from fmbench_orch.orchestrator.rundir import STACK_FILE

    runs: list[Path] = []
    for path in paths:
        if (path / STACK_FILE).is_file():
            runs.append(path)
            continue
        inside = sorted(stack.parent for stack in path.glob(f"*/{STACK_FILE}"))
        runs.extend(inside or [path])  # an empty folder fails with its own message
    return runs


def _default_out(run_dirs: list[Path], run_ids: list[str]) -> Path:
    if len(run_dirs) == 1:
        return run_dirs[0]
    parents = {path.resolve().parent for path in run_dirs}
    common = parents.pop() if len(parents) == 1 else run_dirs[0].resolve().parent.parent
    name = "_".join(run_ids[:NAMED_RUNS]) + (
        "_etc" if len(run_ids) > NAMED_RUNS else ""
    )
    return common / f"report-{name}"


@click.command()
@click.option(
    "--from",
    "store_url",
    required=True,
    metavar="S3_URL",
    help="The stored run: s3://bucket/prefix/<campaign>/<run-id>.",
)
@click.option(
    "--to",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to put it (default: <runs-dir>/<campaign>/<run-id>).",
)
@click.option(
    "--runs-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_RUNS_ROOT,
    show_default=True,
    help="Where run directories live.",
)
def harvest(store_url: str, to: Path | None, runs_dir: Path) -> None:
    """Bring a run back from the S3 store (resumes; skips files already here).

    Honours AWS_PROFILE, AWS_REGION and AWS_ENDPOINT_URL like the AWS CLI.
    """
    from fmbench_orch.orchestrator.store import harvest_run, stored_run_name

    campaign, run_id = stored_run_name(store_url)
    summary = harvest_run(store_url, to or runs_dir / campaign / run_id)
    click.echo(str(summary))
    if not summary.complete:
        click.echo(
            "warning: the stored run is incomplete (its upload was cut short); "
            "upload it again from its run directory",
            err=True,
        )


COMMANDS = (report, harvest)
