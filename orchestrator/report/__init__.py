"""The comparison report over one or more run directories.

`write_report(run_dirs, out_dir)` reads the runs (results, artifacts, event
log), analyses them (`build`) and writes `report.md`, `report.csv`,
`report.html` (self-contained, with charts) and `report.json`;
`write_run_report(run_dir)` does the same for the end of `run` and never
raises.
"""

from __future__ import annotations

from fmbench_orch.orchestrator.report.build import build_report
from fmbench_orch.orchestrator.report.model import Report, Settings
from fmbench_orch.orchestrator.report.write import write_report, write_run_report

__all__ = ["Report", "Settings", "build_report", "write_report", "write_run_report"]
