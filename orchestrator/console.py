"""What the CLI prints for people: tables and summaries, drawn with rich."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


def print_plan(summary: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"{summary['campaign']} · provider {summary['provider']}")
    for column in ("host", "instance type", "region", "image", "benchmarks"):
        table.add_column(column)
    table.add_column("USD/h", justify="right")
    for host in summary["hosts"]:
        table.add_row(
            host["name"],
            host["instance_type"],
            host["region"],
            host["image"],
            ", ".join(host["benchmarks"]),
            f"{host['usd_per_hour']:.4f}",
        )
    table.add_section()
    table.add_row("total", "", "", "", "", f"{summary['usd_per_hour']:.4f}")
    console.print(table)
    for host in summary["hosts"]:
        if host["fallbacks"]:
            console.print(
                f"Fallbacks of {host['name']}, in order: {', '.join(host['fallbacks'])}"
            )
    if summary["resources"]:
        console.print(f"Creates {len(summary['resources'])} resource(s):")
        for resource in summary["resources"]:
            if not resource["type"].startswith("fmbench:"):
                console.print(f"  + {resource['type']}  {resource['name']}")
    console.print(
        f"Worst case: {summary['worst_case_usd']:.2f} USD over "
        f"{summary['worst_case_hours']:.2f} h (every benchmark runs to its timeout; "
        f"hosts shut down at the {summary['ttl_hours']:g} h TTL)"
    )
    if summary.get("ssh_ingress"):
        ingress = ", ".join(summary["ssh_ingress"])
        console.print(f"SSH (port 22) from: {ingress}", markup=False)
    for violation in summary.get("policy_violations", []):
        console.print(f"Policy: {violation}", style="bold red", markup=False)
    budget = summary["budget"]
    if budget["max_usd_per_hour"] is None:
        console.print("Budget: none set (add `budget: {max_usd_per_hour: …}`)")
    elif budget["within"]:
        console.print(
            f"Budget: within {budget['max_usd_per_hour']:.2f} USD/h", style="green"
        )
    else:
        for problem in budget["problems"]:
            console.print(f"Over budget: {problem}", style="bold red", markup=False)


class RunProgress:
    """A live table, one row per host × benchmark: phase, elapsed, last log line.

    Called from the runner's host threads; rich's Live redraws from its own
    thread, so updates only touch a dict under a lock.
    """

    def __init__(self, console: Console | None = None) -> None:
        import threading
        import time

        self._clock = time.monotonic
        self._console = console or Console(stderr=True)
        self._rows: dict[tuple[str, str], list[Any]] = {}
        self._lock = threading.Lock()
        self._live = None

    def __enter__(self) -> RunProgress:
        from rich.live import Live

        self._live = Live(
            get_renderable=self._table,
            console=self._console,
            refresh_per_second=4,
            transient=False,
        )
        self._live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def __call__(self, host: str, benchmark: str | None, line: str) -> None:
        """The runner's output callback: the last line a benchmark printed."""
        with self._lock:
            row = self._row(host, benchmark)
            row[2] = line.strip()[-80:]

    def on_event(self, event: dict[str, Any]) -> None:
        """The event log's listener: a phase change restarts the row's clock."""
        if event["host"] is None:
            return
        phase = f"{event['phase']} {event['outcome']}".strip()
        with self._lock:
            row = self._row(event["host"], event["benchmark"])
            row[0], row[1] = phase, self._clock()

    def _row(self, host: str, benchmark: str | None) -> list[Any]:
        key = (host, benchmark or "(bootstrap)")
        return self._rows.setdefault(key, ["", self._clock(), ""])

    def _table(self) -> Table:
        table = Table(expand=True)
        for column in ("host", "benchmark", "phase", "elapsed", "last line"):
            table.add_column(column, overflow="ellipsis", no_wrap=True)
        now = self._clock()
        with self._lock:
            rows = sorted(self._rows.items())
        for (host, benchmark), (phase, since, line) in rows:
            # Text, not markup: a benchmark's output may hold anything in [].
            cells = (host, benchmark, phase, f"{now - since:.0f}s", line)
            table.add_row(*(Text(cell) for cell in cells))
        return table


def print_outcome(summary: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    table = Table(title=f"{summary['campaign']} · run {summary['run_id']}")
    for column in ("host", "instance type", "benchmark", "status", "exit"):
        table.add_column(column)
    styles = {"success": "green", "failure": "red", "timeout": "yellow"}
    for result in summary["results"]:
        table.add_row(
            result["host"],
            result["instance_type"],
            result["benchmark"],
            f"[{styles[result['status']]}]{result['status']}[/]",
            "" if result["exit_code"] is None else str(result["exit_code"]),
        )
    console.print(table)
    console.print(f"Status: {summary['status']} · teardown: {summary['teardown']}")
    console.print(f"Results: {summary['run_dir']}", markup=False)
    report = Path(summary["run_dir"]) / "report.html"
    if report.is_file():
        console.print(
            f"Report: {report} (and report.md, report.csv beside it)", markup=False
        )


def print_aws_checks(checks: dict[str, Any], console: Console | None = None) -> None:
    """What `plan --check-aws` found, one line per finding."""
    console = console or Console()
    if checks["skipped"]:
        console.print(f"AWS checks: {checks['skipped']}", markup=False)
        return
    passed = len(checks["findings"]) - checks["failures"] - checks["warnings"]
    console.print(
        f"AWS checks: {checks['failures']} failed, {checks['warnings']} warning(s), "
        f"{passed} passed",
        style="green" if checks["passed"] else "bold red",
    )
    marks = {"ok": ("✓", "green"), "warning": ("!", "yellow"), "failure": ("✗", "red")}
    for finding in checks["findings"]:
        mark, style = marks[finding["verdict"]]
        who = ", ".join(finding["hosts"])
        text = f"{who}: {finding['message']}" if who else finding["message"]
        # soft_wrap: a long finding stays one line for grep and logs.
        console.print(
            f"  {mark} {text}",
            style=style,
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
