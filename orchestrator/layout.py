"""Where a run keeps things: on each host, and in the run directory.

On a host everything lives under `.fmbench-orch/<run_id>/`, relative to the
login directory: the runner never assumes an absolute home (the local
provider's hosts have a per-host home and a chrooted SFTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REMOTE_BASE = ".fmbench-orch"


def check_name(kind: str, name: str) -> str:
    """Refuse names that would escape the directories built from them."""
    if not name or name in {".", ".."} or "/" in name or "\0" in name:
        raise ValueError(
            f"{kind} name {name!r} cannot be used as a directory name; "
            "rename it in the campaign (no '/', not '.' or '..')"
        )
    return name


@dataclass(frozen=True)
class RemoteLayout:
    """Paths on a host, all relative to the login directory."""

    run_id: str

    @property
    def root(self) -> str:
        return f"{REMOTE_BASE}/{check_name('run', self.run_id)}"

    @property
    def bootstrap_dir(self) -> str:
        return f"{self.root}/bootstrap"

    def benchmark_dir(self, benchmark: str) -> str:
        return f"{self.root}/benchmarks/{check_name('benchmark', benchmark)}"

    def relative_to_root(self, path: str) -> str:
        """`path` (under `root`) as the harvest names it."""
        return path.removeprefix(self.root + "/")


@dataclass(frozen=True)
class RunLayout:
    """Paths in the operator's run directory."""

    run_dir: Path

    @property
    def known_hosts(self) -> Path:
        return self.run_dir / "known_hosts"

    def bootstrap_log(self, host: str) -> Path:
        return self.run_dir / "logs" / check_name("host", host) / "bootstrap.log"

    def benchmark_log(self, host: str, benchmark: str) -> Path:
        return self.run_dir / "logs" / check_name("host", host) / f"{benchmark}.log"

    def result(self, host: str, benchmark: str) -> Path:
        name = check_name("benchmark", benchmark)
        return self.run_dir / "results" / check_name("host", host) / f"{name}.json"

    def artifacts(self, host: str, benchmark: str) -> Path:
        host_dir = self.run_dir / "artifacts" / check_name("host", host)
        return host_dir / check_name("benchmark", benchmark)


def remote_path(path: str) -> str:
    """A user-given remote path as SFTP and the shell both read it.

    `~/x` and relative paths are relative to the login directory (SFTP does not
    expand `~`); absolute paths stay absolute.
    """
    if path in {"~", "~/"}:
        return "."
    if path.startswith("~/"):
        return path[2:]
    return path
