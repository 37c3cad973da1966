"""Durations as people write them: 90s, 45m, 6h, 2d, 1h30m."""

from datetime import timedelta

import pytest

from fmbench_orch.models.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("45m", timedelta(minutes=45)),
        ("6h", timedelta(hours=6)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("1.5h", timedelta(minutes=90)),
        (" 6H ", timedelta(hours=6)),
        (600, timedelta(minutes=10)),
        (2.5, timedelta(seconds=2.5)),
        (timedelta(hours=1), timedelta(hours=1)),
    ],
)
def test_a_duration_is_read_as_written(written: object, expected: timedelta) -> None:
    assert parse_duration(written) == expected


@pytest.mark.parametrize(
    "written", ["", "6", "six hours", "6 h", "6h 30m", "h6", "6w", "-6h", True, None]
)
def test_anything_else_is_refused_with_examples_of_the_format(written: object) -> None:
    with pytest.raises(
        ValueError, match=r"is not a duration; write e\.g\. 90m, 6h or 2d"
    ):
        parse_duration(written)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(hours=6), "6h"),
        (timedelta(days=7), "7d"),
        (timedelta(days=1, seconds=1), "1d1s"),
    ],
)
def test_a_duration_is_shown_in_the_same_words(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


@pytest.mark.parametrize("text", ["45m", "6h", "2d", "1h30m", "1d2h3m4s"])
def test_what_is_shown_reads_back_as_the_same_duration(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
