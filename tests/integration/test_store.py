"""The S3 run store against moto's server on 127.0.0.1: upload, skip, harvest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from fmbench_orch.models.compile import StackValues, compile_campaign
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.orchestrator.rundir import RunDirectory
from fmbench_orch.orchestrator.store import (
    INDEX_NAME,
    SHA256_METADATA,
    StoredRunNotFound,
    StoreError,
    harvest_run,
    s3_client,
    upload_run,
)

BUCKET = "team-benchmarks"
RUN_ID = "2612031200ab"
CAMPAIGN = """\
name: stored
provider: local
region: us-east-1
hosts:
  - instance_type: g5.xlarge
    benchmarks: [{name: sweep, driver: command, run: "true"}]
"""
AWS_CAMPAIGN = """\
name: stored-aws
provider: aws
region: us-east-1
hosts:
  - instance_type: g5.xlarge
    benchmarks: [{name: sweep, driver: command, run: "true"}]
"""


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch) -> Iterator:
    """A fresh bucket; the store's own client finds moto through the environment."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def make_run(root: Path, campaign: str = CAMPAIGN) -> Path:
    campaign_file = root / "campaign.yml"
    campaign_file.write_text(campaign)
    values = StackValues(
        run_id=RUN_ID,
        created_at=datetime(2026, 12, 3, 12, tzinfo=UTC),
        operator="tester",
        operator_cidr="127.0.0.1/32",
    )
    spec = compile_campaign(load_campaign(campaign_file), values)
    directory = RunDirectory.create(root / "runs", spec.campaign, RUN_ID)
    directory.save_stack(campaign_file, values, spec)
    host = spec.hosts[0]
    result = BenchmarkResult(
        host=host.name,
        instance_type=host.instance_type,
        region=host.region,
        price_per_hour=host.price_per_hour,
        benchmark="sweep",
        driver="command",
        status="success",
        exit_code=0,
    )
    directory.save_result(result)
    artifacts = directory.layout.artifacts(host.name, "sweep")
    (artifacts / "work").mkdir(parents=True)
    (artifacts / "work" / "big.bin").write_bytes(bytes(range(256)) * 40_000)
    (artifacts / "output.log").write_text("done\n")
    (directory.path / "keys").mkdir()
    (directory.path / "keys" / "id_ed25519").write_text("PRIVATE KEY\n")
    return directory.path


def stored_keys(client) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def tree(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def test_a_run_goes_up_skips_everything_the_second_time_and_comes_back_whole(
    s3, tmp_path
):
    run = make_run(tmp_path)
    prefix = f"nightly/stored/{RUN_ID}"

    first = upload_run(run, f"s3://{BUCKET}/nightly")
    second = upload_run(run, f"s3://{BUCKET}/nightly/")
    back = harvest_run(f"s3://{BUCKET}/{prefix}", tmp_path / "back")

    local = {k: v for k, v in tree(run).items() if not k.startswith("keys/")}
    assert first.transferred == len(local)
    assert first.url == f"s3://{BUCKET}/{prefix}"
    assert (second.transferred, second.skipped) == (0, len(local))
    assert stored_keys(s3) == {f"{prefix}/{k}" for k in local} | {
        f"{prefix}/{INDEX_NAME}"
    }
    assert back.complete
    assert tree(tmp_path / "back") == local
    assert RunDirectory.open(tmp_path / "back").load_spec().run_id == RUN_ID


def test_the_private_key_never_leaves_the_operators_machine(s3, tmp_path):
    upload_run(make_run(tmp_path), f"s3://{BUCKET}/nightly")

    assert not any("/keys/" in key for key in stored_keys(s3))


def test_every_object_carries_its_sha256_and_the_index_lists_every_file(s3, tmp_path):
    run = make_run(tmp_path)
    upload_run(run, f"s3://{BUCKET}")
    key = f"stored/{RUN_ID}/stack.json"

    head = s3.head_object(Bucket=BUCKET, Key=key)
    index = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"stored/{RUN_ID}/{INDEX_NAME}")["Body"].read()
    )

    digest = hashlib.sha256((run / "stack.json").read_bytes()).hexdigest()
    assert head["Metadata"][SHA256_METADATA] == digest
    assert index["files"]["stack.json"] == {
        "sha256": digest,
        "size": (run / "stack.json").stat().st_size,
    }
    assert index["run_id"] == RUN_ID


def test_an_interrupted_upload_resumes_with_only_what_is_missing_or_changed(
    s3, tmp_path
):
    run = make_run(tmp_path)
    upload_run(run, f"s3://{BUCKET}/nightly")
    prefix = f"nightly/stored/{RUN_ID}"
    s3.delete_object(Bucket=BUCKET, Key=f"{prefix}/manifest.json")  # never sent
    s3.delete_object(Bucket=BUCKET, Key=f"{prefix}/{INDEX_NAME}")
    (run / "manifest.json").write_text("{}\n")
    (run / "events.jsonl").write_text('{"phase": "teardown"}\n')  # changed since

    again = upload_run(run, f"s3://{BUCKET}/nightly")

    assert again.transferred == 2
    stored = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/events.jsonl")["Body"].read()
    assert stored == b'{"phase": "teardown"}\n'


def test_a_harvest_resumes_and_fetches_only_files_it_lacks_or_that_differ(s3, tmp_path):
    run = make_run(tmp_path)
    upload_run(run, f"s3://{BUCKET}")
    url = f"s3://{BUCKET}/stored/{RUN_ID}"
    back = tmp_path / "back"
    harvest_run(url, back)
    (back / "stack.json").unlink()
    log = back / "artifacts" / "g5-xlarge" / "sweep" / "output.log"
    log.write_text("tampered")

    again = harvest_run(url, back)

    assert again.transferred == 2
    assert tree(back) == {k: v for k, v in tree(run).items() if "keys/" not in k}


def test_a_run_whose_upload_was_cut_short_harvests_as_incomplete(s3, tmp_path):
    upload_run(make_run(tmp_path), f"s3://{BUCKET}")
    s3.delete_object(Bucket=BUCKET, Key=f"stored/{RUN_ID}/{INDEX_NAME}")

    back = harvest_run(f"s3://{BUCKET}/stored/{RUN_ID}", tmp_path / "back")

    assert back.complete is False
    assert "incomplete" in str(back)


def test_harvesting_a_run_that_is_not_stored_says_where_to_look(s3, tmp_path):
    with pytest.raises(StoredRunNotFound) as caught:
        harvest_run(f"s3://{BUCKET}/stored/2612039999zz", tmp_path / "back")

    assert f"aws s3 ls s3://{BUCKET}/stored/" in str(caught.value)
    assert caught.value.exit_code == 7


def test_a_missing_bucket_is_named_with_the_fix(s3, tmp_path):
    with pytest.raises(StoreError, match="bucket does not exist"):
        upload_run(make_run(tmp_path), "s3://no-such-bucket/x")


def test_the_campaigns_drop_zone_bucket_is_refused_as_a_store(s3, tmp_path):
    run = make_run(tmp_path, AWS_CAMPAIGN)
    drop_zone = RunDirectory.open(run).load_spec().bucket.name

    with pytest.raises(StoreError, match="drop-zone bucket"):
        upload_run(run, f"s3://{drop_zone}/keep")

    assert stored_keys(s3) == set()


@pytest.mark.parametrize(
    "url", ["team-benchmarks/x", "s3://", "s3:///x", "s3://b/../x", "https://b/x"]
)
def test_a_url_that_is_not_s3_bucket_and_prefix_is_refused(s3, tmp_path, url):
    with pytest.raises(StoreError, match="s3://bucket/prefix"):
        upload_run(make_run(tmp_path), url)


def test_a_url_that_is_not_one_runs_folder_cannot_be_harvested(s3, tmp_path):
    with pytest.raises(StoreError, match="<campaign>/<run-id>"):
        harvest_run(f"s3://{BUCKET}/stored", tmp_path / "back")


def test_the_client_honours_aws_endpoint_url(s3, s3_endpoint):
    assert s3_client().meta.endpoint_url == s3_endpoint


def test_the_harvest_command_brings_a_stored_run_into_the_runs_folder(
    s3, tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from fmbench_orch.orchestrator.cli import cli
    from fmbench_orch.orchestrator.commands.results import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)
    upload_run(make_run(tmp_path), f"s3://{BUCKET}/nightly")
    monkeypatch.chdir(tmp_path)

    url = f"s3://{BUCKET}/nightly/stored/{RUN_ID}"
    done = CliRunner().invoke(cli, ["harvest", "--from", url, "--runs-dir", "back"])
    missing = CliRunner().invoke(cli, ["harvest", "--from", f"{url}x"])

    assert done.exit_code == 0, done.output
    assert f"harvested from {url} into back/stored/{RUN_ID}" in done.output
    assert RunDirectory.open(tmp_path / "back" / "stored" / RUN_ID)
    assert missing.exit_code == 7
    assert "nothing is stored at" in missing.output


def test_run_with_store_then_harvest_from_round_trips_a_real_run(s3, tmp_path):
    """`run --store` and `harvest --from` as a user types them, each a process."""
    import json
    import os
    import subprocess
    import sys

    campaign = tmp_path / "campaign.yml"
    campaign.write_text(
        CAMPAIGN.replace(
            '[{name: sweep, driver: command, run: "true"}]',
            '[{name: sweep, driver: command, run: "mkdir -p results && '
            'echo 42 > results/answer.txt"}]',
        )
    )
    cli = [sys.executable, "-m", "fmbench_orch.orchestrator"]
    store = f"s3://{BUCKET}/nightly"

    done = subprocess.run(
        [*cli, "run", str(campaign), "--json", "--store", store, "--runs-dir", "runs"],
        cwd=tmp_path,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    run_dir = Path(summary["run_dir"])
    url = f"{store}/stored/{summary['run_id']}"
    back = subprocess.run(
        [*cli, "harvest", "--from", url, "--to", str(tmp_path / "back")],
        cwd=tmp_path,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert back.returncode == 0, back.stderr
    here = {
        p.relative_to(run_dir): p.read_bytes()
        for p in run_dir.rglob("*")
        if p.is_file() and "keys" not in p.relative_to(run_dir).parts
    }
    there = {
        p.relative_to(tmp_path / "back"): p.read_bytes()
        for p in (tmp_path / "back").rglob("*")
        if p.is_file() and p.name != INDEX_NAME
    }
    assert there == here
    [answer] = [path for path in there if path.name == "answer.txt"]
    assert there[answer] == b"42\n"
    assert "keys" not in {part for path in there for part in path.parts}
