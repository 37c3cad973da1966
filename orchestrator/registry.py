"""The per-user registry of live runs: what may still be running, and where.

`~/.fmbench-orch/live/<campaign>-<run id>.json` (under `FMBENCH_ORCH_HOME`
when set) is written before a run creates its first resource and removed
only after its teardown succeeded. So whatever happens in between — a
crash, SIGKILL, a teardown that failed — the run stays listed by
`fmbench-orch status`, with its cost so far and the command that finishes
it, and `fmbench-orch reap` can find it once its TTL has passed.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fmbench_orch.models.durations import format_duration
from fmbench_orch.models.spec import StackSpec
from fmbench_orch.orchestrator.provisioners.aws import state_home
from fmbench_orch.orchestrator.rundir import RunDirectory

log = logging.getLogger(__name__)

LIVE_DIR = "live"
# Only aws runs bill: local hosts are processes here, static ones the user's.
BILLED_PROVIDERS = frozenset({"aws"})


def registry_dir() -> Path:
    return state_home() / LIVE_DIR


@dataclass(frozen=True)
class LiveRun:
    """One registry entry: enough to find, cost and finish a run."""

    campaign: str
    run_id: str
    stack_name: str
    provider: str
    run_dir: Path
    regions: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    usd_per_hour: float
    owner: str

    @property
    def path(self) -> Path:
        return registry_dir() / f"{self.stack_name}.json"

    @property
    def down_command(self) -> str:
        return f"fmbench-orch down {shlex.quote(str(self.run_dir))}"

    def age(self, now: datetime) -> timedelta:
        return now - self.created_at

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def spent_usd(self, now: datetime) -> float:
        """Spend so far, up to the TTL (when the hosts' dead-man switch fires)."""
        billed = min(now, self.expires_at) - self.created_at
        return self.usd_per_hour * max(billed.total_seconds(), 0.0) / 3600

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "run_id": self.run_id,
            "stack_name": self.stack_name,
            "provider": self.provider,
            "run_dir": str(self.run_dir),
            "regions": list(self.regions),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "usd_per_hour": self.usd_per_hour,
            "owner": self.owner,
            "finish_with": self.down_command,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LiveRun:
        return cls(
            campaign=raw["campaign"],
            run_id=raw["run_id"],
            stack_name=raw["stack_name"],
            provider=raw["provider"],
            run_dir=Path(raw["run_dir"]),
            regions=tuple(raw["regions"]),
            created_at=_aware(datetime.fromisoformat(raw["created_at"])),
            expires_at=_aware(datetime.fromisoformat(raw["expires_at"])),
            usd_per_hour=float(raw["usd_per_hour"]),
            owner=raw["owner"],
        )


def live_run_of(run_dir: RunDirectory | Path, spec: StackSpec) -> LiveRun:
    path = run_dir.path if isinstance(run_dir, RunDirectory) else Path(run_dir)
    billed = spec.provider in BILLED_PROVIDERS
    return LiveRun(
        campaign=spec.campaign,
        run_id=spec.run_id,
        stack_name=spec.stack_name,
        provider=spec.provider,
        run_dir=path.resolve(),
        regions=tuple(sorted(spec.regions)),
        created_at=_aware(spec.created_at),
        expires_at=_aware(spec.expires_at),
        usd_per_hour=spec.usd_per_hour if billed else 0.0,
        owner=spec.owner,
    )


def record_live(run_dir: RunDirectory | Path, spec: StackSpec) -> LiveRun:
    """List the run as live; call before its first resource is created."""
    run = live_run_of(run_dir, spec)
    directory = registry_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = directory / f".{run.stack_name}.{os.getpid()}.tmp"
    partial.write_text(json.dumps(run.to_json(), indent=2) + "\n")
    os.replace(partial, run.path)
    log.debug("registry: %s is live (%s)", run.stack_name, run.path)
    return run


def forget_live(spec: StackSpec) -> None:
    """Unlist the run; call only once its teardown succeeded (idempotent)."""
    forget_stack(spec.stack_name)


def forget_stack(stack_name: str) -> None:
    path = registry_dir() / f"{stack_name}.json"
    try:
        path.unlink()
    except FileNotFoundError:
        return
    log.debug("registry: %s is gone", stack_name)


def live_runs() -> list[LiveRun]:
    """Every listed run, oldest first; an unreadable entry is warned about."""
    directory = registry_dir()
    if not directory.is_dir():
        return []
    runs = []
    for path in sorted(directory.glob("*.json")):
        try:
            runs.append(LiveRun.from_json(json.loads(path.read_text())))
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "registry entry %s is unreadable (%s); check that its run is gone, "
                "then delete the file",
                path,
                error,
            )
    return sorted(runs, key=lambda run: run.created_at)


def render_live_runs(runs: list[LiveRun], now: datetime | None = None) -> str:
    """The `status` listing: age, TTL left, USD/h and spend so far per run."""
    if not runs:
        return f"no live runs (registry: {registry_dir()})"
    now = now or datetime.now(UTC)
    header = (
        f"{'run':<40} {'provider':<8} {'age':>9} {'ttl left':>9} "
        f"{'USD/h':>8} {'spent':>9}"
    )
    lines = [header]
    for run in runs:
        left = run.expires_at - now
        ttl = "expired" if left.total_seconds() <= 0 else format_duration(left)
        lines.append(
            f"{run.stack_name:<40} {run.provider:<8} "
            f"{format_duration(run.age(now)):>9} {ttl:>9} "
            f"{run.usd_per_hour:>8.2f} {run.spent_usd(now):>9.2f}"
        )
        lines.append(f"  {run.run_dir}")
        hint = "expired: " if run.expired(now) else ""
        lines.append(f"  {hint}finish with `{run.down_command}`")
    total = sum(run.spent_usd(now) for run in runs)
    lines.append(f"{len(runs)} live run(s), about {total:.2f} USD spent so far")
    return "\n".join(lines)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
