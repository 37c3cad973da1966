"""What the terminal shows: the plan and the live progress, text kept as written.

Policy names come in brackets and benchmarks print anything; rich would read
either as markup (dropping `[stack-within-budget]`, or failing on `[/x]`).
"""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.orchestrator.console import RunProgress, print_plan
from fmbench_orch.orchestrator.plan import plan_spec, plan_summary


def over_budget() -> CampaignConfig:
    return CampaignConfig.model_validate(
        {
            "name": "console-unit",
            "provider": "aws",
            "budget": {"max_usd_per_hour": 1},
            "hosts": [
                {
                    "instance_type": "g6e.2xlarge",
                    "benchmarks": [{"driver": "command", "run": "true"}],
                }
            ],
        }
    )


def test_the_printed_plan_names_each_broken_policy_in_its_brackets() -> None:
    out = StringIO()

    print_plan(plan_summary(plan_spec(over_budget())), Console(file=out, width=200))

    assert "Policy: [stack-within-budget]: the hosts cost" in out.getvalue()


def test_the_live_table_shows_a_benchmarks_last_line_as_it_printed_it() -> None:
    out = StringIO()
    progress = RunProgress(Console(file=out, width=200))

    progress("g5-xlarge", "llama", "[notebook 3_run_inference] step [/x] done")
    progress.on_event(
        {"host": "g5-xlarge", "benchmark": "llama", "phase": "start", "outcome": "ok"}
    )
    Console(file=out, width=200).print(progress._table())

    assert "[notebook 3_run_inference] step [/x] done" in out.getvalue()
    assert "start ok" in out.getvalue()
