"""Helpers shared by the phone-number and application resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from trebuchet.server.api.context import Ctx
from trebuchet.server.api.messages import page_size
from trebuchet.server.api.pagination import link_next


def present(struct: msgspec.Struct, columns: Mapping[str, str]) -> dict[str, Any]:
    """``{column: value}`` for each property that was sent and not ``null``."""
    return {
        column: getattr(struct, attr)
        for attr, column in columns.items()
        if getattr(struct, attr) is not None
    }


def camel_row(row: Mapping[Any, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    """The JSON properties of a row, leaving out unset ones."""
    return {prop: row[column] for prop, column in columns.items() if row[column] is not None}


def id_page_link(
    ctx: Ctx, path: str, rows: list[Any], size: int, keep: tuple[str, ...]
) -> dict[str, str]:
    if len(rows) <= size:
        return {}
    params = [(name, value) for name in keep if (value := ctx.request.query_params.get(name))]
    params += [("size", str(size)), ("sortKeyGT", rows[size - 1]["id"])]
    return {"Link": link_next(ctx.user_url(path), params)}


__all__ = ["camel_row", "id_page_link", "page_size", "present"]
