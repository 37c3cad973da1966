"""Ctrl-C during a run stops benchmarks; during teardown it must be said twice."""

from __future__ import annotations

import os
import signal

import pytest

from fmbench_orch.orchestrator.interrupts import InterruptGuard, TeardownAbandoned


def press_ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_the_first_signal_asks_the_run_to_stop_instead_of_raising():
    with InterruptGuard() as guard:
        press_ctrl_c()

        assert guard.interrupted
        assert guard.signal_name == "SIGINT"


def test_one_ctrl_c_during_teardown_only_warns(caplog: pytest.LogCaptureFixture):
    with InterruptGuard() as guard:
        press_ctrl_c()
        guard.tearing_down()

        press_ctrl_c()

    assert "press Ctrl-C again" in caplog.text


def test_a_second_ctrl_c_during_teardown_abandons_it():
    with InterruptGuard() as guard:
        press_ctrl_c()
        guard.tearing_down()
        press_ctrl_c()

        with pytest.raises(TeardownAbandoned):
            press_ctrl_c()


def test_sigterm_during_teardown_never_abandons_it():
    with InterruptGuard() as guard:
        os.kill(os.getpid(), signal.SIGTERM)
        guard.tearing_down()

        for _ in range(3):
            os.kill(os.getpid(), signal.SIGTERM)

        assert guard.signal_name == "SIGTERM"


def test_the_previous_handlers_come_back_afterwards():
    before = signal.getsignal(signal.SIGINT)

    with InterruptGuard():
        assert signal.getsignal(signal.SIGINT) is not before

    assert signal.getsignal(signal.SIGINT) is before
