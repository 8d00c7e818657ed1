"""Rows of the bench table and how they are printed (markdown) and saved (JSON).

A figure yields one or more :class:`Row`. A row with a target is a line of the table; rows
without ``figure`` are extra measurements kept in the JSON only (the raw throughputs, times
and counts a ratio was made of), so a reader can recompute every ratio.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Row", "Target", "info", "markdown_table", "not_measured", "write_json"]

_OPS = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Target:
    """A bound a value must meet, e.g. ``Target("<=", 1.15)``."""

    op: str
    bound: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"target operator must be one of {sorted(_OPS)}, got {self.op!r}")

    def met(self, value: float) -> bool:
        return bool(_OPS[self.op](value, self.bound))

    def __str__(self) -> str:
        return f"{self.op} {_fmt(self.bound)}"


@dataclass(frozen=True)
class Row:
    """One measured value.

    Attributes:
        name: Stable machine name (``batch_l0_5.throughput_ratio``), the JSON ``name``.
        value: The measured value; ``None`` when it could not be measured (see ``note``).
        unit: Unit of ``value`` (``x``, ``ms/item``, ``calls``, ``s``...).
        target: The bound from issue 10, or ``None`` (reported only).
        figure: Table label; empty keeps the row out of the table (JSON only).
        pack: What the pack measured, as shown in the table.
        baseline: What the plain script (or the floor) measured, as shown in the table.
        note: Why a value is missing, or what to keep in mind.
    """

    name: str
    value: float | None
    unit: str
    target: Target | None = None
    figure: str = ""
    pack: str = ""
    baseline: str = ""
    note: str = ""

    @property
    def meets_target(self) -> bool | None:
        """None without a target; False when a target's value could not be measured."""
        if self.target is None:
            return None
        if self.value is None or math.isnan(self.value):
            return False
        return self.target.met(self.value)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": str(self.target) if self.target else None,
            "meets_target": self.meets_target,
        }


def info(name: str, value: float | None, unit: str) -> Row:
    """A JSON-only measurement (no table line, no target)."""
    return Row(name=name, value=value, unit=unit)


def not_measured(name: str, figure: str, unit: str, target: Target | None, why: str) -> Row:
    return Row(name=name, value=None, unit=unit, target=target, figure=figure, note=why)


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip() if unit else text


def markdown_table(rows: Iterable[Row]) -> str:
    """The table of figures: figure, pack, baseline, ratio (the judged value), target, met."""
    lines = [
        "| figure | pack | baseline | ratio / value | target | met |",
        "|---|---|---|---|---|---|",
    ]
    notes = []
    for row in rows:
        if not row.figure:
            continue
        met = {True: "yes", False: "**no**", None: "-"}[row.meets_target]
        if row.value is None and row.target is not None:
            met = "**not measured**"
        value = _fmt(row.value, row.unit) if row.value is not None else "not measured"
        lines.append(
            f"| {row.figure} | {row.pack or '-'} | {row.baseline or '-'} | {value} | "
            f"{row.target or '(report only)'} | {met} |"
        )
        if row.note:
            notes.append(f"- {row.figure}: {row.note}")
    return "\n".join(lines + (["", *notes] if notes else []))


def write_json(rows: Iterable[Row], path: str | Path) -> None:
    Path(path).write_text(json.dumps([row.to_json() for row in rows], indent=2) + "\n")
