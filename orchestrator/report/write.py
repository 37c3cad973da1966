"""Writing the report's files: report.md, report.csv, report.html, report.json."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from fmbench_orch.orchestrator.report.build import build_report
from fmbench_orch.orchestrator.report.document import render_json
from fmbench_orch.orchestrator.report.html import render_html
from fmbench_orch.orchestrator.report.markdown import render_markdown
from fmbench_orch.orchestrator.report.model import Report, Settings
from fmbench_orch.orchestrator.report.table_csv import render_csv

log = logging.getLogger(__name__)

MARKDOWN_FILE = "report.md"
CSV_FILE = "report.csv"
HTML_FILE = "report.html"
JSON_FILE = "report.json"


def write_report(
    run_dirs: list[Path], out_dir: Path, settings: Settings | None = None
) -> Path:
    """Build the report over `run_dirs` and write its files; returns report.md."""
    report = build_report(run_dirs, settings)
    return write_report_files(report, out_dir)


def write_run_report(run_dir: Path) -> Path | None:
    """The report of one finished run, in it; never raises.

    For the end of `run`: a report that cannot be written must not hide how
    the run went, so the failure is logged with the command that retries it.
    """
    try:
        return write_report([run_dir], run_dir)
    except Exception as error:
        log.warning(
            "the report of %s was not written (%s); write it with "
            "`fmbench-orch report %s`",
            run_dir,
            error,
            run_dir,
        )
        log.debug("report failure", exc_info=True)
        return None


def write_report_files(report: Report, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    files: Sequence[tuple[str, str]] = (
        (CSV_FILE, render_csv(report)),
        (HTML_FILE, render_html(report)),
        (JSON_FILE, render_json(report)),
        (MARKDOWN_FILE, render_markdown(report)),
    )
    for name, text in files:
        _write_atomically(out_dir / name, text)
    return out_dir / MARKDOWN_FILE


def _write_atomically(path: Path, text: str) -> None:
    """A reader (a browser refreshing, a CI upload) never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
