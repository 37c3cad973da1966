"""The registry of live runs: listed before anything exists, unlisted after."""

from __future__ import annotations

import json
import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fmbench_orch.models.compile import StackValues, compile_campaign
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.registry import (
    forget_live,
    live_runs,
    record_live,
    registry_dir,
    render_live_runs,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FMBENCH_ORCH_HOME", str(home))
    return home


def spec_of(example: str, run_id: str = "2603011200ab") -> StackSpec:
    values = StackValues(
        run_id=run_id, created_at=CREATED, operator="alice", operator_cidr=None
    )
    return compile_campaign(load_campaign(EXAMPLES / example), values)


def test_a_recorded_run_is_listed_with_where_it_lives_and_what_it_costs(
    tmp_path: Path,
) -> None:
    spec = spec_of("ec2-llama3-8b-g6e.yml")

    record_live(tmp_path / "runs" / "x", spec)

    [run] = live_runs()
    assert run.stack_name == spec.stack_name == "llama3-8b-g6e-2603011200ab"
    assert run.provider == "aws"
    assert run.run_dir == (tmp_path / "runs" / "x").resolve()
    # A host's fallback region is where the run may also have created things.
    assert run.regions == ("us-east-1", "us-west-2")
    assert run.created_at == CREATED
    assert run.expires_at == spec.expires_at
    assert run.usd_per_hour == pytest.approx(spec.usd_per_hour)
    assert run.down_command == f"fmbench-orch down {run.run_dir}"


def test_the_entry_is_a_private_json_file_named_after_the_stack(
    tmp_path: Path, state_home: Path
) -> None:
    spec = spec_of("quickstart.yml")

    record_live(tmp_path, spec)

    entry = state_home / "live" / f"{spec.stack_name}.json"
    assert json.loads(entry.read_text())["finish_with"].startswith("fmbench-orch down")
    assert stat.S_IMODE(registry_dir().stat().st_mode) == 0o700


def test_forgetting_a_run_unlists_it_and_forgetting_twice_is_harmless(
    tmp_path: Path,
) -> None:
    spec = spec_of("quickstart.yml")
    record_live(tmp_path, spec)

    forget_live(spec)
    forget_live(spec)

    assert live_runs() == []


def test_local_runs_cost_nothing_whatever_their_labels_say(tmp_path: Path) -> None:
    spec = spec_of("quickstart.yml")

    record_live(tmp_path, spec)

    assert spec.usd_per_hour > 0
    assert live_runs()[0].usd_per_hour == 0.0


def test_spend_grows_with_age_and_stops_at_the_ttl(tmp_path: Path) -> None:
    spec = spec_of("ec2-llama3-8b-g6e.yml")
    run = record_live(tmp_path, spec)

    one_hour = run.spent_usd(CREATED + timedelta(hours=1))
    at_ttl = run.spent_usd(spec.expires_at)
    long_after = run.spent_usd(spec.expires_at + timedelta(days=2))

    assert one_hour == pytest.approx(spec.usd_per_hour)
    assert at_ttl == pytest.approx(spec.usd_per_hour * 3)
    assert long_after == at_ttl


def test_status_lists_age_ttl_left_spend_and_the_command_that_finishes_a_run(
    tmp_path: Path,
) -> None:
    aws = spec_of("ec2-llama3-8b-g6e.yml", run_id="2603011200ab")
    local = spec_of("quickstart.yml", run_id="2603011200cd")
    record_live(tmp_path / "aws", aws)
    record_live(tmp_path / "local", local)

    text = render_live_runs(live_runs(), now=CREATED + timedelta(minutes=90))

    aws_row = next(line for line in text.splitlines() if aws.stack_name in line)
    assert aws_row.split()[1:] == [
        "aws",
        "1h30m",
        "1h30m",
        f"{aws.usd_per_hour:.2f}",
        f"{aws.usd_per_hour * 1.5:.2f}",
    ]
    assert f"finish with `fmbench-orch down {(tmp_path / 'aws').resolve()}`" in text
    assert "2 live run(s)" in text


def test_a_run_past_its_ttl_is_shown_as_expired(tmp_path: Path) -> None:
    spec = spec_of("quickstart.yml")
    record_live(tmp_path, spec)

    text = render_live_runs(live_runs(), now=spec.expires_at + timedelta(minutes=1))

    assert "expired" in text.splitlines()[1]
    assert "expired: finish with" in text


def test_an_empty_registry_says_so() -> None:
    assert render_live_runs([]).startswith("no live runs")


def test_an_unreadable_entry_is_reported_and_the_rest_still_listed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record_live(tmp_path, spec_of("quickstart.yml"))
    (registry_dir() / "broken-1.json").write_text("{not json")

    with caplog.at_level(logging.WARNING):
        runs = live_runs()

    assert [run.campaign for run in runs] == ["quickstart"]
    assert "broken-1.json is unreadable" in caplog.text
