"""How the report writes numbers: money, durations, rates, ratios."""

from __future__ import annotations


def usd(value: float | None) -> str:
    """Dollars with enough digits to tell tiny per-token prices apart."""
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 0.01:
        return f"${value:,.2f}"
    return f"${value:.3g}"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.3g} ms"
    if value < 120:
        return f"{value:.3g} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.2f} h"


def number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if value == int(value) and abs(value) < 1e9:
        return f"{int(value):,}"
    return f"{value:,.{digits}g}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def metric(name: str, value: float | None) -> str:
    """A metric by its name's unit: `_s` seconds, `_per_s` a rate, else a number."""
    if value is None:
        return "—"
    if name.endswith("_per_s"):
        return f"{value:,.0f}/s" if value >= 100 else f"{value:.3g}/s"
    if name.endswith("_s"):
        return seconds(value)
    return number(value)
