"""Drive the Catapult-era Python client (``bandwidth-sdk`` 3.x) the way an application does.

Run with the compat environment's interpreter, never the project's:
``drive.py SCENARIO`` with ``TREBUCHET_URL``, ``TREBUCHET_USER_ID``, ``TREBUCHET_TOKEN`` and
``TREBUCHET_SECRET`` in the environment and the scenario's arguments as a JSON object on
standard input.  It prints one JSON object: what the client returned, or the client's own
error (type, status, code, message).  Only the client's public calls are used; the list
scenario also records each page request the client made, so the caller can see that the
client followed the ``Link`` header itself.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import bandwidth
from bandwidth.messaging import BandwidthMessageAPIException


def client(secret: str | None = None) -> Any:
    return bandwidth.client(
        "messaging",
        os.environ["TREBUCHET_USER_ID"],
        os.environ["TREBUCHET_TOKEN"],
        secret or os.environ["TREBUCHET_SECRET"],
        api_endpoint=os.environ["TREBUCHET_URL"],
    )


def send(args: dict[str, Any]) -> dict[str, Any]:
    message_id = client().send_message(
        from_=args["from"],
        to=args["to"],
        text=args.get("text"),
        media=args.get("media"),
        receipt_requested=args.get("receiptRequested"),
        tag=args.get("tag"),
    )
    return {"id": message_id}


def bulk(args: dict[str, Any]) -> dict[str, Any]:
    results = client().send_messages(args["messages"])
    return {
        "results": [
            {
                "result": item.get("result"),
                "id": item.get("id") or None,
                "error": item.get("error"),
                "message": item.get("message"),
            }
            for item in results
        ]
    }


def get(args: dict[str, Any]) -> dict[str, Any]:
    return {"message": client().get_message(args["id"])}


def list_all(args: dict[str, Any]) -> dict[str, Any]:
    api = client()
    requests_made: list[str] = []
    make_request = api._make_request

    def counted(method: str, url: str, *rest: Any, **kwargs: Any) -> Any:
        requests_made.append(url)
        return make_request(method, url, *rest, **kwargs)

    api._make_request = counted
    messages = list(
        api.list_messages(
            from_=args.get("from"),
            to=args.get("to"),
            from_date_time=args.get("fromDateTime"),
            direction=args.get("direction"),
            state=args.get("state"),
            sort_order=args.get("sortOrder"),
            size=args.get("size"),
        )
    )
    return {"messages": messages, "pages": len(requests_made), "requests": requests_made}


def failing(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        call()
    except BandwidthMessageAPIException as exc:
        return {
            "error": type(exc).__name__,
            "status": exc.status_code,
            "code": exc.code,
            "message": exc.message,
        }
    return {"error": None}


def unknown(args: dict[str, Any]) -> dict[str, Any]:
    return failing(lambda: client().get_message(args["id"]))


def bad_credentials(args: dict[str, Any]) -> dict[str, Any]:
    return failing(lambda: list(client(secret=args["secret"]).list_messages(size=5)))


def rate_limited(args: dict[str, Any]) -> dict[str, Any]:
    api = client()
    list(api.list_messages(size=5))
    return failing(lambda: list(api.list_messages(size=5)))


SCENARIOS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "send": send,
    "bulk": bulk,
    "get": get,
    "list": list_all,
    "unknown": unknown,
    "bad_credentials": bad_credentials,
    "rate_limited": rate_limited,
}


def main() -> None:
    scenario = SCENARIOS[sys.argv[1]]
    args = json.loads(sys.stdin.read() or "{}")
    json.dump(scenario(args), sys.stdout)


if __name__ == "__main__":
    main()
