"""A small, real inference-shaped workload for the offline quickstart.

For every batch size × sequence length it times `FMBENCH_NUM_ITERATIONS`
forward passes of a two-layer MLP over a (batch × sequence, width) activation
and writes the latencies (results/sweep.csv) and a flat metrics JSON
(metrics.json) the `command` driver reads. Uses numpy when the host has it,
plain Python (with a narrower model) when it does not.
"""

from __future__ import annotations

import csv
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path


def _ints(name: str, default: str) -> list[int]:
    return [int(item) for item in os.environ.get(name, default).split(",") if item]


def _forward_numpy(width: int):
    import numpy as np

    rng = np.random.default_rng(0)
    first = rng.standard_normal((width, 4 * width), dtype=np.float32)
    second = rng.standard_normal((4 * width, width), dtype=np.float32)

    def forward(tokens: int) -> None:
        activations = rng.standard_normal((tokens, width), dtype=np.float32)
        np.maximum(activations @ first, 0) @ second

    return forward


def _forward_python(width: int):
    rng = random.Random(0)
    weights = [[rng.random() for _ in range(width)] for _ in range(width)]

    def forward(tokens: int) -> None:
        for _ in range(tokens):
            row = [rng.random() for _ in range(width)]
            [sum(a * b for a, b in zip(row, column, strict=True)) for column in weights]

    return forward


def main() -> int:
    batch_sizes = _ints("FMBENCH_BATCH_SIZES", "1,4")
    sequence_lengths = _ints("FMBENCH_SEQUENCE_LENGTHS", "64,256")
    iterations = int(os.environ.get("FMBENCH_NUM_ITERATIONS", "5"))
    try:
        forward, width, engine = _forward_numpy(256), 256, "numpy"
    except ImportError:
        forward, width, engine = _forward_python(16), 16, "python"
    results = Path("results")
    results.mkdir(exist_ok=True)
    metrics: dict[str, float] = {}
    rows = []
    for batch in batch_sizes:
        for sequence in sequence_lengths:
            tokens = batch * sequence
            latencies = []
            for _ in range(iterations):
                start = time.perf_counter()
                forward(tokens)
                latencies.append(time.perf_counter() - start)
            p50 = statistics.median(latencies)
            key = f"bs{batch}_seq{sequence}"
            metrics[f"{key}_latency_p50_s"] = p50
            metrics[f"{key}_tokens_per_s"] = tokens / p50
            rows.append(
                [batch, sequence, iterations, p50, max(latencies), tokens / p50]
            )
            print(f"batch={batch} seq={sequence} p50={p50 * 1000:.2f} ms", flush=True)
    with (results / "sweep.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "batch_size",
                "sequence_length",
                "iterations",
                "latency_p50_s",
                "latency_max_s",
                "tokens_per_s",
            ]
        )
        writer.writerows(rows)
    (results / "engine.txt").write_text(f"{engine} width={width}\n")
    Path("metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"done: {len(rows)} points with {engine}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
