"""`pulumi up` entry point: the stack file's settings → compile → declare_stack.

Pulumi runs this file for `main: infra/` in Pulumi.yaml. Every value that
must stay fixed for the stack's life comes from the stack's configuration
(see `stacks/README.md`); nothing here reads a clock or draws a random id,
so a second `pulumi preview` shows no diff.
"""

from pathlib import Path

import pulumi

from fmbench_orch.infra.program import declare_stack
from fmbench_orch.infra.stack_files import (
    KEY_CAMPAIGN,
    KEY_CREATED_AT,
    KEY_OPERATOR,
    KEY_OPERATOR_CIDR,
    KEY_PUBLIC_KEY,
    KEY_RUN_ID,
    find_project_dir,
    read_stack_settings,
)
from fmbench_orch.models.compile import compile_campaign
from fmbench_orch.models.loader import load_campaign


def main() -> None:
    config = pulumi.Config()
    keys = (
        KEY_CAMPAIGN,
        KEY_RUN_ID,
        KEY_CREATED_AT,
        KEY_OPERATOR,
        KEY_OPERATOR_CIDR,
        KEY_PUBLIC_KEY,
    )
    raw = {key: config.get(key) for key in keys}
    project_dir = find_project_dir(Path(__file__).resolve().parent)
    settings = read_stack_settings(raw, project_dir)
    # Upload sources are the runner's concern, not the stack's: a preview in CI
    # must not fail for a token file that only the operator's machine holds.
    campaign = load_campaign(settings.campaign, check_paths=False)
    declare_stack(compile_campaign(campaign, settings.values), settings.public_key)


main()
