"""One benchmark on one host: start or reattach, follow, end, harvest, judge.

The remote job directory is the source of truth: a benchmark whose `pid`
file exists was started by this run, so it is followed again (reattached)
rather than started twice, whether the connection dropped or the
orchestrator itself restarted.
"""

from __future__ import annotations

import logging
import shlex
import time
from datetime import UTC, datetime
from pathlib import Path

from fmbench_orch.models.results import BenchmarkResult
from fmbench_orch.models.spec import BenchmarkSpec
from fmbench_orch.orchestrator import jobs, transfer
from fmbench_orch.orchestrator.drivers import DriverError, Verdict, driver_for
from fmbench_orch.orchestrator.host_run import HostRun, now
from fmbench_orch.orchestrator.jobs import FollowEnd, JobHandle
from fmbench_orch.orchestrator.remote import CommandResult
from fmbench_orch.orchestrator.ssh_errors import (
    ConnectFailed,
    ConnectionLost,
    RemoteError,
    StopRequested,
)
from fmbench_orch.orchestrator.telemetry import HARVEST_PATTERN, with_telemetry

log = logging.getLogger(__name__)

# The driver's post-run check is a `find` or two.
CHECK_TIMEOUT_S = 60.0
# Reading the rest of a killed job's log: it is already on the host's disk.
LOG_CATCH_UP_S = 30.0
# How many harvests are tried when the copy does not match the host's listing.
HARVEST_ATTEMPTS = 2


class BenchmarkRun:
    def __init__(self, host: HostRun, benchmark: BenchmarkSpec) -> None:
        self.host = host
        self.benchmark = benchmark
        self.name = benchmark.name
        self.driver = driver_for(benchmark.driver)
        self.directory = host.remote_layout.benchmark_dir(benchmark.name)
        self.log_path = host.layout.benchmark_log(host.name, benchmark.name)

    def run(self) -> BenchmarkResult:
        try:
            script = with_telemetry(
                self.driver.run_script(self.benchmark, self.host.run_id)
            )
            patterns = [*self.driver.harvest_patterns(self.benchmark), HARVEST_PATTERN]
            files = self._files()
        except DriverError as exc:
            self._emit("start", "failed", detail=str(exc))
            return self.host.result(self.benchmark, "failure", reason=str(exc))
        try:
            handle, started_at = self._start_or_reattach(script, files)
        except (ConnectFailed, ConnectionLost):
            raise
        except RemoteError as exc:
            self._emit("start", "failed", detail=exc.cause)
            return self.host.result(self.benchmark, "failure", reason=str(exc))

        end = self._follow(handle, started_at)
        # Limitation: the end is when the runner noticed it; a benchmark that
        # ended while the orchestrator was down gets its reattach time — matters
        # only for durations of runs resumed after a long outage.
        finished_at = now()
        self._kill(handle, end.reason)
        self._cleanup(timed_out=end.reason == "deadline")
        if end.reason == "stopped":
            self._stopped(started_at, finished_at)
        outcome = "timeout" if end.reason == "deadline" else "ended"
        self._emit(
            "exit",
            outcome,
            duration=_seconds(started_at, finished_at),
            detail="no exit status"
            if end.exit_code is None
            else f"exit status {end.exit_code}",
        )

        check = self._check() if end.exit_code == 0 else ""
        harvest, harvest_error = self._harvest(patterns)
        verdict = self._verdict(end, check, harvest, harvest_error)
        return self.host.result(
            self.benchmark,
            verdict.status,
            exit_code=end.exit_code,
            reason=verdict.reason,
            started_at=started_at,
            finished_at=finished_at,
            metrics=verdict.metrics,
            artifacts=harvest.artifacts if harvest else [],
        )

    def _stopped(self, started_at: datetime, finished_at: datetime) -> None:
        """Report a benchmark the operator stopped; it is not kept, so that a
        resume runs it again, and its pid goes so the resume starts it afresh."""
        self.host.call(
            "stop", lambda: jobs.forget(self.host.remote, self.directory, "stop")
        )
        self._emit("exit", "stopped", duration=_seconds(started_at, finished_at))
        result = self.host.result(
            self.benchmark,
            "failure",
            started_at=started_at,
            finished_at=finished_at,
            reason="stopped by the operator before it finished; resume reruns it",
        )
        self.host.finish(result, keep=False)
        raise StopRequested(self.host.name)

    def _files(self) -> list[tuple[Path, str]]:
        files = self.driver.uploads(self.benchmark)
        for local, _ in files:
            if not local.exists():
                raise DriverError(
                    f"benchmark {self.name}: local file {local} does not exist; "
                    "fix the path in the campaign"
                )
        return files

    def _start_or_reattach(
        self, script: str, files: list[tuple[Path, str]]
    ) -> tuple[JobHandle, datetime]:
        remote = self.host.remote
        state = self.host.call(
            "start", lambda: jobs.probe(remote, self.directory, "start")
        )
        if state.started and (state.alive or state.exit_code is not None):
            handle = state.handle
            # Limitation: on reattach the start comes from the host's clock
            # (second resolution) — matters only on hosts without NTP.
            started_at = datetime.fromtimestamp(handle.started_epoch, UTC)
            self._emit("running", "reattached", detail=f"pid {handle.pid}")
            return handle, started_at

        began = time.monotonic()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")
        started_at = now()
        handle = self.host.call(
            "start",
            lambda: jobs.start(remote, self.directory, script, "start", files),
        )
        self._emit(
            "start", "ok", duration=time.monotonic() - began, detail=f"pid {handle.pid}"
        )
        self._emit("running", "attached", detail=f"pid {handle.pid}")
        return handle, started_at

    def _follow(self, handle: JobHandle, started_at: datetime) -> FollowEnd:
        elapsed = (now() - started_at).total_seconds()
        deadline = time.monotonic() + self.benchmark.timeout_seconds - elapsed
        return self.host.call(
            "running",
            lambda: jobs.follow(
                self.host.remote,
                handle,
                self.log_path,
                deadline=deadline,
                stop=self.host.stop,
                on_line=lambda line: self.host.progress(self.name, line=line),
            ),
        )

    def _kill(self, handle: JobHandle, reason: str) -> None:
        """Kill what is left of the job's group: all of it on a timeout or stop,
        the background processes a finished benchmark left behind otherwise."""
        began = time.monotonic()
        outcome = self.host.call(
            "kill", lambda: jobs.terminate(self.host.remote, handle, "kill")
        )
        if outcome == "none" and reason == "ended":
            return
        duration = time.monotonic() - began
        self._emit("kill", outcome, duration=duration, detail=reason)
        if outcome == "survived":
            log.warning(
                "%s: %s: processes of group %d survived SIGKILL",
                *(self.host.name, self.name, handle.pid),
            )
        if reason == "ended":
            return
        # What the job printed between the last read and its death.
        catch_up = time.monotonic() + LOG_CATCH_UP_S
        self.host.call(
            "kill",
            lambda: jobs.follow(
                self.host.remote, handle, self.log_path, deadline=catch_up, stop=None
            ),
        )

    def _cleanup(self, timed_out: bool) -> None:
        script = self.driver.cleanup_script(self.benchmark, timed_out)
        if not script:
            return
        began = time.monotonic()
        try:
            result = self._in_directory(
                script, "cleanup", self.driver.cleanup_timeout_s
            )
        except RemoteError as exc:
            log.warning("%s: %s: cleanup failed: %s", self.host.name, self.name, exc)
            self._emit("cleanup", "failed", detail=exc.cause)
            return
        if result.ok and not timed_out:
            return  # the usual sweep after a benchmark: not worth an event
        lines = result.output.strip().splitlines() or [f"exit {result.exit_status}"]
        duration = time.monotonic() - began
        outcome = "ok" if result.ok else "failed"
        self._emit("cleanup", outcome, duration=duration, detail=lines[-1])
        if not result.ok:
            log.warning(
                "%s: %s: cleanup failed: %s", self.host.name, self.name, lines[-1]
            )

    def _check(self) -> str:
        script = self.driver.check_script(self.benchmark)
        if not script:
            return ""
        return self._exec_in_directory(script, "check", CHECK_TIMEOUT_S)

    def _exec_in_directory(self, script: str, phase: str, timeout: float) -> str:
        return self._in_directory(script, phase, timeout).output

    def _in_directory(self, script: str, phase: str, timeout: float) -> CommandResult:
        command = jobs.bash(f"cd {shlex.quote(self.directory)} || exit 2\n{script}")
        return self.host.call(
            phase, lambda: self.host.remote.exec(command, phase=phase, timeout=timeout)
        )

    def _harvest(
        self, patterns: list[str]
    ) -> tuple[transfer.Harvest | None, str | None]:
        remote_layout = self.host.remote_layout
        strip = remote_layout.relative_to_root(self.directory) + "/"
        patterns = [strip + pattern for pattern in patterns]
        if self.driver.harvest_bootstrap_log:
            patterns.append(
                remote_layout.relative_to_root(remote_layout.bootstrap_dir)
                + "/"
                + jobs.LOG_NAME
            )
        dest = self.host.layout.artifacts(self.host.name, self.name)
        error = None
        for attempt in range(1, HARVEST_ATTEMPTS + 1):
            began = time.monotonic()
            try:
                harvest = self.host.call(
                    "harvest",
                    lambda: transfer.harvest(
                        self.host.remote,
                        remote_layout.root,
                        patterns,
                        strip,
                        dest,
                        self.host.layout.run_dir,
                    ),
                )
            except RemoteError as exc:
                error = exc.cause
                self._emit(
                    "harvest", "failed", duration=time.monotonic() - began, detail=error
                )
                continue
            detail = f"{len(harvest.artifacts)} files, {harvest.total_bytes} bytes"
            if harvest.refused:
                detail += f"; refused {len(harvest.refused)}: {harvest.refused[:3]}"
            if harvest.ok:
                self._emit(
                    "harvest", "ok", duration=time.monotonic() - began, detail=detail
                )
                return harvest, None
            error = "; ".join(harvest.problems[:5])
            log.debug(
                "%s: %s: harvest attempt %d incomplete: %s",
                self.host.name,
                self.name,
                attempt,
                error,
            )
            self._emit(
                "harvest", "incomplete", duration=time.monotonic() - began, detail=error
            )
        log.warning("%s: %s: harvest failed: %s", self.host.name, self.name, error)
        return None, error

    def _verdict(
        self,
        end: FollowEnd,
        check: str,
        harvest: transfer.Harvest | None,
        harvest_error: str | None,
    ) -> Verdict:
        if end.reason == "deadline":
            return Verdict(
                "timeout",
                f"still running after {self.benchmark.timeout_seconds} s; "
                "its process group was killed",
            )
        dest = self.host.layout.artifacts(self.host.name, self.name)
        verdict = self.driver.judge(self.benchmark, end.exit_code, check, dest)
        if harvest is None and verdict.status == "success":
            return Verdict("failure", f"the harvest failed: {harvest_error}")
        return verdict

    def _emit(self, phase: str, outcome: str, **fields) -> None:
        self.host.emit(phase, outcome, benchmark=self.name, **fields)


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())
