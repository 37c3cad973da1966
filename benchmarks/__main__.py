"""`python -m benchmarks`: run the sections, print their tables, judge targets.

`--quick` shrinks every size for a smoke run of well under a minute;
`--section` picks sections; the size flags override either preset.
`--markdown docs/performance.md` also writes the figures into that file
between its markers, with the date, the machine and the command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import cli_latency, config_scale, harvest, overhead
from benchmarks.report import (
    SectionReport,
    command_line,
    document,
    load,
    summary_table,
    write_between_markers,
)

SECTIONS = ("overhead", "memory", "harvest", "cli", "config")
# A RAM-backed scratch keeps other tenants' disk writeback out of the figures.
PREFERRED_SCRATCH = Path("/dev/shm")


@dataclass(frozen=True)
class Preset:
    hosts: tuple[int, ...]
    payload_seconds: float
    memory_hosts: int
    harvest_files: int
    harvest_file_bytes: int
    harvest_big_mib: int
    harvest_trials: int
    cli_runs: int
    config_hosts: int
    preview_hosts: tuple[int, ...]
    config_repeats: int


FULL = Preset(
    hosts=(1, 16, 64),
    payload_seconds=30.0,
    memory_hosts=64,
    harvest_files=2000,
    harvest_file_bytes=2048,
    harvest_big_mib=200,
    harvest_trials=3,
    cli_runs=10,
    config_hosts=1000,
    preview_hosts=(10, 100, 256, 1000),
    config_repeats=3,
)
QUICK = Preset(
    hosts=(1, 4),
    payload_seconds=2.0,
    memory_hosts=4,
    harvest_files=200,
    harvest_file_bytes=2048,
    harvest_big_mib=8,
    harvest_trials=1,
    cli_runs=3,
    config_hosts=300,
    preview_hosts=(10,),
    config_repeats=1,
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    preset = QUICK if args.quick else FULL
    sections = args.section or list(SECTIONS)
    hosts = args.hosts or preset.hosts
    payload = args.payload_seconds or preset.payload_seconds

    scratch_parent = args.scratch or _default_scratch()
    scratch = Path(tempfile.mkdtemp(prefix="fmbench-benchmarks-", dir=scratch_parent))
    load_before = load()
    started = time.perf_counter()
    reports: list[SectionReport] = []
    try:
        runs: list[overhead.OverheadRun] = []
        if "overhead" in sections or "memory" in sections:
            sizes = hosts if "overhead" in sections else (preset.memory_hosts,)
            if "overhead" not in sections and args.hosts:
                sizes = (max(args.hosts),)
            runs = _section(
                "overhead",
                lambda: overhead.measure(
                    scratch / "overhead", overhead.OverheadSizes(sizes, payload)
                ),
            )
        if "overhead" in sections:
            reports.append(_show(overhead.overhead_report(runs)))
        if "memory" in sections:
            reports.append(_show(overhead.memory_report(runs)))
        if "harvest" in sections:
            harvest_sizes = harvest.HarvestSizes(
                small_files=args.harvest_files or preset.harvest_files,
                small_file_bytes=preset.harvest_file_bytes,
                big_file_mib=args.harvest_big_mib or preset.harvest_big_mib,
                trials=args.trials or preset.harvest_trials,
            )
            reports.append(
                _show(
                    _section(
                        "harvest",
                        lambda: harvest.run(scratch / "harvest", harvest_sizes),
                    )
                )
            )
        if "cli" in sections:
            runs_count = args.cli_runs or preset.cli_runs
            reports.append(_show(_section("cli", lambda: cli_latency.run(runs_count))))
        if "config" in sections:
            config_sizes = config_scale.ConfigSizes(
                load_hosts=args.config_hosts or preset.config_hosts,
                preview_hosts=args.preview_hosts or preset.preview_hosts,
                repeats=preset.config_repeats,
            )
            reports.append(
                _show(
                    _section(
                        "config",
                        lambda: config_scale.run(scratch / "config", config_sizes),
                    )
                )
            )
    finally:
        if args.keep_scratch:
            print(f"scratch kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    total = time.perf_counter() - started
    print(summary_table(reports).markdown())
    print(f"{total:.0f} s; {load()}", file=sys.stderr)
    if args.markdown:
        body = document(reports, command_line(), load_before, load(), total)
        write_between_markers(args.markdown, body)
        print(f"figures written to {args.markdown}", file=sys.stderr)
    missed = [t for r in reports for t in r.targets if not t.passed]
    return 1 if args.strict and missed else 0


def _section(name: str, measure):
    print(f"== {name} …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    outcome = measure()
    print(f"== {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return outcome


def _show(report: SectionReport) -> SectionReport:
    print(report.markdown(), flush=True)
    return report


def _default_scratch() -> Path | None:
    if PREFERRED_SCRATCH.is_dir() and os.access(PREFERRED_SCRATCH, os.W_OK):
        return PREFERRED_SCRATCH
    return None


def _sizes(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        message = f"{text!r} is not a list like 1,16,64"
        raise argparse.ArgumentTypeError(message) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("sizes are positive integers, e.g. 1,16,64")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of fmbench-orch itself; prints Markdown tables.",
    )
    parser.add_argument(
        "--section",
        "-s",
        action="append",
        choices=SECTIONS,
        help="Run only this section (repeatable). Default: all.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="Small sizes: a smoke run under a minute."
    )
    parser.add_argument("--hosts", type=_sizes, help="Host counts, e.g. 1,16,64.")
    parser.add_argument(
        "--payload-seconds", type=float, help="How long each benchmark sleeps (30)."
    )
    parser.add_argument("--harvest-files", type=int, help="Small files (2000).")
    parser.add_argument("--harvest-big-mib", type=int, help="The large file (200).")
    parser.add_argument("--trials", type=int, help="Harvest trials per copy (3).")
    parser.add_argument("--cli-runs", type=int, help="Timed runs per command (10).")
    parser.add_argument(
        "--config-hosts", type=int, help="Hosts in the big campaign (1000)."
    )
    parser.add_argument(
        "--preview-hosts", type=_sizes, help="Preview sizes (10,100,256,1000)."
    )
    parser.add_argument(
        "--scratch",
        type=Path,
        help="Parent of the scratch directory (default /dev/shm if writable).",
    )
    parser.add_argument(
        "--keep-scratch", action="store_true", help="Leave the scratch directory."
    )
    parser.add_argument(
        "--markdown", type=Path, help="Also write the figures into this file."
    )
    parser.add_argument(
        "--strict", action="store_true", help="Exit 1 when a target is missed."
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
