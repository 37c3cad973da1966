"""The report as one self-contained HTML page: tables and inline SVG charts.

The page references nothing outside itself — no scripts, stylesheets,
fonts or images — so it opens the same offline, attached to a CI run, or
mailed. Markdown's **bold** and `code` in the shared sections become HTML.
"""

from __future__ import annotations

import re
from html import escape

from fmbench_orch.orchestrator.report.markdown import TITLE
from fmbench_orch.orchestrator.report.model import Report
from fmbench_orch.orchestrator.report.plots import Chart, charts
from fmbench_orch.orchestrator.report.sections import sections
from fmbench_orch.orchestrator.report.tables import Section, Table

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1180px;
       color: #222; padding: 0 16px; }
h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 32px;
     border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left;
         vertical-align: top; }
th { background: #f4f4f4; } tr:nth-child(even) td { background: #fafafa; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
nav a { margin-right: 12px; }
figure { margin: 12px 0 24px; } figcaption { color: #555; font-size: 13px; }
svg { font: 11px system-ui, sans-serif; max-width: 100%; height: auto; }
svg .title { font-size: 13px; font-weight: 600; }
svg .plot { fill: none; stroke: #999; }
svg .grid { stroke: #eee; }
svg .threshold { stroke: #c00; stroke-dasharray: 6 4; }
.left-out { color: #666; font-style: italic; }
"""
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def render_html(report: Report) -> str:
    found = sections(report)
    placed: dict[str, list[Chart]] = {}
    for chart in charts(report):
        placed.setdefault(chart.section, []).append(chart)
    nav = " ".join(
        f'<a href="#{section.anchor}">{escape(section.title)}</a>' for section in found
    )
    body = [f"<h1>{escape(TITLE)}</h1>", f"<nav>{nav}</nav>"]
    for section in found:
        body.append(_section(section))
        body += [_figure(chart) for chart in placed.get(section.anchor, [])]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(TITLE)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _section(section: Section) -> str:
    parts = [f'<h2 id="{escape(section.anchor)}">{escape(section.title)}</h2>']
    parts += [f"<p>{_inline(note)}</p>" for note in section.notes]
    parts += [_table(table) for table in section.tables]
    return "".join(parts)


def _table(table: Table) -> str:
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    if not table.rows:
        return f"<table>{caption}<tr><td><em>none</em></td></tr></table>"
    head = "".join(f"<th>{escape(header)}</th>" for header in table.headers)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
        for row in table.rows
    )
    more = (
        f'<p class="left-out">… and {table.left_out} more row(s)</p>'
        if table.left_out
        else ""
    )
    return (
        f"<table>{caption}<thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>{more}"
    )


def _figure(chart: Chart) -> str:
    return (
        f"<figure>{chart.svg}<figcaption>{escape(chart.caption)}</figcaption></figure>"
    )


def _inline(text: str) -> str:
    """Escaped text with the sections' **bold** and `code` marked up."""
    return _CODE.sub(
        r"<code>\1</code>", _BOLD.sub(r"<strong>\1</strong>", escape(text))
    )
