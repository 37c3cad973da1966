"""One host's part of a run: connect, bootstrap, upload, then each benchmark.

A host's failure before its benchmarks start (no SSH, bootstrap failed, an
upload failed) fails each of its benchmarks with that reason; a benchmark's
own failure never stops the next one. A dropped connection is reconnected
and the interrupted step retried; running benchmarks are reattached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.models.spec import BenchmarkSpec, HostSpec
from fmbench_orch.orchestrator import jobs, transfer
from fmbench_orch.orchestrator.drivers import Driver, DriverError, driver_for
from fmbench_orch.orchestrator.events import EventLog
from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.layout import RemoteLayout, RunLayout
from fmbench_orch.orchestrator.remote import (
    CONNECT_DEADLINE_S,
    RECONNECT_DEADLINE_S,
    RemoteHost,
)
from fmbench_orch.orchestrator.ssh_errors import (
    ConnectFailed,
    ConnectionLost,
    RemoteError,
    StopRequested,
)

log = logging.getLogger(__name__)

# How often one step is tried across reconnects before its host gives up.
PHASE_ATTEMPTS = 3
# cloud-init holds the package locks at boot; it is done within minutes.
CLOUD_INIT_WAIT_S = 1200.0
# Tools the runner's own remote scripts need on every host.
REQUIRED_TOOLS = ("bash", "setsid", "tail", "tar", "find")

_PREFLIGHT = f"""\
missing=""
for tool in {" ".join(REQUIRED_TOOLS)}; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -z "$missing" ] || {{ echo "missing:$missing"; exit 1; }}
command -v cloud-init >/dev/null 2>&1 && echo cloud-init
exit 0
"""

_BOOTSTRAP_PREAMBLE = """\
if command -v cloud-init >/dev/null 2>&1; then
  echo "waiting for cloud-init to finish (it holds the package locks at boot)"
  cloud-init status --wait >/dev/null || echo "cloud-init status: $? (continuing)"
fi
"""


class Progress(Protocol):
    """Told of each phase change and of the last line a host printed.

    `benchmark` is None for the host's own phases (connect, bootstrap, upload).
    """

    def __call__(
        self,
        host: str,
        benchmark: str | None,
        *,
        phase: str | None = None,
        line: str | None = None,
    ) -> None: ...


T = TypeVar("T")


@dataclass(frozen=True)
class RunnerLimits:
    """The waits a test may shorten; production uses the module defaults."""

    connect_deadline_s: float = CONNECT_DEADLINE_S
    reconnect_deadline_s: float = RECONNECT_DEADLINE_S


class HostRun:
    """Runs `pending` benchmarks of one host; results land in `results`."""

    def __init__(
        self,
        *,
        run_id: str,
        spec: HostSpec,
        host: Host,
        layout: RunLayout,
        events: EventLog,
        progress: Progress | None,
        stop: threading.Event,
        limits: RunnerLimits,
        record: Callable[[BenchmarkResult], None],
        explain: Callable[[Host], str | None] | None = None,
    ) -> None:
        self.run_id = run_id
        self.explain = explain
        self.spec = spec
        self.host = host
        self.layout = layout
        self.remote_layout = RemoteLayout(run_id)
        self.events = events
        self.stop = stop
        self.limits = limits
        self.remote = RemoteHost(host, layout.known_hosts)
        self._progress = progress
        self._record = record
        self.results: dict[str, BenchmarkResult] = {}

    @property
    def name(self) -> str:
        return self.host.name

    def run(self, pending: list[BenchmarkSpec]) -> None:
        from fmbench_orch.orchestrator.benchmark_run import BenchmarkRun

        try:
            self._connect()
            self._bootstrap(pending)
            self._upload()
            for benchmark in pending:
                if self.stop.is_set():
                    break
                try:
                    result = BenchmarkRun(self, benchmark).run()
                except (ConnectFailed, ConnectionLost):
                    raise
                except RemoteError as exc:
                    result = self.result(benchmark, "failure", reason=str(exc))
                self.finish(result)
        except StopRequested:
            log.info("%s: stopped before its benchmarks finished", self.name)
        except (ConnectFailed, ConnectionLost) as exc:
            self.fail_unfinished(pending, self._why_unreachable(exc))
        except RemoteError as exc:
            self.fail_unfinished(pending, str(exc))
        except Exception as exc:
            log.exception("%s: internal error in the runner", self.name)
            self.fail_unfinished(pending, f"internal error in the runner: {exc!r}")
        finally:
            self.remote.close()

    def _why_unreachable(self, error: RemoteError) -> str:
        """The SSH error, led by what the provider knows (a reclaimed Spot host)."""
        if self.explain is None:
            return str(error)
        try:
            known = self.explain(self.host)
        except Exception as exc:  # the provider's API is a hint, never a blocker
            log.debug("%s: could not ask why it is unreachable: %s", self.name, exc)
            known = None
        return f"{known}; {error}" if known else str(error)

    def finish(self, result: BenchmarkResult, *, keep: bool = True) -> None:
        """Record a benchmark's result (kept in the run directory unless told not)."""
        self.results[result.benchmark] = result
        if keep:
            self._record(result)
        self.emit(
            "result",
            result.status,
            benchmark=result.benchmark,
            duration=result.duration_seconds,
            detail=result.reason,
        )

    def fail_unfinished(self, pending: list[BenchmarkSpec], reason: str) -> None:
        for benchmark in pending:
            if benchmark.name not in self.results:
                self.finish(self.result(benchmark, "failure", reason=reason))

    def result(
        self, benchmark: BenchmarkSpec, status: str, **fields
    ) -> BenchmarkResult:
        return result_for(self.spec, benchmark, status, **fields)

    def progress(
        self,
        benchmark: str | None,
        *,
        phase: str | None = None,
        line: str | None = None,
    ) -> None:
        if self._progress is None:
            return
        try:
            self._progress(self.name, benchmark, phase=phase, line=line)
        except Exception:
            log.debug("%s: progress callback failed", self.name, exc_info=True)

    def emit(self, phase: str, outcome: str, **fields) -> None:
        """Log a phase change to the event log and tell the progress display."""
        self.events.emit(phase, outcome, host=self.name, **fields)
        shown = phase if outcome in ("ok", "attached") else f"{phase} {outcome}"
        self.progress(fields.get("benchmark"), phase=shown)

    def call(self, phase: str, step: Callable[[], T]) -> T:
        """Run `step`; after a dropped connection, reconnect and run it again."""
        for attempt in range(1, PHASE_ATTEMPTS + 1):
            try:
                return step()
            except ConnectionLost as exc:
                if attempt == PHASE_ATTEMPTS:
                    log.warning(
                        "%s: %s lost the connection %d times", self.name, phase, attempt
                    )
                    raise
                level = logging.WARNING if attempt == 1 else logging.DEBUG
                log.log(
                    level,
                    "%s: connection lost during %s; reconnecting",
                    self.name,
                    phase,
                )
                self.reconnect(exc.cause)
        raise AssertionError("unreachable")

    def reconnect(self, cause: str) -> None:
        started = time.monotonic()
        self.emit("connect", "lost", detail=cause)
        self.remote.connect(self.limits.reconnect_deadline_s, self.stop)
        self.emit("connect", "reconnected", duration=time.monotonic() - started)

    def _connect(self) -> None:
        started = time.monotonic()
        try:
            attempts = self.remote.connect(self.limits.connect_deadline_s, self.stop)
        except RemoteError as exc:
            self.emit(
                "connect",
                "failed",
                duration=time.monotonic() - started,
                detail=exc.cause,
            )
            raise
        self.emit(
            "connect",
            "ok",
            duration=time.monotonic() - started,
            detail=f"{attempts} attempt(s)",
        )

    def _bootstrap(self, pending: list[BenchmarkSpec]) -> None:
        started = time.monotonic()
        try:
            outcome = self._run_bootstrap(pending)
        except (RemoteError, DriverError) as exc:
            self.emit(
                "bootstrap",
                "failed",
                duration=time.monotonic() - started,
                detail=str(exc),
            )
            if isinstance(exc, RemoteError):
                raise
            raise RemoteError(
                self.name, "bootstrap", str(exc), "Fix the campaign"
            ) from exc
        self.emit("bootstrap", outcome, duration=time.monotonic() - started)

    def _run_bootstrap(self, pending: list[BenchmarkSpec]) -> str:
        result = self.call(
            "bootstrap",
            lambda: self.remote.exec(jobs.bash(_PREFLIGHT), phase="bootstrap"),
        )
        if not result.ok:
            raise RemoteError(
                self.name,
                "bootstrap",
                f"the host lacks {result.output.strip()}",
                "Install those tools on the host or use an image that has them",
            )
        drivers = _drivers_of(pending)
        script = bootstrap_script(drivers)
        if script == _BOOTSTRAP_PREAMBLE and "cloud-init" not in result.output:
            return "nothing-to-do"
        timeout = CLOUD_INIT_WAIT_S + max(d.bootstrap_timeout_s for d, _ in drivers)
        directory = self.remote_layout.bootstrap_dir
        log_path = self.layout.bootstrap_log(self.name)
        state = self.call(
            "bootstrap", lambda: jobs.probe(self.remote, directory, "bootstrap")
        )
        if state.exit_code == 0:
            return "done-before"
        if state.alive:
            handle = state.handle
        else:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_bytes(b"")
            handle = self.call(
                "bootstrap",
                lambda: jobs.start(self.remote, directory, script, "bootstrap"),
            )
        deadline = time.monotonic() + timeout
        end = self.call(
            "bootstrap",
            lambda: jobs.follow(
                self.remote,
                handle,
                log_path,
                deadline=deadline,
                stop=self.stop,
                on_line=lambda line: self.progress(None, line=line),
            ),
        )
        if end.reason != "ended":
            self.call(
                "bootstrap", lambda: jobs.terminate(self.remote, handle, "bootstrap")
            )
            if end.reason == "stopped":
                raise StopRequested(self.name)
            raise RemoteError(
                self.name,
                "bootstrap",
                f"it did not finish in {timeout:.0f} s",
                f"See {log_path} for where it stalled",
            )
        if end.exit_code != 0:
            log.warning("%s: bootstrap exited with %s", self.name, end.exit_code)
            raise RemoteError(
                self.name,
                "bootstrap",
                f"the script exited with status {end.exit_code}",
                f"See {log_path}; fix the cause and resume the run",
            )
        return "ok"

    def _upload(self) -> None:
        uploads = list(self.spec.uploads)
        if not uploads:
            return
        started = time.monotonic()
        try:
            self.call("upload", lambda: transfer.upload(self.remote, uploads))
        except RemoteError as exc:
            self.emit(
                "upload",
                "failed",
                duration=time.monotonic() - started,
                detail=exc.cause,
            )
            raise
        secrets = sum(item.secret for item in uploads)
        self.emit(
            "upload",
            "ok",
            duration=time.monotonic() - started,
            detail=f"{len(uploads)} item(s), {secrets} secret",
        )


def _drivers_of(
    pending: list[BenchmarkSpec],
) -> list[tuple[Driver, list[BenchmarkSpec]]]:
    grouped: dict[str, list[BenchmarkSpec]] = {}
    for benchmark in pending:
        grouped.setdefault(benchmark.driver, []).append(benchmark)
    return [(driver_for(name), items) for name, items in sorted(grouped.items())]


def bootstrap_script(drivers: list[tuple[Driver, list[BenchmarkSpec]]]) -> str:
    """The host's bootstrap: wait for cloud-init, then each driver's install."""
    sections = [_BOOTSTRAP_PREAMBLE]
    for driver, benchmarks in drivers:
        body = driver.bootstrap_script(benchmarks)
        if body.strip():
            sections.append(f'echo "== {driver.name}"\n(\n{body}\n) || exit $?\n')
    return "".join(sections)


def result_for(
    host: HostSpec, benchmark: BenchmarkSpec, status: str, **fields
) -> BenchmarkResult:
    """A result carrying the host's facts (instance type, region, price)."""
    return BenchmarkResult(
        host=host.name,
        instance_type=host.instance_type,
        region=host.region,
        price_per_hour=host.price_per_hour,
        benchmark=benchmark.name,
        driver=benchmark.driver,
        status=status,
        **fields,
    )


def now() -> datetime:
    return datetime.now(UTC)
