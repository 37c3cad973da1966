"""The report as JSON for scripts: every record, with its units in the keys."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from fmbench_orch.orchestrator.report.model import Report
from fmbench_orch.orchestrator.report.sections_measured import convention_text

# Bumped when a key changes meaning or disappears; new keys keep it.
SCHEMA_VERSION = 1


def report_document(report: Report) -> dict[str, Any]:
    document = dataclasses.asdict(report)
    document["schema_version"] = SCHEMA_VERSION
    document["sweep_convention"] = convention_text()
    return document


def render_json(report: Report) -> str:
    return json.dumps(report_document(report), indent=2) + "\n"
