"""A benchmark in the campaign file: what runs on a host, and with which driver."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fmbench_orch.models.fields import MAX_TTL, NameSlug, StrictModel, existing_path

# FMBench runs the model server and the whole sweep: hours are normal.
DEFAULT_BENCHMARK_TIMEOUT_SECONDS = 7200
# FMBench's own default on PyPI at the time of writing; pin it so a campaign
# reproduces, and so `fmbench:` configs resolve at the same tag.
DEFAULT_FMBENCH_VERSION = "2.1.6"
# `fmbench:<path>` names a config in FMBench's repository (see models.compile).
FMBENCH_SHORTHAND = "fmbench:"


class BenchmarkBase(StrictModel):
    """One benchmark run on a host; a host runs its benchmarks in order."""

    name: NameSlug | None = Field(
        default=None,
        description="Unique on the host; defaults from the config file name "
        "(fmbench) or to <driver>-<position>.",
    )
    model_id: str | None = Field(
        default=None, description="The model benchmarked, as the report names it."
    )
    batch_sizes: list[PositiveInt] | None = Field(
        default=None, min_length=1, description="Batch sizes to sweep."
    )
    sequence_lengths: list[PositiveInt] | None = Field(
        default=None, min_length=1, description="Sequence lengths to sweep."
    )
    num_iterations: PositiveInt | None = Field(
        default=None, description="Repetitions of each measurement."
    )
    timeout_seconds: PositiveInt = Field(
        default=DEFAULT_BENCHMARK_TIMEOUT_SECONDS,
        le=int(MAX_TTL.total_seconds()),
        description="The benchmark is stopped and marked timeout after this long.",
    )


class FmbenchBenchmark(BenchmarkBase):
    """Installs FMBench on the host and runs it with one of its configs."""

    driver: Literal["fmbench"] = Field(description="Selects this kind of benchmark.")
    config: str = Field(
        min_length=1,
        description="A local path, an http(s):// or s3:// URL, or fmbench:<path> "
        "for a config shipped in FMBench's repository.",
    )
    version: str | None = Field(
        default=None,
        description=f"FMBench release from PyPI; {DEFAULT_FMBENCH_VERSION} unless "
        "repo is given.",
    )
    repo: str | None = Field(
        default=None, description="Install FMBench from this git repository instead."
    )
    ref: str | None = Field(
        default=None, description="Branch, tag or commit of repo; required with it."
    )
    args: dict[str, str] = Field(default={}, description="Passed as -A key=value.")
    local_mode: bool = Field(
        default=True, description="Run FMBench with --local-mode yes."
    )
    write_bucket: str | None = Field(
        default=None, description="Defaults to the campaign's results bucket."
    )

    @field_validator("config")
    @classmethod
    def _config_exists(cls, config: str, info: ValidationInfo) -> str:
        if config.startswith((FMBENCH_SHORTHAND, "http://", "https://", "s3://")):
            if config == FMBENCH_SHORTHAND:
                raise PydanticCustomError(
                    "fmbench_shorthand",
                    "name a config after 'fmbench:', e.g. "
                    "fmbench:llama3/8b/config-ec2-llama3-8b-g6e-2xlarge.yml",
                )
            return config
        return str(existing_path(config, info))

    @model_validator(mode="after")
    def _one_source(self) -> FmbenchBenchmark:
        if self.repo and self.version:
            raise PydanticCustomError(
                "fmbench_source",
                "give version (a PyPI release) or repo + ref, not both",
            )
        if bool(self.repo) != bool(self.ref):
            missing = "ref" if self.repo else "repo"
            raise PydanticCustomError(
                "fmbench_source",
                "repo and ref go together; add {missing} (ref: a branch, tag or "
                "commit of repo)",
                {"missing": missing, "loc": (missing,)},
            )
        if not self.repo and self.version is None:
            self.version = DEFAULT_FMBENCH_VERSION
        shorthand = self.config.startswith(FMBENCH_SHORTHAND)
        if shorthand and self.repo and github_owner_repo(self.repo) is None:
            raise PydanticCustomError(
                "fmbench_shorthand_repo",
                "the fmbench: shorthand needs a GitHub repo "
                "(https://github.com/<owner>/<name>); give config as a URL instead",
                {"loc": ("repo",)},
            )
        return self


class CommandBenchmark(BenchmarkBase):
    """Any command, run with bash in its own work directory on the host."""

    driver: Literal["command"] = Field(description="Selects this kind of benchmark.")
    run: str = Field(min_length=1, description="Run with bash on the host.")
    results: str = Field(
        default="results", description="Directory harvested after the run."
    )
    metrics: str | None = Field(
        default=None, description="JSON object of numbers, relative to the workdir."
    )


Benchmark = Annotated[
    FmbenchBenchmark | CommandBenchmark, Field(discriminator="driver")
]


def name_benchmarks(benchmarks: list[FmbenchBenchmark | CommandBenchmark]) -> None:
    """Give unnamed benchmarks a name; refuse two with the same one."""
    seen: dict[str, int] = {}
    for index, benchmark in enumerate(benchmarks):
        if benchmark.name is None:
            benchmark.name = _default_name(benchmark, index)
        if benchmark.name in seen:
            raise PydanticCustomError(
                "duplicate_benchmark",
                "benchmarks[{first}] and benchmarks[{second}] are both named "
                "'{name}'; give each a unique name",
                {
                    "first": seen[benchmark.name],
                    "second": index,
                    "name": benchmark.name,
                    "loc": ("benchmarks", index, "name"),
                },
            )
        seen[benchmark.name] = index


def _default_name(benchmark: FmbenchBenchmark | CommandBenchmark, index: int) -> str:
    if isinstance(benchmark, FmbenchBenchmark):
        stem = Path(benchmark.config.split("?")[0]).stem.lower()
        stem = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
        if stem and stem[0].isalpha():
            return stem
    return f"{benchmark.driver}-{index + 1}"


def github_owner_repo(repository: str) -> str | None:
    """`owner/name` of a GitHub repository URL, or None for other hosts."""
    match = re.fullmatch(
        r"(?:https://github\.com/|git@github\.com:)([\w.-]+/[\w.-]+?)(?:\.git)?/?",
        repository,
    )
    return match.group(1) if match else None
