"""Host telemetry: the sampler beside a benchmark, and what the report reads."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from fmbench_orch.orchestrator.report.telemetry import read_telemetry
from fmbench_orch.orchestrator.telemetry import (
    GPU_COLUMNS,
    GPU_CSV,
    HOST_COLUMNS,
    HOST_CSV,
    TELEMETRY_DIR,
    with_telemetry,
)

# Stands in for nvidia-smi: two GPUs, one idle and one busy, every `-l` seconds.
FAKE_NVIDIA_SMI = """\
#!/bin/bash
interval=1
while [ $# -gt 0 ]; do [ "$1" = -l ] && interval=$2; shift; done
while true; do
  now=$(date '+%Y/%m/%d %H:%M:%S.000')
  echo "$now, 0, 0, 512"
  echo "$now, 1, 97, 20480"
  sleep "$interval"
done
"""


def sampler_processes(folder: Path) -> list[int]:
    """Pids still running the sampler, or the fake nvidia-smi beside `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        # Only this test's own processes: other runs on the machine have samplers too.
        if str(folder.parent).encode() in command or cwd.startswith(str(folder.parent)):
            found.append(int(entry.name))
    return found


@pytest.fixture
def benchmark_dir(tmp_path) -> Path:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    (tools / "nvidia-smi").chmod(0o755)
    work = tmp_path / "benchmark"
    work.mkdir()
    return work


def test_the_sampler_writes_gpu_and_host_csvs_and_stops_with_the_benchmark(
    benchmark_dir,
):
    script = benchmark_dir / "run.sh"
    script.write_text(with_telemetry("sleep 2.5\nexec true\n"))
    env = {**os.environ, "PATH": f"{benchmark_dir.parent / 'bin'}:{os.environ['PATH']}"}

    done = subprocess.run(
        ["bash", "./run.sh"], cwd=benchmark_dir, env=env, timeout=30, check=False
    )

    assert done.returncode == 0
    deadline = time.monotonic() + 5
    while sampler_processes(benchmark_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sampler_processes(benchmark_dir) == []
    gpu = (benchmark_dir / TELEMETRY_DIR / GPU_CSV).read_text().splitlines()
    host = (benchmark_dir / TELEMETRY_DIR / HOST_CSV).read_text().splitlines()
    assert gpu[0] == ",".join(GPU_COLUMNS)
    assert len(gpu) >= 3  # one sample of two GPUs at least
    assert host[0] == ",".join(HOST_COLUMNS)
    assert len(host) >= 2
    epoch, cpu, memory = host[1].split(",")
    assert abs(float(epoch) - time.time()) < 60
    assert 0 <= float(cpu) <= 100
    assert int(memory) > 0


def test_a_killed_benchmark_takes_its_sampler_with_it_within_a_second(
    benchmark_dir,
):
    (benchmark_dir / "run.sh").write_text(with_telemetry("exec sleep 60\n"))
    env = {**os.environ, "PATH": f"{benchmark_dir.parent / 'bin'}:{os.environ['PATH']}"}
    job = subprocess.Popen(["setsid", "bash", "./run.sh"], cwd=benchmark_dir, env=env)
    time.sleep(1.5)
    assert sampler_processes(benchmark_dir)

    os.killpg(job.pid, 9)  # what the runner does to a job past its deadline
    job.wait(timeout=10)

    deadline = time.monotonic() + 1.5
    while sampler_processes(benchmark_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sampler_processes(benchmark_dir) == []


def test_a_host_without_nvidia_smi_still_gets_cpu_and_memory(tmp_path):
    (tmp_path / "run.sh").write_text(with_telemetry("sleep 1.5\n"))

    subprocess.run(
        ["bash", "./run.sh"],
        cwd=tmp_path,
        env={**os.environ, "PATH": "/usr/bin:/bin"},
        timeout=30,
        check=True,
    )

    time.sleep(1.2)
    assert not (tmp_path / TELEMETRY_DIR / GPU_CSV).exists()
    assert (tmp_path / TELEMETRY_DIR / HOST_CSV).read_text().startswith("epoch_s")


def write_gpu_csv(folder: Path, utilizations: list[tuple[float, float]]) -> None:
    """One line per second and GPU: (GPU 0 %, GPU 1 %) per second."""
    start = datetime(2026, 12, 3, 12, 0, 0)
    lines = [",".join(GPU_COLUMNS)]
    for second, (first, other) in enumerate(utilizations):
        moment = (start + timedelta(seconds=second)).strftime("%Y/%m/%d %H:%M:%S.%f")
        lines += [
            f"{moment[:-3]}, 0, {first:g}, 1000",
            f"{moment[:-3]}, 1, {other:g}, 30000",
        ]
    lines.append("2026/12/03 12:00:59.000, 0, [N/A], [N/A]")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / GPU_CSV).write_text("\n".join(lines) + "\n")


def test_mostly_idle_gpus_are_flagged_with_their_idle_time(tmp_path):
    # 10 s on two GPUs: 14 of 20 samples under 5 % → 70 % idle, 7 s
    write_gpu_csv(tmp_path / TELEMETRY_DIR, [(0, 2)] * 7 + [(90, 80)] * 3)

    summary = read_telemetry(tmp_path, "r1", "h1", "llama")

    assert summary.gpus == 2
    assert summary.samples == 10
    assert summary.duration_s == 10
    assert summary.gpu_idle_percent == pytest.approx(70.0)
    assert summary.gpu_idle_s == pytest.approx(7.0)
    assert summary.idle_gpu_flag is True
    assert summary.gpu_memory_peak_mib == 30000
    assert summary.gpu_util_mean_percent == pytest.approx((7 * 2 + 3 * 170) / 20)
    assert summary.gpu_series[0] == (0.0, 1.0)
    assert summary.gpu_series[-1] == (9.0, 85.0)
    # Memory is summed over the two GPUs (one at 1000 MiB, one at 30000).
    assert summary.gpu_memory_series[0] == (0.0, 31000.0)


def test_busy_gpus_are_not_flagged(tmp_path):
    write_gpu_csv(tmp_path / TELEMETRY_DIR, [(90, 95)] * 8 + [(0, 0)] * 2)

    summary = read_telemetry(tmp_path, "r1", "h1", "llama")

    assert summary.gpu_idle_percent == pytest.approx(20.0)
    assert summary.idle_gpu_flag is False


def test_a_benchmark_without_telemetry_has_no_summary(tmp_path):
    assert read_telemetry(tmp_path, "r1", "h1", "llama") is None
