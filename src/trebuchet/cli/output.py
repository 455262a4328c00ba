"""How commands print: JSON for scripts (``--json``), aligned tables for people.

A list prints one JSON object per line (JSON Lines) with ``--json``, or a table with a
header; an empty list prints nothing either way.  One record prints as one JSON object,
or as ``key: value`` lines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value) or "-"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """``rows`` as a table: the first row's keys as the header, columns padded."""
    if not rows:
        return ""
    columns = list(rows[0])
    cells = [columns] + [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(line[index]) for line in cells) for index in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def emit_list(rows: Sequence[Mapping[str, Any]], as_json: bool) -> None:
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
    elif rows:
        click.echo(table(rows))


def emit_one(record: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(record))
    else:
        width = max(len(key) for key in record)
        for key, value in record.items():
            click.echo(f"{key.ljust(width)}  {_cell(value)}")
