"""Run directories made the way `run` makes them, for the report's tests.

The campaign is compiled, results saved, artifacts put in place and an event
log written, with FMBench artifacts from tests/fixtures/fmbench_results, so
costs can be checked by hand.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fmbench_orch.models.compile import StackValues, compile_campaign
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.orchestrator.rundir import RunDirectory

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fmbench_results"
CREATED = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CAMPAIGN = """\
name: fm-compare
provider: local
region: us-east-1
hosts:
  - instance_type: g6e.2xlarge
    benchmarks:
      - name: llama
        driver: fmbench
        config: fmbench:llama3/8b/config-ec2-llama3-8b-g6e-2xlarge.yml
        timeout_seconds: 3600
  - instance_type: g5.2xlarge
    benchmarks:
      - name: llama
        driver: fmbench
        config: fmbench:llama3/8b/config-ec2-llama3-8b-g6e-2xlarge.yml
        timeout_seconds: 3600
      - {name: sweep, driver: command, run: "true", metrics: metrics.json}
"""
G6E, G5 = "g6e-2xlarge", "g5-2xlarge"
G6E_PRICE, G5_PRICE = 2.24208, 1.212  # the catalog's us-east-1 On-Demand prices


def make_run(root: Path, run_id: str, outcomes: dict, lifetime_s: float = 1800):
    """A run directory with `outcomes[(host, benchmark)]` = dict(status=…,
    fixture=…, metrics=…, reason=…, seconds=…); hosts live `lifetime_s`."""
    campaign_file = root / "campaign.yml"
    campaign_file.write_text(CAMPAIGN)
    values = StackValues(run_id=run_id, created_at=CREATED, operator="tester")
    spec = compile_campaign(load_campaign(campaign_file), values)
    directory = RunDirectory.create(root, spec.campaign, run_id)
    directory.save_stack(campaign_file, values, spec)
    started = CREATED + timedelta(seconds=60)
    results = []
    for (host, benchmark), outcome in outcomes.items():
        host_spec = spec.host(host)
        artifacts = directory.layout.artifacts(host, benchmark)
        artifacts.mkdir(parents=True)
        if outcome.get("fixture"):
            for results_dir in (FIXTURES / outcome["fixture"]).iterdir():
                shutil.copytree(results_dir, artifacts / "work" / results_dir.name)
        result = BenchmarkResult(
            host=host,
            instance_type=host_spec.instance_type,
            region=host_spec.region,
            price_per_hour=host_spec.price_per_hour,
            benchmark=benchmark,
            driver="fmbench" if benchmark == "llama" else "command",
            status=outcome.get("status", "success"),
            exit_code=0 if outcome.get("status", "success") == "success" else 1,
            reason=outcome.get("reason"),
            started_at=started,
            finished_at=started + timedelta(seconds=outcome.get("seconds", 900)),
            metrics=outcome.get("metrics", {}),
        )
        directory.save_result(result)
        results.append(result)
    directory.write_manifest(spec, results, "success", "complete")
    events = [
        {"time": CREATED + timedelta(seconds=30), "phase": "provision",
         "outcome": "ok", "duration": 30.0},
        {"time": CREATED + timedelta(seconds=lifetime_s), "phase": "teardown",
         "outcome": "ok", "duration": 20.0},
    ]  # fmt: skip
    (directory.path / "events.jsonl").write_text(
        "".join(
            json.dumps({**e, "time": e["time"].isoformat(), "host": None}) + "\n"
            for e in events
        )
    )
    return directory.path


def two_host_fmbench_run(root: Path) -> Path:
    """g6e and g5 benchmarked with FMBench; the g5's command sweep failed."""
    return make_run(
        root,
        "2612031200aa",
        {
            (G6E, "llama"): {"fixture": "good-with-ttft", "seconds": 900},
            (G5, "llama"): {"fixture": "good-without-ttft", "seconds": 600},
            (G5, "sweep"): {
                "status": "failure",
                "reason": "the command exited with status 3",
                "seconds": 5,
            },
        },
    )
