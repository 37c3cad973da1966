"""`stack init`: a stack file for people who drive stacks with the Pulumi CLI."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def stack() -> None:
    """Stack files under stacks/ for `pulumi up` and `run --stack`."""


@stack.command("init")
@click.argument("campaign_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--stack", "stack_name", required=True, help="The Pulumi stack name.")
@click.option("--force", is_flag=True, help="Replace an existing stack file.")
def init(campaign_file: Path, stack_name: str, force: bool) -> None:
    """Write stacks/Pulumi.<stack>.yaml with the values fixed for its life,
    and stacks/policy.<stack>.json for the policy pack.

    Makes the stack's key pair under ~/.fmbench-orch/stacks/<stack>/keys (the
    private key never enters the repository) and looks up your public
    address for the SSH ingress (FMBENCH_OPERATOR_CIDR overrides it).
    """
    from fmbench_orch.infra.stack_files import write_policy_config, write_stack_file
    from fmbench_orch.models.errors import ConfigError, Problem
    from fmbench_orch.models.loader import load_campaign
    from fmbench_orch.orchestrator.keys import create_run_key, public_key_line
    from fmbench_orch.orchestrator.lifecycle import new_stack_values, stack_keys_dir

    campaign = load_campaign(campaign_file, check_paths=False)
    if campaign.provider != "aws":
        problem = Problem("provider", "stacks are for provider: aws campaigns")
        raise ConfigError(campaign_file, [problem])
    values = new_stack_values(campaign.provider)
    key_dir = stack_keys_dir(stack_name)
    if (key_dir / "id_ed25519").exists() and not force:
        raise click.UsageError(
            f"stack {stack_name} already has a key at {key_dir}; pass --force to "
            "start it over (only once its old resources are destroyed)"
        )
    key = create_run_key(key_dir, comment=f"fmbench-orch stack {stack_name}")
    path = write_stack_file(
        campaign_file, stack_name, values, public_key_line(key), overwrite=force
    )
    policy = write_policy_config(campaign_file, stack_name, overwrite=force)
    click.echo(f"wrote {path}")
    click.echo(f"wrote {policy}")
    click.echo(
        f"next: pulumi up -s {stack_name} --policy-pack infra/policy "
        f"--policy-pack-config {policy.relative_to(path.parent.parent)} → "
        f"fmbench-orch run --stack {stack_name} → pulumi destroy -s {stack_name}"
    )


COMMANDS = (stack,)
