"""FMBench's results, read from a harvested `results-<name>/` directory.

FMBench summarizes every experiment × payload file × concurrency level in
`all_metrics_summary.csv`. This module reads every row of it into
`SummaryRow`s (the report reads them straight from the artifacts) and
flattens them into the `dict[str, float]` a `BenchmarkResult` carries.

A file that is missing or malformed raises `FmbenchResultsError`, which names
the file and what is wrong with it; nothing is ever read as a silent zero.
Latencies are seconds. TTFT/TPOT columns may be absent or empty: only
streaming endpoints fill them, and they read as None.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from fmbench_orch.models.results import BenchmarkStatus

SUMMARY_CSV = "all_metrics_summary.csv"
RESULTS_DIR_GLOB = "results-*"

# The columns a row is keyed by, and the ones the analysis cannot do without
# (the latency filter, the error filter and every cost figure need them).
KEY_COLUMNS = ("experiment_name", "payload_file", "concurrency")
REQUIRED_COLUMNS = (
    *KEY_COLUMNS,
    "error_rate",
    "latency_p95",
    "transactions_per_minute",
)
# Read when present; an absent column or an empty cell reads as None (the
# instance columns: the host's type, one instance).
INSTANCE_COLUMNS = ("instance_type", "instance_count")
OPTIONAL_METRIC_COLUMNS = (
    "prompt_token_count_mean",
    "prompt_token_throughput",
    "completion_token_count_mean",
    "completion_token_throughput",
    "latency_p50",
    "latency_p99",
    "TTFT_p50",
    "TTFT_p99",
    "TPOT_p50",
    "TPOT_p99",
)
# Metrics every row has (the flattened keys use these names, lower case).
_NUMBER_FIELDS = (
    "error_rate",
    "prompt_token_count_mean",
    "prompt_token_throughput",
    "completion_token_count_mean",
    "completion_token_throughput",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "ttft_p50",
    "ttft_p99",
    "tpot_p50",
    "tpot_p99",
    "transactions_per_minute",
)
# pandas writes a missing number as an empty cell, or as one of these words.
_MISSING_WORDS = frozenset({"", "nan", "none", "null", "na", "n/a"})
_NEXT_STEP = (
    "see the benchmark's work/fmbench.log: FMBench writes this file when its "
    "metrics step completes"
)


class FmbenchResultsError(ValueError):
    """A results directory or summary file that cannot be read.

    `path` is the file as a user finds it among the artifacts, `problem` what
    is wrong, `line` the CSV line (1 is the header) when one row is to blame.
    """

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        where = f"{path} line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}; {_NEXT_STEP}")


class SummaryRow(BaseModel):
    """One experiment × payload file × concurrency level of a summary file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment_name: str
    payload_file: str
    concurrency: int
    instance_type: str | None = None
    instance_count: int = 1
    error_rate: float
    latency_p95: float | None
    transactions_per_minute: float
    latency_p50: float | None = None
    latency_p99: float | None = None
    prompt_token_count_mean: float | None = None
    prompt_token_throughput: float | None = None
    completion_token_count_mean: float | None = None
    completion_token_throughput: float | None = None
    ttft_p50: float | None = None
    ttft_p99: float | None = None
    tpot_p50: float | None = None
    tpot_p99: float | None = None

    @property
    def tokens_per_transaction(self) -> float | None:
        """Prompt plus completion tokens of a mean request, when both are known."""
        if self.prompt_token_count_mean is None:
            return None
        if self.completion_token_count_mean is None:
            return None
        return self.prompt_token_count_mean + self.completion_token_count_mean


class FmbenchResults(BaseModel):
    """Every row of one results directory's summary, in file order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    results_dir: str
    summary_file: str
    rows: tuple[SummaryRow, ...]


class SummaryVerdict(NamedTuple):
    """What the fmbench driver's verdict needs: `Verdict(*summary_verdict(...))`."""

    status: BenchmarkStatus
    reason: str | None
    metrics: dict[str, float]


def find_results_dirs(artifacts: Path) -> list[Path]:
    """`results-*` directories among a benchmark's artifacts (any depth ≤ 2)."""
    found = [
        *artifacts.glob(RESULTS_DIR_GLOB),
        *artifacts.glob(f"*/{RESULTS_DIR_GLOB}"),
    ]
    return sorted(path for path in found if path.is_dir())


def read_results(results_dir: Path, shown: str | None = None) -> FmbenchResults:
    """The summary of `results_dir`; `shown` is how messages name the directory."""
    shown = shown or _shown(results_dir)
    rows = read_summary(results_dir / SUMMARY_CSV, f"{shown}/{SUMMARY_CSV}")
    return FmbenchResults(
        results_dir=shown, summary_file=f"{shown}/{SUMMARY_CSV}", rows=tuple(rows)
    )


def read_summary(path: Path, shown: str) -> list[SummaryRow]:
    """Every row of an `all_metrics_summary.csv`; raises FmbenchResultsError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FmbenchResultsError(shown, "the file is missing") from None
    except IsADirectoryError:
        raise FmbenchResultsError(shown, "is a directory, not a CSV file") from None
    except UnicodeDecodeError as exc:
        raise FmbenchResultsError(shown, f"is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise FmbenchResultsError(shown, f"cannot be read ({exc.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        raise FmbenchResultsError(shown, "the file is empty (no header row)")
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise FmbenchResultsError(
            shown, f"missing column(s) {', '.join(missing)} (found {', '.join(header)})"
        )
    reader.fieldnames = header
    rows: list[SummaryRow] = []
    first_line: dict[tuple, int] = {}
    for line, record in _numbered(reader):
        row = _row(record, shown, line)
        key = (
            row.experiment_name,
            row.payload_file,
            row.concurrency,
            row.instance_type,
            row.instance_count,
        )
        if key in first_line:
            raise FmbenchResultsError(
                shown, f"repeats the row of line {first_line[key]}", line
            )
        first_line[key] = line
        rows.append(row)
    if not rows:
        raise FmbenchResultsError(shown, "holds a header but no rows")
    return rows


def summary_verdict(results_dir: Path) -> SummaryVerdict:
    """Success with flattened metrics, or failure naming the file and problem."""
    try:
        results = read_results(results_dir)
    except FmbenchResultsError as exc:
        return SummaryVerdict("failure", str(exc), {})
    return SummaryVerdict("success", None, flatten_metrics(results.rows))


def flatten_metrics(rows: Sequence[SummaryRow]) -> dict[str, float]:
    """Headline numbers, then one key per row and metric.

    Headlines: `summary_rows`, and among error-free rows the best
    `max_transactions_per_minute` with its `latency_p95_at_max_tpm`. Row keys
    read `<experiment>/<payload file>/c<concurrency>/<metric>` (a `/` inside a
    name becomes `_`); when one experiment ran on several instance types or
    counts, its segment reads `<experiment>@<instance type>x<count>`. Metrics a
    row lacks (TTFT on a non-streaming endpoint) have no key.
    """
    metrics = {"summary_rows": float(len(rows))}
    clean = [row for row in rows if row.error_rate == 0]
    if clean:
        best = max(clean, key=lambda row: row.transactions_per_minute)
        metrics["max_transactions_per_minute"] = best.transactions_per_minute
        if best.latency_p95 is not None:
            metrics["latency_p95_at_max_tpm"] = best.latency_p95
    shared = _experiments_on_several_instances(rows)
    for row in rows:
        experiment = _segment(row.experiment_name)
        if row.experiment_name in shared:
            experiment += f"@{row.instance_type}x{row.instance_count}"
        prefix = f"{experiment}/{_segment(row.payload_file)}/c{row.concurrency}"
        for name in _NUMBER_FIELDS:
            value = getattr(row, name)
            if value is not None:
                metrics[f"{prefix}/{name}"] = value
    return metrics


def _experiments_on_several_instances(rows: Iterable[SummaryRow]) -> set[str]:
    seen: dict[str, set[tuple[str | None, int]]] = {}
    for row in rows:
        instances = seen.setdefault(row.experiment_name, set())
        instances.add((row.instance_type, row.instance_count))
    return {name for name, instances in seen.items() if len(instances) > 1}


def _segment(name: str) -> str:
    return name.replace("/", "_")


def _shown(results_dir: Path) -> str:
    """`work/results-x` for a harvested directory: the part a user recognises."""
    return f"{results_dir.parent.name}/{results_dir.name}"


def _numbered(reader: csv.DictReader) -> Iterable[tuple[int, dict]]:
    for record in reader:
        yield reader.line_num, record


def _row(record: dict[str, str | None], shown: str, line: int) -> SummaryRow:
    if None in record:
        raise FmbenchResultsError(shown, "has more cells than the header", line)
    if None in record.values():
        raise FmbenchResultsError(shown, "has fewer cells than the header", line)
    cells = {key: (value or "").strip() for key, value in record.items()}
    for column in ("experiment_name", "payload_file"):
        if not cells[column]:
            raise FmbenchResultsError(shown, f"{column} is empty", line)
    values: dict[str, object] = {
        "experiment_name": cells["experiment_name"],
        "payload_file": cells["payload_file"],
        "concurrency": _integer(cells, "concurrency", shown, line),
        "error_rate": _required(cells, "error_rate", shown, line),
        "transactions_per_minute": _required(
            cells, "transactions_per_minute", shown, line
        ),
        # An experiment whose every request failed has no latencies at all.
        "latency_p95": _optional(cells, "latency_p95", shown, line),
    }
    if cells.get("instance_type"):
        values["instance_type"] = cells["instance_type"]
    if cells.get("instance_count"):
        values["instance_count"] = _integer(cells, "instance_count", shown, line)
    for column in OPTIONAL_METRIC_COLUMNS:
        values[column.lower()] = _optional(cells, column, shown, line)
    return SummaryRow.model_validate(values)


def _integer(cells: dict[str, str], column: str, shown: str, line: int) -> int:
    value = _required(cells, column, shown, line)
    if not value.is_integer() or value < 0:
        raise FmbenchResultsError(
            shown, f"{column} is {cells[column]!r}, expected a whole number", line
        )
    return int(value)


def _required(cells: dict[str, str], column: str, shown: str, line: int) -> float:
    value = _optional(cells, column, shown, line)
    if value is None:
        raise FmbenchResultsError(shown, f"{column} is empty", line)
    return value


def _optional(
    cells: dict[str, str], column: str, shown: str, line: int
) -> float | None:
    text = cells.get(column, "")
    if text.lower() in _MISSING_WORDS:
        return None
    try:
        value = float(text)
    except ValueError:
        raise FmbenchResultsError(
            shown, f"{column} is {text!r}, expected a number", line
        ) from None
    if math.isnan(value):
        return None
    if not math.isfinite(value):
        raise FmbenchResultsError(shown, f"{column} is {text!r}, not finite", line)
    return value
