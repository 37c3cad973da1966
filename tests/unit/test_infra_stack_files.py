"""Stack files: written once with the fixed values, read back by `pulumi up`."""

from __future__ import annotations

import asyncio
import runpy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.config import CONFIG, set_all_config
from pulumi.runtime.settings import get_root_resource, set_root_resource

from fmbench_orch.infra.errors import StackConfigInvalid, StackFileExists
from fmbench_orch.infra.mocks import OfflineMocks
from fmbench_orch.infra.preview import check_policies, preview_stack
from fmbench_orch.infra.stack_files import (
    PROJECT_NAME,
    read_stack_settings,
    write_policy_config,
    write_stack_file,
)
from fmbench_orch.models.compile import StackValues, compile_campaign
from fmbench_orch.models.loader import load_campaign

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "ec2-llama3-8b-g6e.yml"
EXAMPLE_STACK = REPO / "stacks" / "Pulumi.llama3-8b-g6e.yaml"
VALUES = StackValues(
    run_id="stack123",
    created_at=datetime(2025, 9, 1, 12, tzinfo=UTC),
    operator="alice",
    operator_cidr="203.0.113.7/32",
)
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKwS6dv8ZxeORCNJdg+ZLMxklK6zL2yq3mYOR+cptcQM"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with Pulumi.yaml and the example campaign in it."""
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / EXAMPLE.name).write_text(EXAMPLE.read_text())
    return tmp_path


def stack_config(path: Path) -> dict[str, Any]:
    """A stack file's settings without the project prefix, as pulumi.Config has."""
    config = yaml.safe_load(path.read_text())["config"]
    prefix = f"{PROJECT_NAME}:"
    return {
        k.removeprefix(prefix): v for k, v in config.items() if k.startswith(prefix)
    }


def test_a_stack_file_holds_the_fixed_values_under_the_project_namespace(project):
    path = write_stack_file(
        project / "examples" / EXAMPLE.name, "demo", VALUES, PUBLIC_KEY + "\n"
    )

    assert path == project / "stacks" / "Pulumi.demo.yaml"
    config = yaml.safe_load(path.read_text())["config"]
    assert config == {
        "aws:region": "us-east-1",
        "fmbench-orchestrator:campaign": "examples/ec2-llama3-8b-g6e.yml",
        "fmbench-orchestrator:runId": "stack123",
        "fmbench-orchestrator:createdAt": "2025-09-01T12:00:00+00:00",
        "fmbench-orchestrator:operator": "alice",
        "fmbench-orchestrator:operatorCidr": "203.0.113.7/32",
        "fmbench-orchestrator:publicKey": PUBLIC_KEY,
    }


def test_reading_a_stack_file_back_compiles_the_very_same_spec(project):
    campaign = project / "examples" / EXAMPLE.name
    path = write_stack_file(campaign, "demo", VALUES, PUBLIC_KEY)

    settings = read_stack_settings(stack_config(path), project)

    assert settings.campaign == campaign
    assert settings.values == VALUES
    assert settings.public_key == PUBLIC_KEY
    loaded = load_campaign(settings.campaign)
    assert compile_campaign(loaded, settings.values) == compile_campaign(loaded, VALUES)


def test_an_existing_stack_file_is_never_overwritten_by_accident(project):
    campaign = project / "examples" / EXAMPLE.name
    path = write_stack_file(campaign, "demo", VALUES, PUBLIC_KEY)
    before = path.read_text()
    other = VALUES.model_copy(update={"run_id": "other999"})

    with pytest.raises(StackFileExists, match="pulumi destroy"):
        write_stack_file(campaign, "demo", other, PUBLIC_KEY)

    assert path.read_text() == before
    write_stack_file(campaign, "demo", other, PUBLIC_KEY, overwrite=True)
    assert "other999" in path.read_text()


def test_a_stack_name_pulumi_would_refuse_is_refused_first(project):
    with pytest.raises(StackConfigInvalid, match="may use only letters"):
        write_stack_file(
            project / "examples" / EXAMPLE.name, "my stack", VALUES, PUBLIC_KEY
        )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("runId", None, "runId is missing"),
        ("runId", "Not Valid", "runId is not valid"),
        ("createdAt", "2025-09-01 12:00", "not an ISO 8601 time with a zone"),
        ("publicKey", "", "publicKey is missing"),
    ],
)
def test_a_broken_setting_is_named_with_the_way_to_fix_it(key, value, message):
    config = {
        "campaign": "examples/ec2-llama3-8b-g6e.yml",
        "runId": "stack123",
        "createdAt": "2025-09-01T12:00:00+00:00",
        "operator": "alice",
        "publicKey": PUBLIC_KEY,
        key: value,
    }

    with pytest.raises(StackConfigInvalid) as caught:
        read_stack_settings(config, REPO)

    assert message in str(caught.value)
    assert "fmbench-orch stack init" in str(caught.value)


def test_the_example_stack_file_previews_and_passes_every_policy():
    settings = read_stack_settings(stack_config(EXAMPLE_STACK), REPO)
    spec = compile_campaign(load_campaign(settings.campaign), settings.values)

    preview = preview_stack(spec, settings.public_key)

    assert settings.campaign == EXAMPLE
    assert check_policies(preview.resources, spec) == []
    assert set(preview.outputs["hosts"]) == {"g6e-2xlarge", "g6e-4xlarge"}


@pytest.fixture
def stack_config_for_pulumi():
    """Install the example stack's config as `pulumi up` would; restore after."""
    previous = dict(CONFIG.get())
    config = yaml.safe_load(EXAMPLE_STACK.read_text())["config"]
    set_all_config({key: str(value) for key, value in config.items()})
    yield
    set_all_config(previous)


def test_the_pulumi_entry_point_declares_the_stack_from_its_config(
    stack_config_for_pulumi,
):
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # another test ended this thread's loop
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = OfflineMocks()
    set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT_NAME, stack="llama3-8b-g6e")

    @pulumi.runtime.test
    def check():
        runpy.run_path(str(REPO / "infra" / "__main__.py"), run_name="__main__")

        def verify(outputs: dict[str, Any]) -> None:
            assert outputs["bucket"] == "fmbench-llama3-8b-g6e-demo0001"
            assert set(outputs["hosts"]) == {"g6e-2xlarge", "g6e-4xlarge"}

        return pulumi.Output.from_input(dict(get_root_resource().outputs)).apply(verify)

    check()


def test_the_policy_config_holds_the_campaigns_budget_and_instance_types(project):
    import json

    from fmbench_orch.infra.policy.checks import PolicyConfig, run_checks

    campaign = project / "examples" / EXAMPLE.name

    path = write_policy_config(campaign, "team-a")

    assert path == project / "stacks" / "policy.team-a.json"
    config = json.loads(path.read_text())
    # The same as the checked-in file for the example's stack.
    assert config == json.loads((REPO / "stacks/policy.llama3-8b-g6e.json").read_text())
    budget = PolicyConfig.from_pack_config(config["stack-within-budget"])
    assert budget.max_usd_per_hour == load_campaign(EXAMPLE).budget.max_usd_per_hour
    allowed = PolicyConfig.from_pack_config(config["instance-type-in-catalog"])

    def refused_by_allow_list(instance_type: str) -> bool:
        host = [("aws:ec2/instance:Instance", "h", {"instanceType": instance_type})]
        found = {v.policy for v in run_checks(host, allowed)}
        return "instance-type-in-catalog" in found

    assert refused_by_allow_list("p5.48xlarge")
    assert not refused_by_allow_list("g6e.4xlarge")
    with pytest.raises(StackFileExists):
        write_policy_config(campaign, "team-a")
