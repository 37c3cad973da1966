"""FMBench's all_metrics_summary.csv read into rows, metrics and clear failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fmbench_orch.models.fmbench_results import (
    SUMMARY_CSV,
    FmbenchResultsError,
    find_results_dirs,
    flatten_metrics,
    read_results,
    read_summary,
    summary_verdict,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fmbench_results"
WITH_TTFT = FIXTURES / "good-with-ttft" / "results-llama3-8b-g6e-2xl"
WITHOUT_TTFT = FIXTURES / "good-without-ttft" / "results-llama3-8b-g5-2xl"
TTFT_EMPTY = FIXTURES / "ttft-empty" / "results-llama3-8b-g6e-4xl"


def test_every_row_is_read_keyed_by_experiment_payload_and_concurrency():
    rows = read_results(WITH_TTFT).rows

    keys = [(r.experiment_name, r.payload_file, r.concurrency) for r in rows]
    assert keys == [
        ("llama3-8b-g6e-2xl-vllm", "payload_en_1-500.jsonl", 1),
        ("llama3-8b-g6e-2xl-vllm", "payload_en_1-500.jsonl", 2),
        ("llama3-8b-g6e-2xl-vllm", "payload_en_1-500.jsonl", 4),
        ("llama3-8b-g6e-2xl-vllm", "payload_en_1-500.jsonl", 8),
        ("llama3-8b-g6e-2xl-vllm", "payload_en_1-500.jsonl", 16),
        ("llama3-8b-g6e-2xl-vllm", "payload_en_500-1000.jsonl", 1),
        ("llama3-8b-g6e-2xl-vllm", "payload_en_500-1000.jsonl", 2),
    ]
    assert rows[2].latency_p95 == 1.9
    assert rows[2].transactions_per_minute == 150.0
    assert rows[2].ttft_p50 == 0.08
    assert rows[2].tokens_per_transaction == 400.0
    assert rows[2].instance_type == "g6e.2xlarge"


def test_a_summary_without_ttft_columns_reads_with_ttft_as_none():
    rows = read_results(WITHOUT_TTFT).rows

    assert len(rows) == 2
    assert all(r.ttft_p50 is None and r.tpot_p99 is None for r in rows)
    assert rows[1].latency_p95 == 1.8


def test_empty_ttft_cells_and_a_fully_failed_level_read_as_none_not_zero():
    rows = read_results(TTFT_EMPTY).rows

    assert rows[0].ttft_p50 is None
    failed = rows[1]
    assert failed.error_rate == 1.0
    assert failed.latency_p95 is None
    assert failed.transactions_per_minute == 0.0


def test_flattened_metrics_have_headlines_and_one_stable_key_per_row_metric():
    metrics = flatten_metrics(read_results(WITH_TTFT).rows)

    assert metrics["summary_rows"] == 7.0
    # the error-free row with the most transactions (concurrency 8: 180/min)
    assert metrics["max_transactions_per_minute"] == 180.0
    assert metrics["latency_p95_at_max_tpm"] == 2.6
    prefix = "llama3-8b-g6e-2xl-vllm/payload_en_1-500.jsonl/c4"
    assert metrics[f"{prefix}/latency_p95"] == 1.9
    assert metrics[f"{prefix}/transactions_per_minute"] == 150.0
    assert metrics[f"{prefix}/ttft_p50"] == 0.08
    assert all(isinstance(value, float) for value in metrics.values())


def test_metrics_a_row_lacks_have_no_key_rather_than_a_zero():
    metrics = flatten_metrics(read_results(WITHOUT_TTFT).rows)

    assert not any("ttft" in key or "tpot" in key for key in metrics)


def test_one_experiment_on_two_instance_types_keeps_both_rows_apart(tmp_path):
    summary = tmp_path / SUMMARY_CSV
    summary.write_text(
        "experiment_name,payload_file,instance_type,instance_count,concurrency,"
        "error_rate,latency_p95,transactions_per_minute\n"
        "e,p.jsonl,g5.xlarge,1,1,0,1.0,10\n"
        "e,p.jsonl,g6.xlarge,1,1,0,0.5,20\n"
    )

    metrics = flatten_metrics(read_summary(summary, "s.csv"))

    assert metrics["e@g5.xlargex1/p.jsonl/c1/transactions_per_minute"] == 10.0
    assert metrics["e@g6.xlargex1/p.jsonl/c1/transactions_per_minute"] == 20.0


@pytest.mark.parametrize(
    ("case", "problem", "line"),
    [
        ("malformed-missing-column", "missing column(s) latency_p95", None),
        ("malformed-not-a-number", "transactions_per_minute is 'fast'", 3),
        ("malformed-header-only", "holds a header but no rows", None),
        ("malformed-empty", "the file is empty", None),
        ("malformed-extra-cells", "more cells than the header", 2),
        ("missing-summary", "the file is missing", None),
    ],
)
def test_a_bad_summary_fails_the_benchmark_naming_the_file_and_the_fault(
    case, problem, line
):
    [results_dir] = find_results_dirs(FIXTURES / case)

    verdict = summary_verdict(results_dir)

    assert verdict.status == "failure"
    assert verdict.metrics == {}
    assert f"{case}/results-x/{SUMMARY_CSV}" in verdict.reason
    assert problem in verdict.reason
    assert "fmbench.log" in verdict.reason  # the next step
    if line is not None:
        assert f"line {line}" in verdict.reason


def test_a_good_summary_is_a_success_with_its_metrics():
    verdict = summary_verdict(WITH_TTFT)

    assert verdict.status == "success"
    assert verdict.reason is None
    assert verdict.metrics["summary_rows"] == 7.0


def test_the_verdict_unpacks_into_the_drivers_verdict():
    from fmbench_orch.orchestrator.drivers import Verdict

    verdict = Verdict(*summary_verdict(WITHOUT_TTFT))

    assert verdict.status == "success"
    assert verdict.metrics["max_transactions_per_minute"] == 50.0


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("e,p.jsonl,1.5,0,1.0,10", "concurrency is '1.5', expected a whole number"),
        ("e,p.jsonl,1,,1.0,10", "error_rate is empty"),
        (",p.jsonl,1,0,1.0,10", "experiment_name is empty"),
        ("e,p.jsonl,1,0,inf,10", "latency_p95 is 'inf', not finite"),
        ("e,p.jsonl,1,0,1.0", "fewer cells than the header"),
    ],
)
def test_each_malformed_cell_is_named_with_its_line(tmp_path, row, problem):
    summary = tmp_path / SUMMARY_CSV
    summary.write_text(
        "experiment_name,payload_file,concurrency,error_rate,latency_p95,"
        f"transactions_per_minute\ne,p.jsonl,2,0,1.0,10\n{row}\n"
    )

    with pytest.raises(FmbenchResultsError) as caught:
        read_summary(summary, "work/results-x/all_metrics_summary.csv")

    assert caught.value.line == 3
    assert problem in str(caught.value)
    assert caught.value.path == "work/results-x/all_metrics_summary.csv"


def test_a_repeated_row_is_refused_rather_than_silently_overwritten(tmp_path):
    summary = tmp_path / SUMMARY_CSV
    summary.write_text(
        "experiment_name,payload_file,concurrency,error_rate,latency_p95,"
        "transactions_per_minute\ne,p.jsonl,2,0,1.0,10\ne,p.jsonl,2,0,1.1,11\n"
    )

    with pytest.raises(FmbenchResultsError, match="repeats the row of line 2"):
        read_summary(summary, "s.csv")


def test_a_summary_that_is_not_utf8_is_refused_with_its_name(tmp_path):
    summary = tmp_path / SUMMARY_CSV
    summary.write_bytes(b"experiment_name\xff\n")

    with pytest.raises(FmbenchResultsError, match="is not UTF-8"):
        read_summary(summary, "s.csv")


def test_results_directories_are_found_under_work_but_stale_ones_are_not(tmp_path):
    shutil.copytree(WITH_TTFT, tmp_path / "work" / WITH_TTFT.name)
    (tmp_path / "work" / "stale-results-old.123").mkdir()

    found = find_results_dirs(tmp_path)

    assert [path.name for path in found] == [WITH_TTFT.name]
    assert read_results(found[0]).results_dir == f"work/{WITH_TTFT.name}"
