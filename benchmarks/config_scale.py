"""Section 4: how the config path scales — load, validate, compile, preview.

Campaigns are capped at `MAX_HOSTS_PER_CAMPAIGN` hosts, so 1,000 hosts are
measured two ways: as four campaigns of 250 hosts (what a user must do), and
as one 1,000-host file validated with the cap raised for the measurement
only (the loader's model swapped for a subclass with a wider `hosts` list
and the total-hosts constant patched, then both put back). Times are warm:
the modules are imported and one load has run before the clock starts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field, create_model

from benchmarks.campaigns import longhand_campaign
from benchmarks.report import SectionReport, Table, Target, median
from fmbench_orch.models import campaign as campaign_module
from fmbench_orch.models import loader
from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.compile import StackValues, compile_campaign
from fmbench_orch.models.host import HostConfig
from fmbench_orch.models.spec import StackSpec

LOAD_TARGET_S = 1.0
PREVIEW_TARGET_S = 5.0
PREVIEW_TARGET_HOSTS = 100
# A campaign of 1,000 hosts is split into this many files under the cap.
SPLIT_PARTS = 4
VALUES = StackValues(
    run_id="bench0001",
    created_at=datetime(2025, 1, 1, tzinfo=UTC),
    operator="bench",
    operator_cidr="203.0.113.7/32",
)


@dataclass(frozen=True)
class ConfigSizes:
    load_hosts: int  # the whole-file size: at the cap, or beyond it with it raised
    preview_hosts: Sequence[int]
    repeats: int


def run(workdir: Path, sizes: ConfigSizes) -> SectionReport:
    report = SectionReport("config", "4. Config path at scale")
    workdir.mkdir(parents=True, exist_ok=True)
    cap = campaign_module.MAX_HOSTS_PER_CAMPAIGN
    _load_and_compile(longhand_campaign(workdir / "warm-up.yml", 2))

    loads = Table(
        "Load + validate + compile (warm, median of "
        f"{sizes.repeats}; 1 benchmark per host, written longhand)",
        ["campaign", "hosts", "load + validate", "compile", "total"],
    )
    at_cap = min(sizes.load_hosts, cap)
    path = longhand_campaign(workdir / f"cap-{at_cap}.yml", at_cap)
    load_s, compile_s = _timed_load(lambda: [path], sizes.repeats)
    loads.rows.append(
        _load_row(f"one file at the cap ({cap})", at_cap, load_s, compile_s)
    )
    report.targets.append(
        Target(f"load+validate+compile, {at_cap} hosts", load_s + compile_s, 1.0, "s")
    )

    if sizes.load_hosts > cap:
        total = sizes.load_hosts
        part = -(-total // SPLIT_PARTS)
        parts = [
            longhand_campaign(workdir / f"part-{i}.yml", part, f"bench-part-{i}")
            for i in range(SPLIT_PARTS)
        ]
        load_s, compile_s = _timed_load(lambda: parts, sizes.repeats)
        label = f"{SPLIT_PARTS} files of {part}"
        loads.rows.append(_load_row(label, part * SPLIT_PARTS, load_s, compile_s))
        wide = longhand_campaign(workdir / f"wide-{total}.yml", total)
        with raised_host_cap(total):
            load_s, compile_s = _timed_load(lambda: [wide], sizes.repeats)
        loads.rows.append(_load_row("one file, cap raised", total, load_s, compile_s))
        report.targets.append(
            Target(
                f"load+validate+compile, {total} hosts (cap raised)",
                load_s + compile_s,
                LOAD_TARGET_S,
                "s",
            )
        )
    report.tables.append(loads)
    report.tables.append(_previews(workdir, sizes, report))
    return report


def _previews(workdir: Path, sizes: ConfigSizes, report: SectionReport) -> Table:
    from fmbench_orch.infra.preview import preview_resources

    table = Table(
        "Pulumi program under mocks (`preview_resources`, one run each)",
        ["hosts", "resources", "seconds"],
    )
    started = time.perf_counter()
    resources = preview_resources(_spec(workdir, 1))
    table.notes.append(
        f"The first preview (1 host) also imports pulumi and pulumi_aws: "
        f"{time.perf_counter() - started:.2f} s; not counted below."
    )
    for hosts in sizes.preview_hosts:
        spec = _spec(workdir, hosts)
        started = time.perf_counter()
        resources = preview_resources(spec)
        elapsed = time.perf_counter() - started
        table.rows.append([str(hosts), str(len(resources)), f"{elapsed:.2f}"])
        if hosts == PREVIEW_TARGET_HOSTS:
            report.targets.append(
                Target(f"preview, {hosts} hosts", elapsed, PREVIEW_TARGET_S, "s")
            )
    return table


def _spec(workdir: Path, hosts: int) -> StackSpec:
    path = longhand_campaign(workdir / f"preview-{hosts}.yml", hosts)
    cap = campaign_module.MAX_HOSTS_PER_CAMPAIGN
    with raised_host_cap(hosts) if hosts > cap else contextlib.nullcontext():
        return _load_and_compile(path)[-1]


def _timed_load(files: Callable[[], list[Path]], repeats: int) -> tuple[float, float]:
    """Median seconds to load+validate all `files`, and to compile them."""
    loads, compiles = [], []
    for _ in range(repeats):
        campaigns = []
        started = time.perf_counter()
        for path in files():
            campaigns.append(loader.load_campaign(path))
        loaded = time.perf_counter()
        for campaign in campaigns:
            compile_campaign(campaign, VALUES)
        loads.append(loaded - started)
        compiles.append(time.perf_counter() - loaded)
    return median(loads), median(compiles)


def _load_and_compile(path: Path) -> list[StackSpec]:
    return [compile_campaign(loader.load_campaign(path), VALUES)]


def _load_row(label: str, hosts: int, load_s: float, compile_s: float) -> list[str]:
    return [
        label,
        str(hosts),
        f"{load_s:.3f} s",
        f"{compile_s:.3f} s",
        f"{load_s + compile_s:.3f} s",
    ]


@contextlib.contextmanager
def raised_host_cap(limit: int) -> Iterator[None]:
    """Let `loader.load_campaign` accept up to `limit` hosts, then put it back."""
    wide = create_model(
        "WideCampaignConfig",
        __base__=CampaignConfig,
        hosts=(list[HostConfig], Field(min_length=1, max_length=limit)),
    )
    saved_cap = campaign_module.MAX_HOSTS_PER_CAMPAIGN
    saved_model = loader.CampaignConfig
    campaign_module.MAX_HOSTS_PER_CAMPAIGN = limit
    loader.CampaignConfig = wide
    try:
        yield
    finally:
        campaign_module.MAX_HOSTS_PER_CAMPAIGN = saved_cap
        loader.CampaignConfig = saved_model
