"""Failure kinds, their exit codes, and the one table that maps errors to them.

Callers (people, CI jobs, the GitOps workflows) branch on the exit code, so
each kind of failure has its own, and they never change meaning.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug in the tool: the message asks for a report
    INVALID_INPUT = 2  # campaign/legacy file or command line is wrong
    OVER_BUDGET = 3  # the campaign costs more than its budget allows
    BENCHMARKS_FAILED = 4  # the run finished, some benchmarks failed or timed out
    PROVISION_FAILED = 5  # hosts could not be created or reached
    TEARDOWN_FAILED = 6  # something may still be running: the message says what
    NOT_FOUND = 7  # no such run, stack or result
    INTERRUPTED = 130  # Ctrl-C / SIGTERM; teardown still ran unless refused


EXIT_CODE_MEANINGS = {
    ExitCode.OK: "success: every benchmark succeeded (or the command did its job)",
    ExitCode.INTERNAL: "internal error: a bug; please report it with the log",
    ExitCode.INVALID_INPUT: "invalid input: a campaign file, legacy file or option",
    ExitCode.OVER_BUDGET: "over budget: the plan exceeds the campaign's budget",
    ExitCode.BENCHMARKS_FAILED: "partial: some benchmarks failed or timed out",
    ExitCode.PROVISION_FAILED: "provisioning failed: hosts could not be created "
    "or reached (nothing left running)",
    ExitCode.TEARDOWN_FAILED: "teardown failed: resources may still exist; the "
    "message gives the command that finishes it",
    ExitCode.NOT_FOUND: "not found: no such run directory, stack or result",
    ExitCode.INTERRUPTED: "interrupted by Ctrl-C or SIGTERM (teardown ran)",
}


class OrchestratorError(Exception):
    """An error the CLI reports as one message and an exit code."""

    exit_code = ExitCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        phase: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        self.host = host
        self.phase = phase
        self.cause = cause
        super().__init__(message)


class OverBudget(OrchestratorError):
    exit_code = ExitCode.OVER_BUDGET


class ProvisionFailed(OrchestratorError):
    exit_code = ExitCode.PROVISION_FAILED


class TeardownFailed(OrchestratorError):
    exit_code = ExitCode.TEARDOWN_FAILED


class RunNotFound(OrchestratorError):
    exit_code = ExitCode.NOT_FOUND


class RunDirectoryTaken(OrchestratorError):
    """A new run would reuse another run's directory (the message says why)."""

    exit_code = ExitCode.INVALID_INPUT


def exit_code_for(error: BaseException) -> ExitCode:
    """The single place that decides which exit code an exception means."""
    from fmbench_orch.infra.errors import (
        NoSubnetForInstanceType,
        PoliciesViolated,
        PreviewRefused,
        StackConfigInvalid,
        StackFileExists,
        StackFileMissing,
    )
    from fmbench_orch.models.errors import ConfigError

    if isinstance(error, OrchestratorError):
        return error.exit_code
    if isinstance(
        error, ConfigError | PoliciesViolated | StackConfigInvalid | StackFileExists
    ):
        return ExitCode.INVALID_INPUT
    if isinstance(error, StackFileMissing):
        return ExitCode.NOT_FOUND
    if isinstance(error, NoSubnetForInstanceType):
        return ExitCode.PROVISION_FAILED
    if isinstance(error, PreviewRefused):
        if error.kind == NoSubnetForInstanceType.__name__:
            return ExitCode.PROVISION_FAILED
        return ExitCode.INVALID_INPUT
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.INTERNAL
