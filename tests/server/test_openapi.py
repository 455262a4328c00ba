"""/openapi.json describes exactly the routes the app serves."""

from __future__ import annotations

from starlette.routing import Route

from tests.conftest import Harness
from trebuchet.server.api.app import ROUTES


def _openapi_path(path: str) -> str:
    return (
        path.replace("{user_id}", "{userId}")
        .replace("{message_id}", "{messageId}")
        .replace("{number_id}", "{numberId}")
        .replace("{application_id}", "{applicationId}")
        .replace("{error_id}", "{errorId}")
        .replace("{opt_out_id}", "{optOutId}")
        .replace("{event_id}", "{eventId}")
        .replace("{media_name:media}", "{mediaName}")
    )


async def test_document_matches_the_routes(harness: Harness) -> None:
    response = await harness.http().get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    documented = {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = {
        (method, _openapi_path(route.path))
        for route in ROUTES
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert documented == served
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation["responses"], (method, path)
            for ref in _refs(operation):
                assert ref.split("/")[-1] in doc["components"]["schemas"]


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []
