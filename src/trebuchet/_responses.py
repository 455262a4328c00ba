"""Reading the server's answers to message requests: JSON bodies, one message, the new
message's id from ``Location``, bulk results.  Pages are read by ``BaseClient``, which
knows the endpoint their links must stay within."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ._casing import snake_object
from ._exceptions import UnexpectedResponseError, is_json_response

Message = dict[str, Any]


def parse_json(response: httpx.Response, *, snake: bool = False) -> Any:
    """The parsed body of a JSON response, or ``None`` for any other content type;
    with ``snake``, every object key converted to snake_case (§9.1.7)."""
    if not is_json_response(response):
        return None
    try:
        return json.loads(response.content, object_pairs_hook=snake_object if snake else None)
    except ValueError:
        raise UnexpectedResponseError(
            "The response declares JSON but its body is not valid JSON", response=response
        ) from None


def parse_message(response: httpx.Response) -> Message:
    data = parse_json(response, snake=True)
    if not isinstance(data, dict):
        raise UnexpectedResponseError("Expected a JSON object", response=response)
    result: Message = data
    return result


def parse_location(response: httpx.Response) -> str:
    location = response.headers.get("location")
    if location is None:
        raise UnexpectedResponseError(
            "The server did not return the new message's Location", response=response
        )
    return id_from_location(location)


def parse_bulk(response: httpx.Response, messages: list[Any]) -> list[Message]:
    data = parse_json(response, snake=True)
    if not isinstance(data, list) or len(data) < len(messages):
        raise UnexpectedResponseError(
            "Expected a JSON array with one result per message sent", response=response
        )
    results: list[Message] = data
    for index, message in enumerate(messages):
        item = results[index]
        if not isinstance(item, dict):
            raise UnexpectedResponseError(
                f"Result {index} of the bulk send is not an object", response=response
            )
        location = item.get("location")
        item["id"] = id_from_location(location) if isinstance(location, str) else ""
        item["message"] = message
    return results


def id_from_location(location: str) -> str:
    """The id at the end of a ``Location`` URL, ignoring any query, fragment or final ``/``.

    >>> id_from_location("https://sms.example.test/v1/users/u-1/messages/m-abc")
    'm-abc'
    """
    path = location.split("#", 1)[0].split("?", 1)[0].rstrip("/")
    return path.rsplit("/", 1)[-1]
