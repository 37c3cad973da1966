"""Known secrets never reach a log record, whoever logs them and however."""

from __future__ import annotations

import logging
import secrets

import pytest

from fmbench_orch.orchestrator import redaction

log = logging.getLogger("fmbench_orch.tests.redaction")


@pytest.fixture
def token() -> str:
    value = f"hf_{secrets.token_urlsafe(24)}"
    redaction.install()
    redaction.remember(value)
    return value


def test_a_remembered_secret_is_redacted_from_messages_and_their_arguments(
    token: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        log.info("token is %s", token)
        log.warning(f"inline {token} too")

    assert token not in caplog.text
    assert caplog.messages == [
        f"token is {redaction.REDACTED}",
        f"inline {redaction.REDACTED} too",
    ]


def test_a_secret_inside_an_exception_is_redacted_from_its_traceback(
    token: str, caplog: pytest.LogCaptureFixture
) -> None:
    try:
        raise RuntimeError(f"upload failed for {token}")
    except RuntimeError:
        log.exception("while uploading")

    assert token not in caplog.text
    assert "RuntimeError: upload failed for [redacted]" in caplog.text


def test_records_of_other_libraries_are_redacted_too(
    token: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="paramiko.transport"):
        logging.getLogger("paramiko.transport").debug("sent %r", token.encode())

    assert token not in caplog.text


def test_each_line_of_a_multi_line_secret_is_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = secrets.token_hex(8), secrets.token_hex(8)
    redaction.install()
    redaction.remember(f"{first}\n{second}\n")

    log.warning("got %s only", second)

    assert second not in caplog.text


def test_short_values_are_left_alone_so_logs_stay_readable() -> None:
    redaction.remember("yes")

    assert redaction.redact("yes, done") == "yes, done"


def test_a_filter_on_one_handler_redacts_what_that_handler_writes(
    token: str,
) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (token,), None)

    redaction.RedactSecrets().filter(record)

    assert record.getMessage() == redaction.REDACTED


def test_installing_twice_wraps_the_record_factory_once() -> None:
    redaction.install()
    factory = logging.getLogRecordFactory()

    redaction.install()

    assert logging.getLogRecordFactory() is factory


def test_a_secret_split_anywhere_across_pieces_is_masked_byte_for_byte(
    token: str,
) -> None:
    data = f"before {token} middle {token}\nafter".encode()

    for cut in range(1, len(data)):
        mask = redaction.StreamMask()
        out = mask.feed(data[:cut]) + mask.feed(data[cut:]) + mask.flush()

        assert len(out) == len(data)
        assert token.encode() not in out
        assert out.startswith(b"before ") and out.endswith(b"\nafter")


def test_with_no_secret_known_pieces_pass_through_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redaction, "_known", set())
    mask = redaction.StreamMask()

    assert mask.feed(b"abc") == b"abc"
    assert mask.flush() == b""
