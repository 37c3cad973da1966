"""The legacy analytics over FMBench summaries, with the same rules and sums.

Every summary row is priced from its host's hourly price. A row is kept when
its p95 latency is within the threshold, it had no errors and ran at
concurrency ≥ 1; of the kept rows, the highest concurrency per host ×
experiment × payload file is the one a deployment would run ("selected").

- cost per transaction = price per hour × instance count
  ÷ (transactions per minute × 60)
- cost per 1,000 tokens = price per hour × instance count
  ÷ (transactions per hour × tokens per transaction ÷ 1,000), where tokens
  per transaction = mean prompt tokens + mean completion tokens
- instances for a request rate = ⌈rate per minute ÷ transactions per
  minute⌉, and its cost = instances × price per hour × instance count.

The best option ranks selected rows by cost per 1,000 tokens (comparable
across payload files of different sizes), then cost per transaction, then
the higher throughput.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace

from fmbench_orch.models.fmbench_results import SummaryRow
from fmbench_orch.orchestrator.report.model import FmbenchPoint, RequestRateCost

SECONDS_PER_HOUR = 3600.0
MINUTES_PER_HOUR = 60.0
# A rate that is a whole multiple of a rounded throughput (100 ÷ 33.333333)
# must not ask for one instance more; nine digits keep every real case.
_RATIO_DIGITS = 9


def cost_per_transaction(
    price_per_hour: float, instance_count: int, transactions_per_minute: float
) -> float | None:
    if transactions_per_minute <= 0:
        return None
    transactions_per_hour = transactions_per_minute * MINUTES_PER_HOUR
    return price_per_hour * instance_count / transactions_per_hour


def cost_per_1k_tokens(
    price_per_hour: float,
    instance_count: int,
    transactions_per_minute: float,
    tokens_per_transaction: float | None,
) -> float | None:
    if transactions_per_minute <= 0 or not tokens_per_transaction:
        return None
    tokens_per_hour = (
        transactions_per_minute * MINUTES_PER_HOUR * tokens_per_transaction
    )
    return price_per_hour * instance_count / (tokens_per_hour / 1000)


def instances_for_rate(rate_per_minute: float, transactions_per_minute: float) -> int:
    """How many copies of a configuration serve `rate_per_minute` requests."""
    return max(
        1, math.ceil(round(rate_per_minute / transactions_per_minute, _RATIO_DIGITS))
    )


# Limitation: a row is priced at the hourly price of the host that ran
# FMBench — matters when a config benchmarks an endpoint elsewhere (SageMaker,
# Bedrock, `deploy: no`), whose price the catalog does not know.
def price_rows(
    rows: Iterable[SummaryRow],
    *,
    run_id: str,
    host: str,
    instance_type: str,
    price_per_hour: float,
    benchmark: str,
) -> list[FmbenchPoint]:
    """Each row as a point priced at its host's hourly price."""
    points = []
    for row in rows:
        tokens = row.tokens_per_transaction
        points.append(
            FmbenchPoint(
                run_id=run_id,
                host=host,
                instance_type=instance_type,
                price_per_hour=price_per_hour,
                benchmark=benchmark,
                experiment=row.experiment_name,
                payload_file=row.payload_file,
                concurrency=row.concurrency,
                instance_count=row.instance_count,
                error_rate=row.error_rate,
                latency_p50_s=row.latency_p50,
                latency_p95_s=row.latency_p95,
                latency_p99_s=row.latency_p99,
                ttft_p50_s=row.ttft_p50,
                tpot_p50_s=row.tpot_p50,
                transactions_per_minute=row.transactions_per_minute,
                tokens_per_transaction=tokens,
                cost_per_txn_usd=cost_per_transaction(
                    price_per_hour, row.instance_count, row.transactions_per_minute
                ),
                cost_per_1k_tokens_usd=cost_per_1k_tokens(
                    price_per_hour,
                    row.instance_count,
                    row.transactions_per_minute,
                    tokens,
                ),
            )
        )
    return points


def apply_legacy_filter(
    points: Sequence[FmbenchPoint], latency_p95_s: float
) -> list[FmbenchPoint]:
    """The points with `rejected_because` and `selected` filled in, same order."""
    judged = [
        replace(
            point, rejected_because=_rejection(point, latency_p95_s), selected=False
        )
        for point in points
    ]
    highest: dict[tuple[str, str, str, str, str], FmbenchPoint] = {}
    for point in judged:
        if point.rejected_because is not None:
            continue
        key = (
            point.run_id,
            point.host,
            point.benchmark,
            point.experiment,
            point.payload_file,
        )
        if key not in highest or point.concurrency > highest[key].concurrency:
            highest[key] = point
    chosen = {id(point) for point in highest.values()}
    return [replace(point, selected=id(point) in chosen) for point in judged]


def _rejection(point: FmbenchPoint, latency_p95_s: float) -> str | None:
    if point.concurrency < 1:
        return f"concurrency {point.concurrency} < 1"
    if point.error_rate != 0:
        return f"error rate {point.error_rate:g}"
    if point.latency_p95_s is None:
        return "no p95 latency"
    if point.latency_p95_s > latency_p95_s:
        return f"p95 {point.latency_p95_s:.3g} s > {latency_p95_s:g} s"
    if point.transactions_per_minute <= 0:
        return "no completed transactions"
    return None


def request_rate_costs(
    selected: Iterable[FmbenchPoint], rates_per_minute: Sequence[int]
) -> list[RequestRateCost]:
    """For each selected point and rate: instances needed and their USD per hour."""
    costs = []
    for point in selected:
        for rate in rates_per_minute:
            instances = instances_for_rate(rate, point.transactions_per_minute)
            costs.append(
                RequestRateCost(
                    run_id=point.run_id,
                    host=point.host,
                    instance_type=point.instance_type,
                    experiment=point.experiment,
                    payload_file=point.payload_file,
                    concurrency=point.concurrency,
                    rate_per_minute=rate,
                    instances=instances,
                    usd_per_hour=instances
                    * point.price_per_hour
                    * point.instance_count,
                )
            )
    return costs


def best_options(
    selected: Sequence[FmbenchPoint],
) -> tuple[FmbenchPoint | None, list[FmbenchPoint]]:
    """The cheapest selected point overall, and the cheapest of each instance type."""
    ranked = sorted(selected, key=_rank)
    per_type: dict[str, FmbenchPoint] = {}
    for point in ranked:
        per_type.setdefault(point.instance_type, point)
    return (ranked[0] if ranked else None), list(per_type.values())


def _rank(point: FmbenchPoint) -> tuple[bool, float, float, float]:
    per_token = point.cost_per_1k_tokens_usd
    per_txn = point.cost_per_txn_usd
    return (
        per_token is None,
        per_token if per_token is not None else 0.0,
        per_txn if per_txn is not None else math.inf,
        -point.transactions_per_minute,
    )
