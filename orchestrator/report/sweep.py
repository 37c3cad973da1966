"""Sweeps of `command` benchmarks, read from metric keys and harvested CSVs.

How sweeps are read: a metric key that starts with one
or more `<name><integer>_` tokens is a point of a sweep; the tokens are its
coordinates and the rest is the metric's name. `bs4_seq256_tokens_per_s` is
the metric `tokens_per_s` at batch size 4, sequence length 256. A coordinate
name is lower-case letters other than `p` (p50, p95 are percentiles). A key
that fits no sweep stays a plain metric.

A harvested CSV whose header names a coordinate (`batch_size`,
`sequence_length`, `concurrency`, or the short names) adds its other numeric
columns to the same points; the metrics file wins where both give a value.
Metric names ending in `_s` are seconds; `tokens_per_s` is throughput, and
prices a point at `price per hour ÷ (tokens per hour ÷ 1,000)`.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

# Long column names a CSV may use for a coordinate, by their short key name.
COORDINATE_ALIASES = {
    "batch_size": "bs",
    "sequence_length": "seq",
    "seq_len": "seq",
    "concurrency": "c",
}
# How a report names each short coordinate; others are shown as written.
COORDINATE_NAMES = {"bs": "batch size", "seq": "sequence length", "c": "concurrency"}
THROUGHPUT_METRIC = "tokens_per_s"
# The latency a sweep plot draws, by preference.
LATENCY_METRICS = ("latency_p50_s", "latency_p95_s", "latency_mean_s", "latency_s")
# A harvested CSV bigger than this is a data dump, not a sweep summary.
MAX_SWEEP_CSV_BYTES = 1_000_000

_TOKEN = re.compile(r"([a-oq-z][a-z]*|p[a-z]+)(\d+)_")

Coordinates = tuple[tuple[str, int], ...]


def split_key(key: str) -> tuple[Coordinates, str] | None:
    """`bs4_seq256_tokens_per_s` → ((("bs", 4), ("seq", 256)), "tokens_per_s")."""
    coordinates = []
    position = 0
    while match := _TOKEN.match(key, position):
        coordinates.append((match.group(1), int(match.group(2))))
        position = match.end()
    rest = key[position:]
    if not coordinates or not rest or not rest[0].isalpha():
        return None
    return canonical(coordinates), rest


def canonical(coordinates: Iterable[tuple[str, int]]) -> Coordinates:
    """Known coordinates first (batch size, sequence length, …), then by name."""
    order = list(COORDINATE_NAMES)
    return tuple(
        sorted(
            coordinates,
            key=lambda item: (
                order.index(item[0]) if item[0] in order else len(order),
                item[0],
            ),
        )
    )


def sweep_from_metrics(
    metrics: Mapping[str, float],
) -> dict[Coordinates, dict[str, float]]:
    """Points of the sweep the keys describe; empty when they describe none.

    Keys count as a sweep only when at least two points share one metric
    name, so a lone `gpu0_temperature` is not mistaken for one.
    """
    points: dict[Coordinates, dict[str, float]] = {}
    for key, value in metrics.items():
        split = split_key(key)
        if split is not None:
            coordinates, name = split
            points.setdefault(coordinates, {})[name] = value
    names: dict[str, int] = {}
    for values in points.values():
        for name in values:
            names[name] = names.get(name, 0) + 1
    if not any(count >= 2 for count in names.values()):
        return {}
    return points


def sweep_from_csv(path: Path) -> dict[Coordinates, dict[str, float]]:
    """Points of a CSV with coordinate columns; empty when it has none."""
    if path.stat().st_size > MAX_SWEEP_CSV_BYTES:
        return {}
    try:
        with path.open(newline="", encoding="utf-8") as lines:
            records = list(csv.DictReader(lines))
    except (UnicodeDecodeError, csv.Error):
        return {}
    if not records:
        return {}
    columns = list(records[0])
    coordinate_columns = {
        column: _coordinate_name(column)
        for column in columns
        if _coordinate_name(column) is not None
    }
    if not coordinate_columns:
        return {}
    points: dict[Coordinates, dict[str, float]] = {}
    for record in records:
        coordinates = _csv_coordinates(record, coordinate_columns)
        if coordinates is None:
            continue
        values = points.setdefault(coordinates, {})
        for column in columns:
            if column in coordinate_columns:
                continue
            number = _number(record.get(column))
            if number is not None:
                values[column] = number
    return points


def benchmark_sweep(
    metrics: Mapping[str, float], artifacts: Path
) -> dict[Coordinates, dict[str, float]]:
    """The sweep of one benchmark: its metric keys merged over its CSVs."""
    merged: dict[Coordinates, dict[str, float]] = {}
    for path in sorted(artifacts.rglob("*.csv")) if artifacts.is_dir() else []:
        for coordinates, values in sweep_from_csv(path).items():
            merged.setdefault(coordinates, {}).update(values)
    for coordinates, values in sweep_from_metrics(metrics).items():
        merged.setdefault(coordinates, {}).update(values)
    return dict(sorted(merged.items()))


def coordinate_label(coordinates: Iterable[tuple[str, int]]) -> str:
    """`bs=4 seq=256`: how tables and plots name a point."""
    return " ".join(f"{name}={value}" for name, value in coordinates)


def latency_metric(names: Iterable[str]) -> str | None:
    available = set(names)
    for name in LATENCY_METRICS:
        if name in available:
            return name
    return next((name for name in sorted(available) if "latency" in name), None)


def cost_per_1k_tokens(
    price_per_hour: float, tokens_per_s: float | None
) -> float | None:
    if not tokens_per_s or tokens_per_s <= 0:
        return None
    return price_per_hour / (tokens_per_s * 3600 / 1000)


def _coordinate_name(column: str) -> str | None:
    name = column.strip().lower()
    if name in COORDINATE_ALIASES:
        return COORDINATE_ALIASES[name]
    if name in COORDINATE_NAMES:
        return name
    return None


def _csv_coordinates(
    record: Mapping[str, str | None], columns: Mapping[str, str]
) -> Coordinates | None:
    coordinates = []
    for column, name in columns.items():
        number = _number(record.get(column))
        if number is None or not number.is_integer():
            return None
        coordinates.append((name, int(number)))
    return canonical(coordinates)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None
