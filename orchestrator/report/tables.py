"""Sections of the report as titled tables of text, and their shared columns."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str | None = None
    left_out: int = 0


@dataclass
class Section:
    anchor: str
    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def run_column(several: bool, run_id: str) -> list[str]:
    return [run_id] if several else []


def run_header(several: bool) -> list[str]:
    return ["run"] if several else []
