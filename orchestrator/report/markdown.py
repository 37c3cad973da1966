"""The report as Markdown: `report.md`, and a shorter one for a PR comment."""

from __future__ import annotations

from collections.abc import Sequence

from fmbench_orch.orchestrator.report.model import Report
from fmbench_orch.orchestrator.report.sections import sections
from fmbench_orch.orchestrator.report.tables import Section, Table

# GitHub refuses comments over 65,536 characters; 60 KB leaves room for the
# workflow's own header and footer.
PR_COMMENT_LIMIT_BYTES = 60_000
# Rows per table tried, in turn, until the comment fits.
PR_ROW_CAPS = (25, 10, 5, 2)
TITLE = "fmbench-orch report"


def render_markdown(report: Report, max_rows: int | None = None) -> str:
    lines = [f"# {TITLE}", ""]
    for section in sections(report, max_rows):
        lines += _section(section)
    return "\n".join(lines).rstrip() + "\n"


def render_pr_markdown(report: Report, limit: int = PR_COMMENT_LIMIT_BYTES) -> str:
    """The report with tables cut until it fits in `limit` bytes of UTF-8."""
    text = render_markdown(report)
    for cap in PR_ROW_CAPS:
        if len(text.encode()) <= limit:
            return text
        text = render_markdown(report, max_rows=cap)
    if len(text.encode()) <= limit:
        return text
    note = "\n\n… cut to fit a PR comment; the full report is report.md.\n"
    budget = limit - len(note.encode())
    cut = text.encode()[:budget].decode(errors="ignore")
    return cut[: cut.rfind("\n")] + note


def _section(section: Section) -> list[str]:
    lines = [f"## {section.title}", ""]
    for note in section.notes:
        lines += [note, ""]
    for table in section.tables:
        lines += _table(table)
    return lines


def _table(table: Table) -> list[str]:
    lines = []
    if table.caption:
        lines += [f"**{_cell(table.caption)}**", ""]
    if not table.rows:
        return [*lines, "_none_", ""]
    lines.append(_row(table.headers))
    lines.append("|" + "|".join("---" for _ in table.headers) + "|")
    lines += [_row(row) for row in table.rows]
    if table.left_out:
        lines += ["", f"_… and {table.left_out} more row(s); see report.csv._"]
    return [*lines, ""]


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())
