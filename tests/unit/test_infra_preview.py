"""Offline preview: the real program under mocks, as `plan` will show it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import pulumi
import pytest
from infra_examples import EXAMPLE, example_spec
from pulumi.runtime import settings

from fmbench_orch.infra.errors import (
    NoSubnetForInstanceType,
    PoliciesViolated,
    PreviewRefused,
)
from fmbench_orch.infra.mocks import OfflineMocks
from fmbench_orch.infra.preview import (
    PLACEHOLDER_PUBLIC_KEY,
    check_in_own_process,
    check_policies,
    enforce_policies,
    preview_resources,
    preview_stack,
)
from fmbench_orch.orchestrator.errors import ExitCode, exit_code_for

# The project's target is 5 s for 100 hosts (about 2 s on a laptop); the test
# allows twice that so a slow CI machine does not fail it, yet a regression
# to per-host lookups or quadratic work still does.
PREVIEW_SECONDS_FOR_100_HOSTS = 10.0


def hosts(count: int):
    def edit(document: dict) -> None:
        first, second = document["hosts"]
        second["region"] = "us-west-2"
        document["hosts"] = [
            {**first, "count": count - count // 2},
            *([{**second, "count": count // 2}] if count > 1 else []),
        ]
        document["budget"]["max_usd_per_hour"] = 3 * count

    return edit


def counts(resources: list[dict]) -> dict[str, int]:
    found: dict[str, int] = {}
    for resource in resources:
        found[resource["type"]] = found.get(resource["type"], 0) + 1
    return found


@pytest.mark.parametrize("count", [1, 10, 100])
def test_a_preview_lists_one_instance_per_host_and_shared_resources_once(
    tmp_path, count
):
    spec = example_spec(tmp_path, hosts(count))
    regions = 1 if count == 1 else 2

    started = time.perf_counter()
    resources = preview_resources(spec)
    elapsed = time.perf_counter() - started

    found = counts(resources)
    assert found["aws:ec2/instance:Instance"] == count
    assert found["fmbench:index:BenchmarkHost"] == count
    assert found["aws:ec2/securityGroup:SecurityGroup"] == regions
    assert found["aws:ec2/keyPair:KeyPair"] == regions
    assert found["aws:s3/bucket:Bucket"] == 1
    assert found["aws:iam/role:Role"] == 1
    if count == 100:
        assert elapsed < PREVIEW_SECONDS_FOR_100_HOSTS


def test_resources_come_in_declaration_order_with_hosts_in_campaign_order(tmp_path):
    spec = example_spec(tmp_path, hosts(10))

    resources = preview_resources(spec)

    assert resources[0]["type"] == "fmbench:index:ResultsBucket"
    instances = [r["name"] for r in resources if r["type"].endswith(":Instance")]
    assert instances == [host.name for host in spec.hosts]
    assert resources[-1]["type"] == "aws:ec2/instance:Instance"


def test_two_previews_of_one_spec_are_identical(tmp_path):
    spec = example_spec(tmp_path, hosts(10))

    assert preview_stack(spec) == preview_stack(spec)


def test_a_preview_leaves_the_callers_pulumi_state_and_event_loop_alone(tmp_path):
    spec = example_spec(tmp_path)
    root_before = settings.get_root_resource()
    monitor_before = settings.SETTINGS.monitor
    stack_before = settings.get_stack()
    # An earlier asyncio.run() in this process may have left no current loop.
    loop_before = asyncio.new_event_loop()
    asyncio.set_event_loop(loop_before)

    preview_resources(spec)
    preview_resources(spec)

    assert settings.get_root_resource() is root_before
    assert settings.SETTINGS.monitor is monitor_before
    assert settings.get_stack() == stack_before
    assert asyncio.get_event_loop_policy().get_event_loop() is loop_before
    assert not loop_before.is_closed()
    asyncio.set_event_loop(None)
    loop_before.close()


def test_threads_started_after_a_preview_see_no_trace_of_its_mocks(tmp_path):
    spec = example_spec(tmp_path)

    def new_thread_sees() -> dict:
        seen: dict = {}

        def look() -> None:
            seen.update(
                monitor=settings.SETTINGS.monitor,
                dry_run=settings.SETTINGS.dry_run,
                stack=settings.get_stack(),
                root=settings.get_root_resource(),
            )

        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
        return seen

    before = new_thread_sees()
    preview_resources(spec)

    assert new_thread_sees() == before


def test_a_preview_runs_from_inside_a_running_event_loop(tmp_path):
    spec = example_spec(tmp_path)

    async def plan() -> list[dict]:
        return preview_resources(spec)

    loop = asyncio.new_event_loop()
    try:
        resources = loop.run_until_complete(plan())
    finally:
        loop.close()

    assert counts(resources)["aws:ec2/instance:Instance"] == 2


def test_inputs_are_plain_json_with_camel_case_names(tmp_path):
    resources = preview_resources(example_spec(tmp_path))

    assert json.loads(json.dumps(resources)) == resources
    instance = next(r for r in resources if r["type"].endswith(":Instance"))
    assert instance["inputs"]["instanceType"] == "g6e.2xlarge"
    assert instance["inputs"]["rootBlockDevice"]["volumeSize"] == 250
    assert isinstance(instance["inputs"]["rootBlockDevice"]["volumeSize"], int)


def test_outputs_resolve_and_hold_no_key_material(tmp_path):
    spec = example_spec(tmp_path)

    preview = preview_stack(spec)

    assert preview.outputs["bucket"] == spec.bucket.name
    assert set(preview.outputs["hosts"]) == {"g6e-2xlarge", "g6e-4xlarge"}
    text = json.dumps(preview.outputs)
    assert "PRIVATE KEY" not in text
    assert PLACEHOLDER_PUBLIC_KEY.split()[1] not in text


def test_the_public_key_appears_only_in_key_pairs(tmp_path):
    resources = preview_resources(example_spec(tmp_path), "ssh-ed25519 AAAAmine me")

    holders = {r["type"] for r in resources if "AAAAmine" in json.dumps(r["inputs"])}

    assert holders == {"aws:ec2/keyPair:KeyPair"}


def test_a_program_error_reaches_the_caller_and_the_next_preview_still_works(
    tmp_path,
):
    spec = example_spec(tmp_path)
    nowhere = OfflineMocks(offered_zones={("g6e.2xlarge", "us-east-1"): []})

    with pytest.raises(NoSubnetForInstanceType):
        preview_stack(spec, mocks=nowhere)

    assert counts(preview_resources(spec))["aws:ec2/instance:Instance"] == 2


def test_the_example_campaign_passes_every_policy(tmp_path):
    spec = example_spec(tmp_path)

    assert check_policies(preview_resources(spec), spec) == []


def test_a_campaign_over_its_budget_is_refused_naming_the_policy(tmp_path):
    def expensive(document: dict) -> None:
        document["budget"]["max_usd_per_hour"] = 1

    spec = example_spec(tmp_path, expensive)

    with pytest.raises(PoliciesViolated) as caught:
        enforce_policies(preview_resources(spec), spec)

    assert [v.policy for v in caught.value.violations] == ["stack-within-budget"]
    assert "stack-within-budget" in str(caught.value)
    assert "raise budget.max_usd_per_hour" in str(caught.value)


def test_pulumi_mocks_set_by_a_test_in_this_thread_are_not_disturbed(tmp_path):
    spec = example_spec(tmp_path)
    mine = OfflineMocks()
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mine, project="other", stack="mine", preview=False)

    preview_resources(spec)

    assert settings.SETTINGS.monitor.mocks is mine
    assert settings.get_project() == "other"
    assert mine.declared == []


def test_in_its_own_process_a_policy_refusal_keeps_its_kind_and_message(tmp_path):
    def expensive(document: dict) -> None:
        document["budget"]["max_usd_per_hour"] = 1

    spec = example_spec(tmp_path, expensive)

    with pytest.raises(PreviewRefused) as caught:
        check_in_own_process(spec)

    assert caught.value.kind == "PoliciesViolated"
    assert "stack-within-budget" in str(caught.value)
    assert exit_code_for(caught.value) == ExitCode.INVALID_INPUT
    check_in_own_process(example_spec(tmp_path))  # a good spec passes


def test_a_run_on_aws_never_loads_the_mocks_into_the_process_that_drives_pulumi(
    tmp_path,
):
    """`set_mocks` is process-wide: `run` previews in a child, never in itself."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from fmbench_orch.orchestrator.lifecycle import create_run\n"
        f"create_run(Path({str(EXAMPLE)!r}), Path({str(tmp_path / 'runs')!r}))\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('pulumi'))\n"
        "print(loaded)\n"
    )
    env = {**os.environ, "FMBENCH_OPERATOR_CIDR": "203.0.113.7/32"}

    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert list((tmp_path / "runs").glob("*/*/stack.json"))


def test_a_host_pinned_to_a_later_zone_of_its_region_previews_offline(tmp_path):
    def in_zone_d(document: dict) -> None:
        document["hosts"][0]["availability_zone"] = "us-east-1d"

    spec = example_spec(tmp_path, in_zone_d)

    resources = preview_resources(spec)

    assert sum(r["type"] == "aws:ec2/instance:Instance" for r in resources) == 2
