"""The policy pack as the Pulumi CLI runs it (`pulumi preview --policy-pack`).

    pulumi preview --policy-pack infra/policy \\
        --policy-pack-config stacks/policy.llama3-8b-g6e.json

The policies themselves are built in `pack`; constructing `PolicyPack`
starts the analyzer server and blocks, which is all this file does.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyPack

from fmbench_orch.infra.policy.pack import PACK_NAME, policies

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policies(),
)
