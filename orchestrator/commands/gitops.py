"""GitOps commands the pull-request workflow calls: `changed`, `stack-name`,
`pr-section`. Each prints what the next step of the workflow consumes and
exits with a code from the CLI's table (2 for bad input, 0 otherwise)."""

from __future__ import annotations

import json
from pathlib import Path

import click

pr_option = click.option(
    "--pr",
    type=click.IntRange(min=1),
    help="Pull request number: names each campaign's stack pr-<n>-<campaign>.",
)


@click.command()
@click.option(
    "--base", required=True, help="Where the change forked from (branch or commit)."
)
@click.option("--head", default="HEAD", show_default=True, help="The changed revision.")
@pr_option
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=".",
    show_default=True,
    help="The git repository.",
)
@click.option("--json", "as_json", is_flag=True, help="Print campaigns with reasons.")
def changed(base: str, head: str, pr: int | None, repo: Path, as_json: bool) -> None:
    """List the campaign files a change affects, as a pull request shows it.

    A campaign is affected when its file changed, when a local file it uses
    changed (upload, fmbench config, key file), or when a stacks/ file for it
    changed. Campaign files live in examples/ and in any campaigns/ folder.
    Prints one path a line (none: nothing to do), or with --json the
    campaigns (file, name, provider, reasons, and stack with --pr) and the
    campaign files the change removed.
    """
    from fmbench_orch.orchestrator.gitops import changed_campaigns

    change_set = changed_campaigns(repo, base, head)
    if as_json:
        click.echo(json.dumps(change_set.as_json(pr), separators=(",", ":")))
        return
    if pr is not None:
        change_set.as_json(pr)  # refuses two campaigns on one stack
    for campaign in change_set.campaigns:
        click.echo(campaign.path)


@click.command("stack-name")
@click.option("--pr", required=True, type=click.IntRange(min=1), help="PR number.")
@click.argument("campaign_file", type=click.Path(path_type=Path))
def stack_name(pr: int, campaign_file: Path) -> None:
    """Print the stack a campaign runs on for a pull request: pr-<n>-<campaign>."""
    from fmbench_orch.models.errors import ConfigError, Problem
    from fmbench_orch.models.loader import read_yaml
    from fmbench_orch.orchestrator.gitops import is_campaign_name, pr_stack_name

    document, lines = read_yaml(campaign_file)
    name = document.get("name") if isinstance(document, dict) else None
    if not is_campaign_name(name):
        raise ConfigError(
            campaign_file,
            [
                Problem(
                    "name",
                    f"got {name!r}; the stack is named after the campaign's `name:`, "
                    "which must be a slug such as llama3-8b-g6e (run "
                    "`fmbench-orch validate` for every problem)",
                    lines.get(("name",)),
                )
            ],
        )
    click.echo(pr_stack_name(pr, name))


@click.command("pr-section")
@click.argument("kind", type=click.Choice(["preview", "run"]))
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--stack", required=True, help="The pull request's stack.")
@click.option(
    "--exit-code",
    type=int,
    default=0,
    show_default=True,
    help="How the preview or run ended.",
)
@click.option("--artifact", help="The workflow artifact holding the run directory.")
def pr_section(
    kind: str, file: Path, stack: str, exit_code: int, artifact: str | None
) -> None:
    """Print one section of the pull-request comment as Markdown.

    preview: FILE holds `pulumi preview` output. run: FILE holds `run --json`
    output, whose last line is the run's summary; a missing or empty FILE
    means the run never got that far, and the section says so.
    """
    from fmbench_orch.orchestrator.markdown import preview_section, run_section

    text = file.read_text(errors="replace") if file.is_file() else ""
    if kind == "preview":
        click.echo(preview_section(stack, text, exit_code), nl=False)
        return
    click.echo(run_section(_last_json(text), stack, exit_code, artifact), nl=False)


# What `run --json` always puts in its summary line.
RUN_SUMMARY_KEYS = frozenset({"run_id", "status", "results", "teardown"})


def _last_json(text: str) -> dict | None:
    """The run's summary: the last line of `run --json` output, if it is one."""
    lines = text.strip().splitlines()
    try:
        found = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    if isinstance(found, dict) and found.keys() >= RUN_SUMMARY_KEYS:
        return found
    return None


COMMANDS = (changed, stack_name, pr_section)
