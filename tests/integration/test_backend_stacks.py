"""Stacks a lost run left in the Pulumi backend: found from their checkpoints.

Checkpoints are written in the self-managed backends' own layout — a folder
for `file://`, a moto bucket on 127.0.0.1 for `s3://` — the way the Pulumi
CLI leaves them. The CLI itself cannot run here: where `pulumi stack rm`
is called, a stand-in on PATH records its arguments and does what the real
one does to a checkpoint (deletes it).
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from fmbench_orch.models.compile import TAG_CAMPAIGN, TAG_RUN, TAG_TTL
from fmbench_orch.orchestrator import backend_stacks
from fmbench_orch.orchestrator.aws_leftovers import boto_clients
from fmbench_orch.orchestrator.backend_stacks import due_stacks, list_stacks
from fmbench_orch.orchestrator.cli import cli
from fmbench_orch.orchestrator.commands.reap import reap

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
EXPIRED_RUN, FRESH_RUN = "2612010900ab", "2612031100cd"


def checkpoint(stack: str, tags: dict[str, str] | None) -> bytes:
    """A stack's checkpoint as the CLI writes it: the stack, a provider, a host."""
    resources = [
        {"urn": f"urn:pulumi:{stack}::x::pulumi:pulumi:Stack::x-{stack}",
         "type": "pulumi:pulumi:Stack"},
        {"urn": f"urn:pulumi:{stack}::x::pulumi:providers:aws::default",
         "type": "pulumi:providers:aws"},
    ]  # fmt: skip
    if tags is not None:
        resources.append(
            {
                "urn": f"urn:pulumi:{stack}::x::aws:ec2/instance:Instance::h",
                "type": "aws:ec2/instance:Instance",
                "inputs": {"tags": tags},
                "outputs": {"tagsAll": {**tags, "Name": "h"}},
            }
        )
    document = {
        "version": 3,
        "checkpoint": {"stack": stack, "latest": {"resources": resources}},
    }
    return json.dumps(document).encode()


def ours(run: str, ttl: datetime) -> dict[str, str]:
    return {
        TAG_CAMPAIGN: "llama",
        TAG_RUN: run,
        TAG_TTL: ttl.isoformat(timespec="seconds"),
    }


def write_file_backend(root: Path, now: datetime = NOW) -> str:
    folder = root / ".pulumi" / "stacks" / backend_stacks.PROJECT
    folder.mkdir(parents=True)
    expired = f"llama-{EXPIRED_RUN}"
    (folder / f"{expired}.json").write_bytes(
        checkpoint(expired, ours(EXPIRED_RUN, now - timedelta(days=1)))
    )
    fresh = f"llama-{FRESH_RUN}"
    (folder / f"{fresh}.json.gz").write_bytes(
        gzip.compress(checkpoint(fresh, ours(FRESH_RUN, now + timedelta(hours=5))))
    )
    (folder / "team-sandbox.json").write_bytes(
        checkpoint("team-sandbox", {"team": "perf"})
    )
    (folder / f"{expired}.json.bak").write_bytes(b"not a checkpoint")
    return f"file://{root}"


def test_a_file_backend_gives_its_stacks_and_only_ours_past_their_ttl_are_due(
    tmp_path,
):
    backend = write_file_backend(tmp_path / "state")

    stacks, note = list_stacks(backend, boto_clients())
    due = due_stacks(stacks, registered=set(), now=NOW, older_than=None)

    assert note == ""
    assert sorted(s.name for s in stacks) == [
        f"llama-{EXPIRED_RUN}",
        f"llama-{FRESH_RUN}",
        "team-sandbox",
    ]
    assert {s.name: s.resources for s in stacks}[f"llama-{EXPIRED_RUN}"] == 1
    assert [s.name for s in due] == [f"llama-{EXPIRED_RUN}"]
    # A live run's stack is its provisioner's to tear down, not the reaper's.
    assert due_stacks(stacks, {f"llama-{EXPIRED_RUN}"}, NOW, None) == []
    # --older-than takes fresh ones of ours too, never someone else's.
    older = due_stacks(stacks, set(), NOW, timedelta(hours=1))
    assert sorted(s.name for s in older) == [
        f"llama-{EXPIRED_RUN}",
        f"llama-{FRESH_RUN}",
    ]


def test_an_s3_backend_is_read_the_same_way(aws: str):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="team-state")
    name = f"llama-{EXPIRED_RUN}"
    key = f"pulumi/.pulumi/stacks/{backend_stacks.PROJECT}/{name}.json.gz"
    body = gzip.compress(checkpoint(name, ours(EXPIRED_RUN, NOW - timedelta(days=1))))
    s3.put_object(Bucket="team-state", Key=key, Body=body)

    stacks, note = list_stacks("s3://team-state/pulumi", boto_clients())

    assert note == ""
    assert [(s.name, s.run_id) for s in stacks] == [(name, EXPIRED_RUN)]


def test_pulumi_cloud_is_not_listed_and_says_where_to_look():
    stacks, note = list_stacks("https://api.pulumi.com", boto_clients())

    assert stacks == []
    assert "pulumi stack ls" in note


@pytest.fixture
def fake_pulumi(tmp_path, monkeypatch) -> Path:
    """A `pulumi` on PATH whose `stack rm` deletes the stack's checkpoint."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "pulumi-calls"
    script = bin_dir / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$PULUMI_BACKEND_URL $*" >> {calls}\n'
        'root="${PULUMI_BACKEND_URL#file://}"\n'
        'name="${5##*/}"\n'
        f'dir="$root/.pulumi/stacks/{backend_stacks.PROJECT}"\n'
        'rm -f "$dir/$name.json" "$dir/$name.json.gz"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return calls


def run_reap(*args: str):
    cli.add_command(reap)  # the same command `fmbench-orch reap` runs
    return CliRunner().invoke(cli, ["reap", *args], catch_exceptions=False)


def test_reap_lists_then_removes_the_expired_stack_and_leaves_the_rest(
    tmp_path, monkeypatch, fake_pulumi
):
    backend = write_file_backend(tmp_path / "state", datetime.now(UTC))
    monkeypatch.setenv("PULUMI_BACKEND_URL", backend)
    folder = tmp_path / "state" / ".pulumi" / "stacks" / backend_stacks.PROJECT

    listed = run_reap("--dry-run")
    removed = run_reap()

    assert listed.exit_code == 0, listed.output
    assert f"stack          llama-{EXPIRED_RUN}  run {EXPIRED_RUN}" in listed.output
    assert "team-sandbox" not in listed.output
    assert removed.exit_code == 0, removed.output
    assert fake_pulumi.read_text().split() == [
        backend,
        "stack",
        "rm",
        "--force",
        "--yes",
        f"organization/{backend_stacks.PROJECT}/llama-{EXPIRED_RUN}",
    ]
    assert sorted(p.name for p in folder.iterdir()) == [
        f"llama-{EXPIRED_RUN}.json.bak",
        f"llama-{FRESH_RUN}.json.gz",
        "team-sandbox.json",
    ]


def test_without_the_cli_the_stack_is_named_with_the_command_that_removes_it(
    tmp_path, monkeypatch
):
    backend = write_file_backend(tmp_path / "state", datetime.now(UTC))
    monkeypatch.setenv("PULUMI_BACKEND_URL", backend)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))

    done = run_reap()

    assert done.exit_code != 0
    assert "the Pulumi CLI is not on PATH" in done.output
    assert "pulumi stack rm --force --yes organization/" in done.output
