"""`secrets:` in a campaign: where a secret is read from, compiled for every host."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fmbench_orch.models.compile import (
    HF_TOKEN_REMOTE,
    StackValues,
    compile_campaign,
)
from fmbench_orch.models.errors import ConfigError
from fmbench_orch.models.loader import load_campaign

VALUES = StackValues(
    run_id="ab12cd34ef56",
    created_at=datetime(2025, 9, 1, 12, tzinfo=UTC),
    operator="alice",
)
TOKEN = "hf_ThisIsTheValueThatMustNotLeak"

CAMPAIGN = """\
name: gated
provider: local
secrets:
  hf_token: {source}
hosts:
  - name: gpu
    count: 2
    instance_type: g5.xlarge
    upload_files: [{{local: campaign.yml, remote: /tmp/fmbench-read/configs/c.yml}}]
    benchmarks: [{{driver: command, run: "true"}}]
"""


def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "campaign.yml"
    path.write_text(CAMPAIGN.format(source=source))
    return path


def test_a_token_from_the_environment_reaches_every_host_as_a_secret_upload(
    tmp_path: Path,
) -> None:
    campaign = load_campaign(
        write(tmp_path, "{env: HF_TOKEN}"), environ={"HF_TOKEN": TOKEN}
    )

    spec = compile_campaign(campaign, VALUES)

    for host in spec.hosts:
        secret = host.uploads[0]
        assert (secret.env, secret.local, secret.remote, secret.secret) == (
            "HF_TOKEN",
            None,
            HF_TOKEN_REMOTE,
            True,
        )
        assert host.uploads[1].remote == "/tmp/fmbench-read/configs/c.yml"
    assert HF_TOKEN_REMOTE == "/tmp/fmbench-read/scripts/hf_token.txt"


def test_the_compiled_spec_names_where_the_token_is_never_the_token(
    tmp_path: Path,
) -> None:
    campaign = load_campaign(
        write(tmp_path, "{env: HF_TOKEN}"), environ={"HF_TOKEN": TOKEN}
    )

    text = compile_campaign(campaign, VALUES).model_dump_json()

    assert TOKEN not in text
    assert '"env":"HF_TOKEN"' in text


def test_a_token_file_is_resolved_from_home_and_kept_as_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".hf_token").write_text(TOKEN)

    campaign = load_campaign(write(tmp_path, "{file: ~/.hf_token}"), environ={})
    spec = compile_campaign(campaign, VALUES)

    assert spec.hosts[0].uploads[0].local == tmp_path / ".hf_token"
    assert TOKEN not in spec.model_dump_json()


def test_plan_style_loading_without_the_operators_files_skips_the_env_check(
    tmp_path: Path,
) -> None:
    campaign = load_campaign(
        write(tmp_path, "{env: HF_TOKEN}"), environ={}, check_paths=False
    )

    assert campaign.secrets is not None
    assert campaign.secrets.hf_token is not None
    assert campaign.secrets.hf_token.env == "HF_TOKEN"


def test_an_odd_variable_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_campaign(write(tmp_path, "{env: 'HF TOKEN'}"), environ={})

    assert "not an environment variable name" in str(caught.value)


def test_a_campaign_without_secrets_uploads_none(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yml"
    path.write_text(
        CAMPAIGN.format(source="{env: X}").replace(
            "secrets:\n  hf_token: {env: X}\n", ""
        )
    )

    spec = compile_campaign(load_campaign(path, environ={}), VALUES)

    assert [upload.secret for upload in spec.hosts[0].uploads] == [False]
