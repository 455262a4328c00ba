"""Schemathesis against ``/openapi.json``, in process: no 5xx, and answers that match
the document (status codes, content types, bodies, headers).

Every operation is exercised with schema-conforming data and with data that breaks the
schema; examples are bounded so the whole run stays well under a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Credentials, credentials, make_settings
from trebuchet.server.api.app import create_app
from trebuchet.server.store import Store

EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}
# What the server answers must match the document.  (Whether it accepts every request the
# document allows is not checked: the document describes shapes, while the server also
# enforces rules such as E.164 numbers, owned senders and text-or-media.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


async def _operations() -> list[tuple[str, str]]:
    """Every (method, path) of the document, read from the app (no store needed)."""
    app = create_app(make_settings("sqlite:///:memory:"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        document = (await http.get("/openapi.json")).json()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    ]


OPERATIONS = asyncio.run(_operations())


async def _prepare(db: str) -> Credentials:
    store = Store(db)
    await store.open()
    try:
        return credentials(await store.users.create(["+15550001111", "+15550002222"]))
    finally:
        await store.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Credentials]]:
    """The schema, loaded from the running app, and a user of that app."""
    db = f"sqlite:///{Path(tmp_path_factory.mktemp('schemathesis')) / 'api.db'}"
    user = asyncio.run(_prepare(db))
    app = create_app(
        make_settings(db, engine=False, auth_failure_limit_ip=0, auth_failure_limit_token=0)
    )
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app), user
    finally:
        asgi.shutdown_lifespans()


@pytest.mark.parametrize("mode", list(EXAMPLES))
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_matches_the_document(
    api: tuple[Any, Credentials], method: str, path: str, mode: GenerationMode
) -> None:
    schema, user = api
    operation = schema[path][method]
    ran = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        if case.path_parameters and "userId" in case.path_parameters:
            case.path_parameters["userId"] = user.user_id
        ran.append(case)
        case.call_and_validate(auth=user.auth, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (no parameters, no body).
        assert mode is GenerationMode.NEGATIVE and not ran
