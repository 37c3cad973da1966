"""Markdown for pull-request comments: the plan, the Pulumi preview, the run.

The GitOps workflow joins one section per campaign and step into a single
comment, and GitHub refuses comments over 65,536 characters. So every
section is bounded by construction (tables stop at MAX_TABLE_ROWS, cells at
MAX_CELL_CHARS, logs keep their last lines) and finally cut to
SECTION_LIMIT_BYTES, saying where the whole of it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from fmbench_orch.orchestrator.errors import EXIT_CODE_MEANINGS, ExitCode

# The first line of the workflow's comment; it finds its own comment by it.
COMMENT_MARKER = "<!-- fmbench-orch:pull-request -->"
# A comment holds 65,536 characters; one section may take most of it, and
# the workflow cuts the joined comment again.
SECTION_LIMIT_BYTES = 60_000
# Past this a table stops helping a reviewer; the JSON plan has every row.
MAX_TABLE_ROWS = 50
# Long enough for the longest Pulumi type token of a stack (~90 characters).
MAX_CELL_CHARS = 100
# A preview or an error's tail, enough for Pulumi's summary and diagnostics.
MAX_LOG_BYTES = 16_000
# `timeout` in the run job says 124 when the workflow's time budget ran out.
TIMEOUT_EXIT_CODE = 124

STATUS_ICONS = {
    "success": "✅",
    "partial": "⚠️",
    "failure": "❌",
    "timeout": "⏱️",
    "interrupted": "⏹️",
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plan_section(summary: dict[str, Any], source: str) -> str:
    """A campaign's plan (`plan_summary`): hosts, cost, budget, policies."""
    budget = summary["budget"]
    violations = summary.get("policy_violations", [])
    verdicts = [_budget_verdict(budget), _policy_verdict(violations)]
    lines = [
        f"### {_ok(budget['within'] and not violations)} `{summary['campaign']}` "
        f"· {_code(source)}",
        "",
        f"**{summary['provider']}** · {summary['region']} · "
        f"{len(summary['hosts'])} host(s) · **{summary['usd_per_hour']:.2f} USD/h** · "
        f"worst case **{summary['worst_case_usd']:.2f} USD** over "
        f"{summary['worst_case_hours']:.2f} h · hosts stop at the "
        f"{summary['ttl_hours']:g} h TTL",
        "",
        " · ".join(verdicts),
        "",
    ]
    lines += [f"- ❌ {_text(problem)}" for problem in budget["problems"]]
    lines += [f"- ❌ {_text(violation)}" for violation in violations[:MAX_TABLE_ROWS]]
    if budget["problems"] or violations:
        lines.append("")
    lines += _table(
        ("host", "instance type", "region", "image", "benchmarks", "USD/h"),
        (
            (
                host["name"],
                host["instance_type"],
                host["region"],
                host["image"],
                ", ".join(host["benchmarks"]),
                f"{host['usd_per_hour']:.4f}",
            )
            for host in summary["hosts"]
        ),
        total=("**total**", "", "", "", "", f"**{summary['usd_per_hour']:.4f}**"),
    )
    lines += [
        f"- fallbacks of {host['name']}, in order: {', '.join(host['fallbacks'])}"
        for host in summary["hosts"]
        if host["fallbacks"]
    ]
    created = [r for r in summary["resources"] if not r["type"].startswith("fmbench:")]
    if created:
        lines += [
            "",
            f"<details><summary>Creates {len(created)} resource(s)</summary>",
            "",
            *_table(("type", "name"), ((r["type"], r["name"]) for r in created)),
            "",
            "</details>",
        ]
    return _bounded(lines)


def aws_checks_section(checks: dict[str, Any]) -> str:
    """What `plan --check-aws` found: its failures and warnings, and a count."""
    if checks["skipped"]:
        return _bounded([f"AWS checks: {_text(checks['skipped'])}", ""])
    passed = len(checks["findings"]) - checks["failures"] - checks["warnings"]
    icons = {"failure": "❌", "warning": "⚠️"}
    lines = [
        f"#### {_ok(checks['passed'])} AWS checks: {checks['failures']} failed · "
        f"{checks['warnings']} warning(s) · {passed} passed",
        "",
    ]
    shown = [f for f in checks["findings"] if f["verdict"] in icons]
    for finding in shown[:MAX_TABLE_ROWS]:
        who = ", ".join(finding["hosts"])
        text = f"{who}: {finding['message']}" if who else finding["message"]
        lines.append(f"- {icons[finding['verdict']]} {_text(text)}")
    if len(shown) > MAX_TABLE_ROWS:
        lines.append(
            f"- … and {len(shown) - MAX_TABLE_ROWS} more "
            "(`fmbench-orch plan --check-aws --json`)"
        )
    return _bounded(lines)


def invalid_section(source: str, problems: str) -> str:
    """A campaign file that does not validate, with every problem found."""
    return _bounded(
        [
            f"### ❌ {_code(source)} is not a valid campaign",
            "",
            *_fenced(problems),
            "",
            "Fix each line above, then push again "
            "(`fmbench-orch validate` shows the same).",
        ]
    )


def preview_section(stack: str, output: str, exit_code: int) -> str:
    """The tail of `pulumi preview --policy-pack` on the pull request's stack."""
    verdict = "passed" if exit_code == 0 else "failed"
    lines = [
        f"#### {_ok(exit_code == 0)} Pulumi preview of stack {_code(stack)} {verdict}",
        "",
    ]
    if output.strip():
        lines += [
            "<details><summary>preview output (last lines)</summary>",
            "",
            *_fenced(output),
            "",
            "</details>",
        ]
    else:
        lines.append("The preview printed nothing; see the job's log.")
    return _bounded(lines)


def run_section(
    summary: dict[str, Any] | None,
    stack: str,
    exit_code: int,
    artifact: str | None = None,
) -> str:
    """A campaign's run (`run --json`'s summary), or why there is none."""
    if summary is None:
        lines = [
            f"#### ❌ Run on stack {_code(stack)} did not finish "
            f"(exit {exit_code}: {_exit_meaning(exit_code)})",
            "",
            "See the job's log; the teardown step after it destroyed what the "
            "run had created.",
        ]
    else:
        status = summary["status"]
        lines = [
            f"#### {STATUS_ICONS.get(status, '❔')} Run {_code(summary['run_id'])} "
            f"on stack {_code(stack)}: {status} · teardown {summary['teardown']}",
            "",
        ]
        if summary["teardown"] == "failed":
            lines += [
                "❌ **Teardown failed: resources may still exist.** Closing the "
                "pull request tears them down again; the daily reap catches the "
                "rest.",
                "",
            ]
        if exit_code not in (ExitCode.OK, ExitCode.BENCHMARKS_FAILED):
            lines += [f"Exit {exit_code}: {_exit_meaning(exit_code)}.", ""]
        lines += _table(
            ("host", "instance type", "benchmark", "status", "exit"),
            (
                (
                    result["host"],
                    result["instance_type"],
                    result["benchmark"],
                    f"{STATUS_ICONS.get(result['status'], '')} {result['status']}",
                    "" if result["exit_code"] is None else str(result["exit_code"]),
                )
                for result in summary["results"]
            ),
        )
    if artifact:
        lines += ["", f"The run directory is the workflow artifact {_code(artifact)}."]
    return _bounded(lines)


def _exit_meaning(code: int) -> str:
    if code == TIMEOUT_EXIT_CODE:
        return "the workflow's time budget ran out and the run was interrupted"
    try:
        return EXIT_CODE_MEANINGS[ExitCode(code)]
    except ValueError:
        return "an unexpected exit code"


def _budget_verdict(budget: dict[str, Any]) -> str:
    if budget["max_usd_per_hour"] is None:
        return "⚠️ no budget set"
    if budget["within"]:
        return f"✅ within budget ({budget['max_usd_per_hour']:.2f} USD/h)"
    return f"❌ over budget ({budget['max_usd_per_hour']:.2f} USD/h)"


def _policy_verdict(violations: Sequence[str]) -> str:
    if violations:
        return f"❌ {len(violations)} policy violation(s)"
    return "✅ policies pass"


def _ok(passed: bool) -> str:
    return "✅" if passed else "❌"


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    total: Sequence[str] | None = None,
) -> list[str]:
    rows = list(rows)
    shown = rows[:MAX_TABLE_ROWS]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in shown]
    if len(rows) > len(shown):
        more = f"… and {len(rows) - len(shown)} more (`fmbench-orch plan --json`)"
        lines.append("| " + " | ".join([more] + [""] * (len(header) - 1)) + " |")
    if total is not None:
        lines.append("| " + " | ".join(total) + " |")
    return lines


def _cell(value: object) -> str:
    text = _text(str(value)).replace("|", "\\|")
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text


def _text(value: str) -> str:
    """One line of prose: no newlines, no HTML a comment would render."""
    return " ".join(value.split()).replace("<", "&lt;").replace(">", "&gt;")


def _code(value: str) -> str:
    """Inline code that survives backticks in the value."""
    value = " ".join(value.split())
    fence = "`" * (_longest_backtick_run(value) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def _fenced(text: str) -> list[str]:
    """A code block holding the last MAX_LOG_BYTES of `text`, ANSI colours gone."""
    text = _ANSI.sub("", text).rstrip()
    raw = text.encode()
    if len(raw) > MAX_LOG_BYTES:
        tail = raw[-MAX_LOG_BYTES:].decode(errors="ignore")
        text = "…\n" + tail.split("\n", 1)[-1]
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return [f"{fence}text", text, fence]


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _bounded(lines: list[str]) -> str:
    """Join, and cut at a line boundary if still over SECTION_LIMIT_BYTES."""
    text = "\n".join(lines) + "\n"
    if len(text.encode()) <= SECTION_LIMIT_BYTES:
        return text
    note = "\n… (cut here to fit a pull-request comment)\n"
    budget = SECTION_LIMIT_BYTES - len(note.encode())
    cut = text.encode()[:budget].decode(errors="ignore")
    return cut.rsplit("\n", 1)[0] + note
