"""The campaign file reference: generated from the models, committed, in sync."""

import subprocess
import sys
from pathlib import Path

from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.host import HostConfig
from fmbench_orch.models.reference import REGENERATE, render

REFERENCE = Path(__file__).parents[2] / "docs" / "campaign-reference.md"


def test_the_committed_reference_matches_the_models() -> None:
    committed = REFERENCE.read_text(encoding="utf-8")

    assert committed == render(), f"docs/campaign-reference.md is stale; {REGENERATE}"


def test_every_campaign_and_host_field_is_documented_with_its_path() -> None:
    text = render()

    for name in CampaignConfig.model_fields:
        assert f"| `{name}` |" in text
    for name in HostConfig.model_fields:
        assert f"| `hosts[].{name}` |" in text


def test_nested_models_get_their_own_sections() -> None:
    headings = [line for line in render().splitlines() if line.startswith("## ")]

    assert headings == [
        "## Top level",
        "## `budget`",
        "## `secrets`",
        "## `secrets.hf_token`",
        "## `permissions`",
        "## `permissions.statements[]`",
        "## `defaults`",
        "## `hosts[]`",
        "## `hosts[].storage`",
        "## `hosts[].network`",
        "## `hosts[].capacity`",
        "## `hosts[].fallbacks[]`",
        "## `hosts[].upload_files[]`",
        "## `hosts[].static`",
        "## `hosts[].benchmarks[]` with `driver: fmbench`",
        "## `hosts[].benchmarks[]` with `driver: command`",
    ]


def test_a_row_shows_type_bounds_default_and_description() -> None:
    text = render()

    assert (
        "| `hosts[].storage.size_gib` | integer, ≥ 8, ≤ 16384 | `250` | Size in GiB. |"
    ) in text
    assert "| `ttl` | duration | `6h` |" in text
    assert "| `hosts[].instance_type` | text | required |" in text
    assert "| `provider` | `local` or `aws` or `static` | `local` |" in text


def test_a_pipe_in_a_pattern_does_not_break_the_table() -> None:
    row = next(
        line for line in render().splitlines() if "`hosts[].static.host_key`" in line
    )

    assert row.count(" | ") == 3
    assert "ssh-ed25519\\|ecdsa" in row


def test_the_module_runs_and_prints_the_reference() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "fmbench_orch.models.reference"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert printed == render()
