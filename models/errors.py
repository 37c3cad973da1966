"""Config errors: one problem per bad field, each naming the path and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a campaign file.

    `path` is the field path as the user would write it
    (`hosts[1].benchmarks[0].batch_sizes`), empty for the whole file.
    """

    path: str
    message: str
    line: int | None = None

    def render(self, source: Path | None = None) -> str:
        where = str(source) if source else ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        prefix = f"{where}: " if where else ""
        if not self.path:
            return f"{prefix}{self.message}"
        return f"{prefix}{self.path}: {self.message}"


class ConfigError(Exception):
    """A campaign (or legacy) file that cannot be used as written."""

    def __init__(self, source: Path | None, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [problem.render(self.source) for problem in self.problems]
        return "\n".join(lines)
