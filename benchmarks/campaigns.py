"""Campaign files the benchmarks generate: what a user could have written.

- `overhead_campaign`: N local hosts, one command benchmark each whose run
  writes its own start and end timestamps (`date +%s.%N`) into its results,
  so the harvest brings back when the payload really ended.
- `longhand_campaign`: N AWS hosts written out one by one (no `count:`),
  mixing instance types and both drivers — the worst case for the loader.
"""

from __future__ import annotations

from pathlib import Path

import yaml

# Cheapest catalog type: the local provider only uses it for the price column.
LOCAL_INSTANCE_TYPE = "m5.large"
# The benchmark's own deadline: far beyond any payload the suite uses.
PAYLOAD_TIMEOUT_S = 3600
# Where the payload leaves its timestamps (relative to its working directory).
RESULTS_DIR = "results"
BEGAN_FILE = "began"
ENDED_FILE = "ended"
# Instance types priced in us-east-1, alternated across longhand hosts.
MIXED_INSTANCE_TYPES = (
    "g6e.2xlarge",
    "g6e.4xlarge",
    "g5.2xlarge",
    "g4dn.xlarge",
    "m5.large",
    "c5.large",
)
FMBENCH_CONFIG = "fmbench:llama3/8b/config-ec2-llama3-8b-g6e-2xlarge.yml"


def payload_command(seconds: float) -> str:
    results = RESULTS_DIR
    return (
        f"mkdir -p {results}; date +%s.%N > {results}/{BEGAN_FILE}; "
        f"sleep {seconds:g}; date +%s.%N > {results}/{ENDED_FILE}"
    )


def overhead_campaign(path: Path, hosts: int, payload_seconds: float) -> Path:
    document = {
        "name": f"bench-overhead-{hosts}",
        "description": "fmbench-orch benchmarks: orchestration overhead",
        "provider": "local",
        "region": "us-east-1",
        "ttl": "1h",
        "hosts": [
            {
                "name": "h",
                "instance_type": LOCAL_INSTANCE_TYPE,
                "count": hosts,
                "benchmarks": [
                    {
                        "name": "payload",
                        "driver": "command",
                        "run": payload_command(payload_seconds),
                        "results": RESULTS_DIR,
                        "timeout_seconds": PAYLOAD_TIMEOUT_S,
                    }
                ],
            }
        ],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def longhand_campaign(path: Path, hosts: int, name: str = "bench-config") -> Path:
    """An AWS campaign of `hosts` hosts, each its own entry with one benchmark."""
    entries = []
    for index in range(hosts):
        instance_type = MIXED_INSTANCE_TYPES[index % len(MIXED_INSTANCE_TYPES)]
        if index % 2:
            benchmark = {
                "driver": "command",
                "run": f"python3 bench.py --batch {1 + index % 16}",
                "results": "results",
                "metrics": "metrics.json",
            }
        else:
            benchmark = {"driver": "fmbench", "config": FMBENCH_CONFIG}
        entries.append(
            {
                "name": f"host-{index:04d}",
                "instance_type": instance_type,
                "region": "us-east-1" if index % 3 else "us-west-2",
                "storage": {"size_gib": 100 + index % 50},
                "benchmarks": [benchmark],
            }
        )
    document = {
        "name": name,
        "description": f"fmbench-orch benchmarks: {hosts} hosts written longhand",
        "provider": "aws",
        "region": "us-east-1",
        "ttl": "6h",
        "tags": {"team": "perf"},
        "defaults": {"storage": {"volume_type": "gp3"}},
        "hosts": entries,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
