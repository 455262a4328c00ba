"""Settings, read once at the edge: flag > environment (``TREBUCHET_*``) > file > default.

The file is TOML (``--config path`` or ``TREBUCHET_CONFIG``), with the same keys as the
fields below, e.g. ``db = "postgresql://..."`` or ``max_body_bytes = 2097152``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_DB = "sqlite:///./trebuchet.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_BULK_LIMIT = 50
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
DEFAULT_CACHE_SECONDS = 30.0
ENV_PREFIX = "TREBUCHET_"


@dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Scheme and host used in Location and Link URLs; by default taken from each request.
    public_url: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    bulk_limit: int = DEFAULT_BULK_LIMIT
    default_page_size: int = DEFAULT_PAGE_SIZE
    max_page_size: int = MAX_PAGE_SIZE
    # How long a verified credential or number ownership is trusted without a new lookup.
    cache_seconds: float = DEFAULT_CACHE_SECONDS
    # Create a demo user with two numbers when the store is empty (``serve`` only).
    demo_user: bool = True
    sqlite_synchronous: str = "NORMAL"
    db_pool_size: int = 10
    extra: Mapping[str, Any] = field(default_factory=dict)


def _coerce(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if not isinstance(raw, str):
        return raw
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    environ = os.environ if environ is None else environ
    names = {f.name for f in fields(Settings)} - {"extra"}
    values: dict[str, Any] = {}
    path = config_file or environ.get(f"{ENV_PREFIX}CONFIG")
    if path:
        with open(path, "rb") as fh:
            file_values = tomllib.load(fh)
        unknown = set(file_values) - names
        if unknown:
            raise ValueError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
        values.update(file_values)
    for name in names:
        env_value = environ.get(f"{ENV_PREFIX}{name.upper()}")
        if env_value is not None:
            values[name] = env_value
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = value
    return replace(Settings(), **{name: _coerce(name, value) for name, value in values.items()})
