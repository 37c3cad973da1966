"""What a benchmark run produced: the records the run directory and report read."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

BenchmarkStatus = Literal["success", "failure", "timeout"]


class Artifact(BaseModel):
    """A harvested file, relative to the run directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    size: int
    sha256: str


class BenchmarkResult(BaseModel):
    """One benchmark on one host: how it ended and what it measured."""

    model_config = ConfigDict(extra="forbid")

    host: str
    instance_type: str
    region: str
    price_per_hour: float
    benchmark: str
    driver: Literal["fmbench", "command"]
    status: BenchmarkStatus
    exit_code: int | None = None
    reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    metrics: dict[str, float] = {}
    artifacts: list[Artifact] = []

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
