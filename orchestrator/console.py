"""What the CLI prints for people: tables and summaries, drawn with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


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
    if summary["resources"]:
        console.print(f"Creates {len(summary['resources'])} resource(s):")
        for resource in summary["resources"]:
            console.print(f"  + {resource['type']}  {resource['name']}")
    console.print(
        f"Worst case: {summary['worst_case_usd']:.2f} USD over "
        f"{summary['worst_case_hours']:.2f} h (every benchmark runs to its timeout; "
        f"hosts shut down at the {summary['ttl_hours']:g} h TTL)"
    )
    budget = summary["budget"]
    if budget["max_usd_per_hour"] is None:
        console.print("Budget: none set (add `budget: {max_usd_per_hour: …}`)")
    elif budget["within"]:
        console.print(
            f"Budget: within {budget['max_usd_per_hour']:.2f} USD/h", style="green"
        )
    else:
        for problem in budget["problems"]:
            console.print(f"Over budget: {problem}", style="bold red")
