"""The legacy analytics' filter, costs and request rates, checked by hand.

Every expected number below is worked out in its comment from the fixture
`good-with-ttft` (prompt 300 + completion 100 = 400 tokens per transaction
on payload_en_1-500, 700 + 100 = 800 on payload_en_500-1000) at 3.60 USD/h,
i.e. 0.001 USD per second.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fmbench_orch.models.fmbench_results import read_results
from fmbench_orch.orchestrator.report.fmbench_analysis import (
    apply_legacy_filter,
    best_options,
    cost_per_1k_tokens,
    cost_per_transaction,
    instances_for_rate,
    price_rows,
    request_rate_costs,
)
from fmbench_orch.orchestrator.report.model import REQUEST_RATES_PER_MINUTE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fmbench_results"
G6E = FIXTURES / "good-with-ttft" / "results-llama3-8b-g6e-2xl"
G5 = FIXTURES / "good-without-ttft" / "results-llama3-8b-g5-2xl"
SHORT = "payload_en_1-500.jsonl"
LONG = "payload_en_500-1000.jsonl"


def points(results_dir=G6E, price=3.6, instance_type="g6e.2xlarge", host="h1"):
    return price_rows(
        read_results(results_dir).rows,
        run_id="r1",
        host=host,
        instance_type=instance_type,
        price_per_hour=price,
        benchmark="llama",
    )


def by_key(items):
    return {(p.payload_file, p.concurrency): p for p in items}


def test_each_row_is_priced_per_transaction_and_per_thousand_tokens():
    priced = by_key(points())

    # 3.60 $/h ÷ (60 txn/min × 60) = 0.001 $/txn; ÷ (3,600 txn/h × 0.4k tok)
    assert priced[(SHORT, 1)].cost_per_txn_usd == pytest.approx(0.001)
    assert priced[(SHORT, 1)].cost_per_1k_tokens_usd == pytest.approx(0.0025)
    # 3.60 ÷ 6,000 = 0.0006; 3.60 ÷ (6,000 × 0.4) = 0.0015
    assert priced[(SHORT, 2)].cost_per_txn_usd == pytest.approx(0.0006)
    assert priced[(SHORT, 2)].cost_per_1k_tokens_usd == pytest.approx(0.0015)
    # 3.60 ÷ 9,000 = 0.0004; 3.60 ÷ (9,000 × 0.4) = 0.001
    assert priced[(SHORT, 4)].cost_per_txn_usd == pytest.approx(0.0004)
    assert priced[(SHORT, 4)].cost_per_1k_tokens_usd == pytest.approx(0.001)
    # 3.60 ÷ 2,400 = 0.0015; 3.60 ÷ (2,400 × 0.8) = 0.001875
    assert priced[(LONG, 1)].cost_per_txn_usd == pytest.approx(0.0015)
    assert priced[(LONG, 1)].cost_per_1k_tokens_usd == pytest.approx(0.001875)


def test_the_filter_keeps_fast_error_free_rows_and_says_why_it_drops_others():
    judged = by_key(apply_legacy_filter(points(), latency_p95_s=2.0))

    assert judged[(SHORT, 8)].rejected_because == "p95 2.6 s > 2 s"
    assert judged[(SHORT, 16)].rejected_because == "error rate 0.05"
    assert judged[(LONG, 2)].rejected_because == "p95 2.2 s > 2 s"
    kept = [key for key, p in judged.items() if p.rejected_because is None]
    assert kept == [(SHORT, 1), (SHORT, 2), (SHORT, 4), (LONG, 1)]


def test_the_highest_kept_concurrency_per_experiment_and_payload_is_selected():
    judged = apply_legacy_filter(points(), latency_p95_s=2.0)

    selected = [(p.payload_file, p.concurrency) for p in judged if p.selected]
    assert selected == [(SHORT, 4), (LONG, 1)]


def test_a_tighter_threshold_selects_lower_concurrency_or_nothing():
    judged = apply_legacy_filter(points(), latency_p95_s=1.0)

    selected = [(p.payload_file, p.concurrency) for p in judged if p.selected]
    # short: only c1 (p95 0.9) is within 1 s; long: c1 has p95 1.5
    assert selected == [(SHORT, 1)]


def test_concurrency_zero_and_missing_latency_are_left_out():
    base = points()[0]
    judged = apply_legacy_filter(
        [replace(base, concurrency=0), replace(base, latency_p95_s=None)], 2.0
    )

    assert judged[0].rejected_because == "concurrency 0 < 1"
    assert judged[1].rejected_because == "no p95 latency"
    assert not any(p.selected for p in judged)


def test_request_rates_need_whole_instances_and_cost_that_many_hours():
    selected = [p for p in apply_legacy_filter(points(), 2.0) if p.selected]

    costs = request_rate_costs(selected, REQUEST_RATES_PER_MINUTE)

    table = {(c.payload_file, c.rate_per_minute): c for c in costs}
    # short c4 serves 150/min: 1, 1, 1, ⌈1000/150⌉ = 7, ⌈10000/150⌉ = 67
    assert [table[(SHORT, r)].instances for r in REQUEST_RATES_PER_MINUTE] == [
        1, 1, 1, 7, 67,
    ]  # fmt: skip
    assert table[(SHORT, 1000)].usd_per_hour == pytest.approx(25.2)
    assert table[(SHORT, 10000)].usd_per_hour == pytest.approx(241.2)
    # long c1 serves 40/min: 1, 1, ⌈100/40⌉ = 3, 25, 250
    assert [table[(LONG, r)].instances for r in REQUEST_RATES_PER_MINUTE] == [
        1, 1, 3, 25, 250,
    ]  # fmt: skip
    assert table[(LONG, 100)].usd_per_hour == pytest.approx(10.8)
    assert table[(LONG, 10000)].usd_per_hour == pytest.approx(900.0)


def test_a_rate_that_a_rounded_throughput_divides_exactly_needs_no_extra_instance():
    assert instances_for_rate(100, 33.333333333) == 3
    assert instances_for_rate(100, 50.0) == 2
    assert instances_for_rate(1, 500.0) == 1


def test_several_instances_per_row_multiply_every_cost():
    assert cost_per_transaction(3.6, 2, 60) == pytest.approx(0.002)
    assert cost_per_1k_tokens(3.6, 2, 60, 400) == pytest.approx(0.005)
    assert cost_per_transaction(3.6, 1, 0) is None
    assert cost_per_1k_tokens(3.6, 1, 60, None) is None


def test_the_best_option_is_the_cheapest_per_token_overall_and_per_type():
    g6e = apply_legacy_filter(points(), 2.0)
    # g5 at 1.80 $/h, c2 at 50/min: 1.8 ÷ (3,000 × 0.4) = 0.0015 per 1k tokens
    g5 = apply_legacy_filter(
        points(G5, price=1.8, instance_type="g5.2xlarge", host="h2"), 2.0
    )
    selected = [p for p in [*g6e, *g5] if p.selected]

    best, per_type = best_options(selected)

    assert (best.instance_type, best.payload_file, best.concurrency) == (
        "g6e.2xlarge", SHORT, 4,
    )  # fmt: skip
    assert best.cost_per_1k_tokens_usd == pytest.approx(0.001)
    assert [(p.instance_type, p.concurrency) for p in per_type] == [
        ("g6e.2xlarge", 4),
        ("g5.2xlarge", 2),
    ]
    assert per_type[1].cost_per_1k_tokens_usd == pytest.approx(0.0015)


def test_no_selected_rows_means_no_best_option():
    assert best_options([]) == (None, [])
