"""The report over real run directories: what a user reads in its files.

Run directories are made the way `run` makes them (see tests/fmbench_runs.py),
so costs can be checked by hand.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from fmbench_runs import (
    G5,
    G5_PRICE,
    G6E,
    G6E_PRICE,
    make_run,
    two_host_fmbench_run,
)

from fmbench_orch.orchestrator.errors import RunNotFound
from fmbench_orch.orchestrator.report import Settings, build_report, write_report
from fmbench_orch.orchestrator.report.markdown import render_pr_markdown


@pytest.fixture
def fmbench_run(tmp_path) -> Path:
    return two_host_fmbench_run(tmp_path)


def test_the_report_writes_markdown_csv_html_and_json_into_the_run(fmbench_run):
    written = write_report([fmbench_run], fmbench_run)

    assert written == fmbench_run / "report.md"
    for name in ("report.md", "report.csv", "report.html", "report.json"):
        assert (fmbench_run / name).stat().st_size > 0


def test_the_markdown_names_the_best_option_and_the_failed_benchmark(fmbench_run):
    markdown = write_report([fmbench_run], fmbench_run).read_text()

    assert (
        "**Best overall: g6e.2xlarge · llama3-8b-g6e-2xl-vllm · "
        "payload_en_1-500.jsonl · c4**" in markdown
    )
    assert "| g5-2xlarge | g5.2xlarge | sweep | command | **failure** | 1 |" in (
        markdown
    )
    assert "the command exited with status 3" in markdown
    assert "2 of 3 benchmark(s) succeeded." in markdown


def test_costs_per_host_compare_benchmark_time_with_the_hosts_life(fmbench_run):
    report = build_report([fmbench_run])

    costs = {cost.host: cost for cost in report.costs}
    # provisioning started at +0 s, teardown ended at +1,800 s: half an hour
    assert costs[G6E].lifetime_s == 1800
    assert costs[G6E].accounted_usd == pytest.approx(G6E_PRICE / 2)
    # the g6e host benchmarked for 900 s: a quarter of an hour
    assert costs[G6E].estimated_usd == pytest.approx(G6E_PRICE / 4)
    # the g5 host: 600 s + 5 s of benchmarks
    assert costs[G5].estimated_usd == pytest.approx(G5_PRICE * 605 / 3600)
    assert costs[G5].accounted_usd == pytest.approx(G5_PRICE / 2)
    # plan: 30 min bootstrap allowance + 3,600 s + the sweep's default timeout
    assert costs[G6E].worst_case_usd == pytest.approx(G6E_PRICE * 1.5)
    assert costs[G6E].accounted_from == "event log: provisioning → teardown"


def test_fmbench_rows_come_from_the_harvested_artifacts_priced_by_host(fmbench_run):
    report = build_report([fmbench_run], Settings(latency_p95_s=2.0))

    selected = [(p.host, p.payload_file, p.concurrency) for p in report.selected_points]
    assert selected == [
        (G6E, "payload_en_1-500.jsonl", 4),
        (G6E, "payload_en_500-1000.jsonl", 1),
        (G5, "payload_en_1-500.jsonl", 2),
    ]
    g5 = report.selected_points[2]
    # 1.212 $/h ÷ (50 txn/min × 60) per transaction
    assert g5.cost_per_txn_usd == pytest.approx(1.212 / 3000)
    assert report.best_overall.host == G6E
    assert [p.instance_type for p in report.best_per_instance_type] == [
        "g6e.2xlarge",
        "g5.2xlarge",
    ]


def test_the_csv_has_one_priced_row_per_summary_row_with_the_filters_verdict(
    fmbench_run,
):
    write_report([fmbench_run], fmbench_run)

    rows = list(csv.DictReader(io.StringIO((fmbench_run / "report.csv").read_text())))
    assert len(rows) == 7 + 2
    c8 = next(r for r in rows if r["host"] == G6E and r["concurrency"] == "8")
    assert c8["within_threshold"] == "no"
    assert c8["rejected_because"] == "p95 2.6 s > 2 s"
    c4 = next(
        r
        for r in rows
        if r["concurrency"] == "4" and r["payload_file"] == "payload_en_1-500.jsonl"
    )
    assert c4["selected"] == "yes"
    assert float(c4["cost_per_txn_usd"]) == pytest.approx(G6E_PRICE / 9000)


def test_the_html_opens_offline_with_its_charts_drawn_inline(fmbench_run):
    write_report([fmbench_run], fmbench_run)
    html = (fmbench_run / "report.html").read_text()

    assert re.search(r"https?://", html) is None
    for outside in ("<script", "<link", "<img", "<iframe", "@import", "url("):
        assert outside not in html
    assert all(
        ref.startswith("#") for ref in re.findall(r'(?:href|src)="([^"]*)"', html)
    )
    assert html.count("<svg") >= 3
    assert "Throughput vs cost" in html
    assert "p95 latency vs concurrency per instance type" in html
    assert "USD per hour to serve each request rate" in html


def test_the_json_document_carries_every_section_for_scripts(fmbench_run):
    write_report([fmbench_run], fmbench_run)
    document = json.loads((fmbench_run / "report.json").read_text())

    assert document["schema_version"] == 1
    assert document["best_overall"]["concurrency"] == 4
    assert len(document["request_rates"]) == 3 * 5
    assert document["benchmarks"][2]["reason"] == "the command exited with status 3"
    assert "bs4_seq256_tokens_per_s" in document["sweep_convention"]


def test_an_unreadable_summary_of_a_successful_benchmark_is_listed_not_fatal(
    tmp_path,
):
    run = make_run(
        tmp_path,
        "2612031200bb",
        {
            (G6E, "llama"): {"fixture": "malformed-not-a-number"},
            (G5, "llama"): {"fixture": "good-without-ttft"},
        },
    )

    report = build_report([run])

    [problem] = report.problems
    assert problem.host == G6E
    assert "transactions_per_minute is 'fast'" in problem.reason
    assert problem.file.endswith("results-x/all_metrics_summary.csv")
    assert [p.host for p in report.selected_points] == [G5]
    assert "Problems reading the runs" in write_report([run], run).read_text()


def test_a_result_file_that_is_not_json_is_a_problem_and_the_rest_stands(
    fmbench_run,
):
    (fmbench_run / "results" / G5 / "sweep.json").write_text("{not json")

    report = build_report([fmbench_run])

    assert [b.benchmark for b in report.benchmarks] == ["llama", "llama"]
    assert report.problems[0].file == f"results/{G5}/sweep.json"


def test_a_folder_that_is_not_a_run_is_refused_with_the_next_step(tmp_path):
    with pytest.raises(RunNotFound, match="runs/<campaign>/<run-id>"):
        build_report([tmp_path])


def sweep_run(root: Path, run_id: str, tokens_per_s: float) -> Path:
    return make_run(
        root,
        run_id,
        {
            (G5, "sweep"): {
                "metrics": {
                    "bs1_seq64_latency_p50_s": 0.01,
                    "bs1_seq64_tokens_per_s": tokens_per_s,
                    "bs4_seq64_latency_p50_s": 0.02,
                    "bs4_seq64_tokens_per_s": 2 * tokens_per_s,
                    "score": 1.5,
                }
            }
        },
    )


def test_a_command_sweep_is_shown_per_host_with_its_convention(tmp_path):
    run = sweep_run(tmp_path, "2612031200cc", 100.0)

    report = build_report([run])
    markdown = write_report([run], run).read_text()

    coordinates = [p.coordinates for p in report.sweep_points]
    assert coordinates == [{"bs": 1, "seq": 64}, {"bs": 4, "seq": 64}, {}]
    assert report.sweep_points[2].metrics == {"score": 1.5}
    # 1.212 $/h ÷ (100 tok/s × 3.6k tok/h per tok/s)
    assert report.sweep_points[0].cost_per_1k_tokens_usd == pytest.approx(1.212 / 360)
    assert "| batch size | sequence length | latency_p50_s | tokens_per_s |" in (
        markdown
    )
    assert "`<name><integer>_` tokens is a point of a sweep" in markdown


def test_several_runs_are_compared_side_by_side_with_their_spread(tmp_path):
    first = sweep_run(tmp_path, "2612031200dd", 100.0)
    second = sweep_run(tmp_path, "2612031300ee", 300.0)

    report = build_report([first, second])
    markdown = write_report([first, second], tmp_path / "out").read_text()

    spread = next(
        s
        for s in report.spreads
        if s.metric == "tokens_per_s" and s.point == "bs=1 seq=64"
    )
    assert (spread.count, spread.mean, spread.minimum, spread.maximum) == (
        2, 200.0, 100.0, 300.0,
    )  # fmt: skip
    # sample stdev of 100 and 300 is 141.42; over a mean of 200: 70.7 %
    assert spread.cv_percent == pytest.approx(70.71, abs=0.01)
    assert "## Comparison across runs" in markdown
    assert "| g5.2xlarge | sweep | 200 tok/s" in markdown
    assert "## Run-to-run spread" in markdown


def test_a_pr_comment_fits_in_sixty_kilobytes_however_large_the_campaign(tmp_path):
    metrics = {
        f"bs{b}_seq{s}_{name}": float(b * s)
        for b in range(1, 500)
        for s in (64, 128, 256, 512, 1024)
        for name in ("latency_p50_s", "tokens_per_s")
    }
    run = make_run(tmp_path, "2612031200ff", {(G5, "sweep"): {"metrics": metrics}})
    report = build_report([run])

    comment = render_pr_markdown(report)

    assert len(comment.encode()) <= 60_000
    assert "more row(s); see report.csv" in comment
    assert "## Benchmarks" in comment


def test_telemetry_beside_a_benchmark_is_charted_and_idle_gpus_flagged(fmbench_run):
    telemetry = fmbench_run / "artifacts" / G6E / "llama" / "telemetry"
    telemetry.mkdir()
    lines = ["timestamp,index,utilization_gpu_percent,memory_used_mib"]
    lines += [
        f"2026/12/03 12:01:{s:02d}.000, 0, {0 if s < 40 else 95}, 900"
        for s in range(60)
    ]
    (telemetry / "gpu.csv").write_text("\n".join(lines) + "\n")
    host = ["epoch_s,cpu_percent,memory_used_mib"]
    host += [f"{1796817660 + s},{20 + s},{4000 + 10 * s}" for s in range(60)]
    (telemetry / "host.csv").write_text("\n".join(host) + "\n")

    write_report([fmbench_run], fmbench_run)
    markdown = (fmbench_run / "report.md").read_text()
    html = (fmbench_run / "report.html").read_text()

    assert "**Idle GPUs** for half the time or more: g6e-2xlarge · llama." in markdown
    assert "| g6e-2xlarge | llama | 1 | 60 s | 31.7 % | 40 s | 66.7 % |" in markdown
    assert "GPU utilization over each benchmark" in html
    assert "Host CPU utilization over each benchmark" in html
    assert "Host and GPU memory in use over each benchmark" in html
    assert "g6e-2xlarge · llama · GPUs" in html


def test_the_end_of_a_run_gets_its_report_or_a_warning_never_an_error(
    fmbench_run, tmp_path, caplog
):
    from fmbench_orch.orchestrator.report import write_run_report

    assert write_run_report(fmbench_run) == fmbench_run / "report.md"

    assert write_run_report(tmp_path / "gone") is None
    assert f"fmbench-orch report {tmp_path / 'gone'}" in caplog.text
