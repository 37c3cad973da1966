"""`fmbench-orch`: the command line.

Imports stay light at the top: `--help` and `validate` must answer in a blink,
so pulumi, boto3 and fabric are imported inside the commands that use them.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from fmbench_orch.orchestrator import redaction
from fmbench_orch.orchestrator.errors import (
    EXIT_CODE_MEANINGS,
    ExitCode,
    OverBudget,
    exit_code_for,
)

log = logging.getLogger(__name__)

EXIT_CODES_HELP = "\n".join(
    f"  {int(code):>3}  {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items()
)


class Cli(click.Group):
    """Turns every known error into one message and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except Exception as error:
            code = exit_code_for(error)
            if code == ExitCode.INTERNAL:
                log.debug("internal error", exc_info=True)
                click.echo(
                    f"internal error: {error!r}\nThis is a bug in fmbench-orch; "
                    "rerun with -v and report the output.",
                    err=True,
                )
            else:
                click.echo(str(error), err=True)
            sys.exit(code)


@click.group(
    cls=Cli,
    epilog=f"\b\nExit codes:\n{EXIT_CODES_HELP}",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv: debug).")
def cli(verbose: int) -> None:
    """Benchmark foundation models across cloud instances, then tear it all down."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    redaction.install()


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check campaign files; print every problem with its field path and fix."""
    from fmbench_orch.models.errors import ConfigError
    from fmbench_orch.models.loader import load_campaign

    failed = 0
    for path in files:
        try:
            campaign = load_campaign(path)
        except ConfigError as error:
            failed += 1
            click.echo(error.render(), err=True)
            continue
        hosts = sum(host.count for host in campaign.hosts)
        click.echo(
            f"{path}: ok ({campaign.name}: {hosts} host(s), {campaign.provider})"
        )
    if failed:
        click.echo(f"{failed} of {len(files)} file(s) invalid", err=True)
        sys.exit(ExitCode.INVALID_INPUT)


@cli.command()
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="Write to a file."
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of campaign files (for YAML editors)."""
    from fmbench_orch.models.campaign import CampaignConfig

    document = CampaignConfig.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "fmbench-orch campaign"
    text = json.dumps(document, indent=2) + "\n"
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--markdown",
    "as_markdown",
    is_flag=True,
    help="Print the plan as Markdown for a pull-request comment (an invalid "
    "file prints its problems); the exit code is the same.",
)
@click.option(
    "--check-aws",
    is_flag=True,
    help="Also ask AWS, with your credentials, whether each host's instance type "
    "is offered in its region and zone, its AMI exists and the vCPU quotas hold "
    "the hosts (fallbacks too); exit 5 when a check fails.",
)
def plan(file: Path, as_json: bool, as_markdown: bool, check_aws: bool) -> None:
    """Show what a campaign will create and cost; start nothing."""
    from fmbench_orch.models.errors import ConfigError
    from fmbench_orch.models.loader import load_campaign
    from fmbench_orch.orchestrator import markdown
    from fmbench_orch.orchestrator.plan import plan_spec, plan_summary

    try:
        spec = plan_spec(load_campaign(file))
    except ConfigError as error:
        if as_markdown:
            click.echo(markdown.invalid_section(str(file), error.render()), nl=False)
        raise
    summary = plan_summary(spec)
    checks = None
    if check_aws:
        from fmbench_orch.orchestrator.aws_checks import check_spec

        checks = check_spec(spec)
        summary["aws_checks"] = checks.as_dict()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    elif as_markdown:
        click.echo(markdown.plan_section(summary, str(file)), nl=False)
        if checks is not None:
            click.echo(markdown.aws_checks_section(summary["aws_checks"]), nl=False)
    else:
        from fmbench_orch.orchestrator.console import print_aws_checks, print_plan

        print_plan(summary)
        if checks is not None:
            print_aws_checks(summary["aws_checks"])
    if not summary["budget"]["within"]:
        raise OverBudget("; ".join(summary["budget"]["problems"]))
    if summary["policy_violations"]:
        from fmbench_orch.infra.errors import PoliciesViolated

        raise PoliciesViolated(summary["campaign"], summary["policy_violations"])
    if checks is not None and not checks.passed:
        from fmbench_orch.orchestrator.aws_checks import AwsChecksFailed

        raise AwsChecksFailed(summary["campaign"], checks)


def main() -> None:
    cli(prog_name="fmbench-orch")


def _register() -> None:
    from fmbench_orch.orchestrator.commands import gitops, reap, results, run, stack
    from fmbench_orch.orchestrator.commands.migrate import migrate

    groups = (
        run.COMMANDS,
        results.COMMANDS,
        stack.COMMANDS,
        gitops.COMMANDS,
        reap.COMMANDS,
    )
    for command in (*(c for group in groups for c in group), migrate):
        cli.add_command(command)


_register()
