"""Reading a secret at upload time: from where the campaign says, or a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmbench_orch.models.spec import UploadSpec
from fmbench_orch.orchestrator import redaction
from fmbench_orch.orchestrator.secret_upload import (
    MAX_SECRET_BYTES,
    secret_value,
    writes_itself,
)
from fmbench_orch.orchestrator.ssh_errors import RemoteError

TARGET = "/tmp/fmbench-read/scripts/hf_token.txt"


def test_a_secret_from_the_environment_is_read_when_it_is_uploaded() -> None:
    item = UploadSpec(env="HF_TOKEN", remote=TARGET, secret=True)

    value = secret_value(item, "gpu", environ={"HF_TOKEN": "hf_fromtheenv123"})

    assert value == b"hf_fromtheenv123"
    assert redaction.redact("x hf_fromtheenv123") == f"x {redaction.REDACTED}"


def test_an_unset_variable_fails_the_upload_naming_it_and_the_next_step() -> None:
    item = UploadSpec(env="HF_TOKEN", remote=TARGET, secret=True)

    with pytest.raises(RemoteError) as caught:
        secret_value(item, "gpu", environ={})

    assert caught.value.phase == "upload"
    assert "environment variable HF_TOKEN is not set" in str(caught.value)
    assert "Export HF_TOKEN and resume the run" in str(caught.value)


def test_a_secret_from_a_file_is_read_whole(tmp_path: Path) -> None:
    token = tmp_path / "hf_token"
    token.write_text("hf_fromafile4567\n")
    item = UploadSpec(local=token, remote=TARGET, secret=True)

    assert secret_value(item, "gpu") == b"hf_fromafile4567\n"


def test_a_huge_file_is_refused_as_the_wrong_file(tmp_path: Path) -> None:
    token = tmp_path / "dataset.jsonl"
    token.write_bytes(b"x" * (MAX_SECRET_BYTES + 1))
    item = UploadSpec(local=token, remote=TARGET, secret=True)

    with pytest.raises(RemoteError, match="more than a secret"):
        secret_value(item, "gpu")


def test_an_unreadable_file_fails_the_upload_with_its_path(tmp_path: Path) -> None:
    item = UploadSpec(local=tmp_path / "gone", remote=TARGET, secret=True)

    with pytest.raises(RemoteError, match="cannot read the secret file"):
        secret_value(item, "gpu")


def test_secret_files_and_variables_are_written_by_the_secret_writer(
    tmp_path: Path,
) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")

    assert writes_itself(UploadSpec(env="T", remote="t", secret=True))
    assert writes_itself(UploadSpec(local=tmp_path / "file", remote="t", secret=True))
    assert not writes_itself(
        UploadSpec(local=tmp_path / "dir", remote="t", secret=True)
    )
    assert not writes_itself(UploadSpec(local=tmp_path / "file", remote="t"))


def test_an_upload_comes_from_a_file_or_a_variable_never_both() -> None:
    with pytest.raises(ValueError, match="exactly one of local or env"):
        UploadSpec(local=Path("a"), env="T", remote="t", secret=True)
    with pytest.raises(ValueError, match="is a secret"):
        UploadSpec(env="T", remote="t")
