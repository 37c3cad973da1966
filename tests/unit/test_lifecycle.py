"""Creating a run: its id is one no other run of the campaign has."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmbench_orch.orchestrator import lifecycle
from fmbench_orch.orchestrator.errors import RunDirectoryTaken

CAMPAIGN = """\
name: ids
provider: local
hosts:
  - instance_type: g5.xlarge
    benchmarks: [{driver: command, run: "true"}]
"""


def test_a_run_id_another_run_of_the_campaign_has_is_drawn_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    campaign = tmp_path / "campaign.yml"
    campaign.write_text(CAMPAIGN)
    (tmp_path / "runs" / "ids" / "2612031200aa").mkdir(parents=True)
    drawn = iter(["2612031200aa", "2612031200aa", "2612031200bb"])
    monkeypatch.setattr(lifecycle, "new_run_id", lambda now: next(drawn))

    run_dir, spec = lifecycle.create_run(campaign, tmp_path / "runs")

    assert spec.run_id == "2612031200bb"
    assert run_dir.path == (tmp_path / "runs" / "ids" / "2612031200bb").resolve()


def test_when_every_draw_is_taken_the_error_says_to_wait_a_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    campaign = tmp_path / "campaign.yml"
    campaign.write_text(CAMPAIGN)
    (tmp_path / "runs" / "ids" / "2612031200aa").mkdir(parents=True)
    monkeypatch.setattr(lifecycle, "new_run_id", lambda now: "2612031200aa")

    with pytest.raises(RunDirectoryTaken, match="wait a minute and run again"):
        lifecycle.create_run(campaign, tmp_path / "runs")
