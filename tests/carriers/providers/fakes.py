"""Fake Twilio and Bandwidth on loopback, held to the providers' own OpenAPI documents.

Each fake checks every request it gets against the provider's document with openapi-core
(a request the real provider would refuse is recorded as a violation and answered 400)
and answers with bodies that validate against the same document.  Their callbacks are
made with the providers' own packages: Twilio's ``RequestValidator`` signs the forms the
fake Twilio posts; Bandwidth's ``bandwidth-sdk`` models build the events the fake
Bandwidth posts, which are also checked against the document's callback schemas.

Each fake runs in a thread of its own with its own event loop, so that tests driving the
real server over a socket with blocking clients never hold it up.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import yaml
from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

HERE = Path(__file__).parent
TWILIO_HOST = "https://api.twilio.com"
BANDWIDTH_HOST = "https://messaging.bandwidth.com"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@cache
def twilio_document() -> dict[str, Any]:
    # The document holds escaped surrogate pairs that a YAML reader refuses: read as JSON.
    document: dict[str, Any] = json.loads((HERE / "twilio_api_v2010.json").read_text())
    return document


@cache
def twilio_openapi() -> OpenAPI:
    return OpenAPI.from_dict(twilio_document())


@cache
def bandwidth_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((HERE / "bandwidth_messaging_v2.yml").read_text())
    return document


@cache
def bandwidth_openapi() -> OpenAPI:
    return OpenAPI.from_dict(bandwidth_document())


def bandwidth_schema_check(name: str, instance: Any) -> None:
    """Raise unless ``instance`` validates against ``components.schemas[name]``."""
    components = bandwidth_document()["components"]
    schema = {**components["schemas"][name], "components": components}
    OAS30Validator(schema).validate(instance)


@dataclass
class Seen:
    """One request a fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    parsed: Any = None
    valid: bool = True


Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _cancel_the_rest() -> None:
    """Cancel the loop's other tasks (handlers still waiting on a slow answer), and wait."""
    left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)


class ThreadedServer:
    """An aiohttp app on 127.0.0.1 in a thread with its own event loop."""

    def __init__(self, routes: Callable[[web.Application], None]):
        self._routes = routes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> str:
        """Start it; answers its base URL."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            loop.run_until_complete(_cancel_the_rest())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-server", daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self.base_url

    async def _start(self) -> None:
        app = web.Application()
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)


class AppReceiver:
    """A user's application: records the callbacks Trebuchet posts to it."""

    def __init__(self) -> None:
        self.posts: list[Any] = []
        self._server = ThreadedServer(self.routes)
        self.base_url = ""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        self.posts.append(json.loads(await request.read()))
        return web.Response(status=200)

    def __enter__(self) -> AppReceiver:
        self.base_url = self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


@dataclass
class FakeProvider:
    """A threaded aiohttp app; ``script`` holds behaviours for the next sends, in order."""

    openapi: OpenAPI
    host_url: str
    user: str
    password: str
    seen: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    script: list[Behaviour] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    base_url: str = ""
    early_answers: list[int] = field(default_factory=list)
    _server: ThreadedServer | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    # -- the server ------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._server = ThreadedServer(self.routes)
        self.base_url = self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    # -- checks ----------------------------------------------------------------------------

    def authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def checked(
        self, request: web.Request, path: str | None = None
    ) -> tuple[Seen, MockRequest]:
        """Record the request and validate it against the document (a violation is kept);
        ``path`` is the path as the document's template can match it, when it differs."""
        body = await request.read()
        seen = Seen(request.method, request.path, dict(request.headers), body)
        self.seen.append(seen)
        mock = MockRequest(
            self.host_url, request.method.lower(), path or request.path,
            args=dict(request.query), data=body, headers=dict(request.headers),
            content_type=request.headers.get("Content-Type", "application/octet-stream"),
        )  # fmt: skip
        result = self.openapi.unmarshal_request(mock)
        if result.errors:
            self.violations.append(f"{request.method} {request.path}: {result.errors!r}")
        seen.parsed, seen.valid = result.body, not result.errors
        return seen, mock

    def answer(self, mock: MockRequest, status: int, document: Any) -> web.Response:
        """A JSON answer, which must validate against the document's response for it."""
        data = json.dumps(document).encode()
        result = self.openapi.unmarshal_response(
            mock, MockResponse(data, status_code=status, content_type="application/json")
        )
        assert not result.errors, result.errors
        return web.Response(body=data, status=status, content_type="application/json")

    def later(self, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` on the fake's loop, after the current answer has left."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def next_behaviour(self, request: web.Request) -> web.StreamResponse | None:
        if self.script:
            return await self.script.pop(0)(request)
        return None

    async def serve_media(self, request: web.Request) -> web.Response:
        """A media file of a received message, to the account's credentials only.  (Twilio's
        document describes the media's metadata, not the bytes: not validated there.)"""
        if not request.path.startswith("/api/v2/"):
            self.seen.append(Seen(request.method, request.path, dict(request.headers), b""))
        if not self.authorised(request):
            return web.Response(status=401)
        content, kind = self.media[request.path]
        return web.Response(body=content, content_type=kind)


# -- behaviours a test can script -------------------------------------------------------


def status(code: int, document: Any, headers: dict[str, str] | None = None) -> Behaviour:
    async def behave(request: web.Request) -> web.StreamResponse:
        return web.json_response(document, status=code, headers=headers)

    return behave


def garbage(code: int = 200) -> Behaviour:
    async def behave(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"<html>\x00\xff not what you asked", status=code)

    return behave


def slow(seconds: float) -> Behaviour:
    async def behave(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(status=500)

    return behave


# -- Twilio ---------------------------------------------------------------------------


def twilio_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class FakeTwilio(FakeProvider):
    def __init__(self, account_sid: str, auth_token: str):
        super().__init__(twilio_openapi(), TWILIO_HOST, account_sid, auth_token)
        self.callbacks: dict[str, str] = {}  # message sid → StatusCallback
        # A status to post as soon as a message is created, before our side stored it.
        self.early_status = ""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)
        app.router.add_get(
            "/2010-04-01/Accounts/{sid}/Messages/{msid}/Media/{mid}", self.serve_media
        )

    async def create(self, request: web.Request) -> web.StreamResponse:
        seen, mock = await self.checked(request)
        validity = seen.parsed.get("ValidityPeriod") if seen.valid else None
        if validity is not None and not 1 <= validity <= 36000:  # the document's words
            self.violations.append(f"ValidityPeriod {validity} outside 1 to 36000")
            seen.valid = False
        if not seen.valid:
            return web.json_response({"code": 21604, "message": "invalid request"}, status=400)
        if not self.authorised(request) or request.match_info["sid"] != self.user:
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        scripted = await self.next_behaviour(request)
        if scripted is not None:
            return scripted
        form = seen.parsed
        sid = twilio_sid("MM" if form.get("MediaUrl") else "SM")
        uri = f"/2010-04-01/Accounts/{self.user}/Messages/{sid}"
        self.callbacks[sid] = form.get("StatusCallback", "")
        if self.early_status:  # faster than the sender: the callback leaves with the answer
            self.later(
                self.post_form_async(self.callbacks[sid], self.status_form(sid, self.early_status))
            )
        now = format_datetime(datetime.now(UTC))
        return self.answer(mock, 201, {
            "account_sid": self.user, "api_version": "2010-04-01", "body": form.get("Body", ""),
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": str(len(form.get("MediaUrl", []))), "num_segments": "1",
            "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"}, "to": form["To"],
            "uri": f"{uri}.json",
        })  # fmt: skip

    def sign(self, url: str, form: dict[str, str]) -> str:
        from twilio.request_validator import RequestValidator

        return str(RequestValidator(self.password).compute_signature(url, form))

    def post_form(
        self, url: str, form: dict[str, str], signed_url: str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:  # fmt: skip
        """POST ``form`` to ``url`` as Twilio does, signed for ``signed_url`` (default ``url``)."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is None:
            signature = self.sign(signed_url or url, form)
        if signature:
            headers["X-Twilio-Signature"] = signature
        return httpx.post(url, content=urlencode(form), headers=headers, timeout=30)

    async def post_form_async(self, url: str, form: dict[str, str]) -> int:
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": self.sign(url, form)}  # fmt: skip
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(url, content=urlencode(form), headers=headers)
        self.early_answers.append(answer.status_code)
        return answer.status_code

    def status_form(self, sid: str, state: str, error_code: int | None = None) -> dict[str, str]:
        form = {
            "MessageSid": sid, "SmsSid": sid, "AccountSid": self.user, "MessageStatus": state,
            "SmsStatus": state, "From": "+15550001111", "To": "+15557654321",
            "ApiVersion": "2010-04-01",
        }  # fmt: skip
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return form

    def inbound_form(self, sender: str, to: str, text: str, media: int = 0) -> dict[str, str]:
        sid = twilio_sid("MM" if media else "SM")
        form = {
            "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, "AccountSid": self.user,
            "From": sender, "To": to, "Body": text, "NumMedia": str(media), "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": "2010-04-01",
        }  # fmt: skip
        for index in range(media):
            path = f"/2010-04-01/Accounts/{self.user}/Messages/{sid}/Media/ME{index:032x}"
            self.media[path] = (PNG, "image/png")
            form[f"MediaUrl{index}"] = self.base_url + path
            form[f"MediaContentType{index}"] = "image/png"
        return form


def twilio_error(code: int, message: str, http_status: int) -> dict[str, Any]:
    """Twilio's error body (the document describes no error answers; this is the shape
    Twilio's libraries read: code, message, more_info, status)."""
    return {"code": code, "message": message, "status": http_status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}"}  # fmt: skip


# -- Bandwidth ---------------------------------------------------------------------------


class FakeBandwidth(FakeProvider):
    def __init__(self, account_id: str, user: str, password: str, application_id: str):
        super().__init__(bandwidth_openapi(), BANDWIDTH_HOST, user, password)
        self.account_id = account_id
        self.application_id = application_id
        self.sent: dict[str, dict[str, Any]] = {}  # message id → the message
        # The application's callback URL and credentials, and a status to post as soon as
        # a message is created, before our side stored it.
        self.callback_url = ""
        self.callback_auth: tuple[str, str] = ("", "")
        self.early_status = ""

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v2"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v2/users/{account}/messages", self.create)
        app.router.add_get("/api/v2/users/{account}/media/{name:.+}", self.get_media)

    async def create(self, request: web.Request) -> web.StreamResponse:
        seen, mock = await self.checked(request)
        if not seen.valid:
            return web.json_response({"type": "request-validation", "description": "bad"},
                                     status=400)  # fmt: skip
        if not self.authorised(request) or request.match_info["account"] != self.account_id:
            return web.json_response({"type": "unauthorized", "description": "no"}, status=401)
        scripted = await self.next_behaviour(request)
        if scripted is not None:
            return scripted
        body = json.loads(seen.body)
        message_id = f"{secrets.token_hex(7)}-{secrets.token_hex(8)}"
        message = {
            "id": message_id, "owner": body["from"], "applicationId": body["applicationId"],
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "segmentCount": 1,
            "direction": "out", "to": body["to"], "from": body["from"],
            "media": body.get("media", []), "text": body.get("text", ""),
            "tag": body.get("tag", ""), "priority": "default",
        }  # fmt: skip
        self.sent[message_id] = message
        if self.early_status:  # faster than the sender: the callback leaves with the answer
            event = self.status_event(message_id, self.early_status)
            self.later(self.post_events_async(self.callback_url, [event]))
        return self.answer(mock, 202, message)

    async def get_media(self, request: web.Request) -> web.StreamResponse:
        # The document's mediaId holds slashes ("14762070468292kw2fuqty55yp2b2/0/bw.png"),
        # which a path template cannot match unescaped.
        name = quote(request.match_info["name"], safe="")
        await self.checked(request, f"/api/v2/users/{request.match_info['account']}/media/{name}")
        return await self.serve_media(request)

    # -- callbacks, built with bandwidth-sdk's models -------------------------------------

    def status_event(self, message_id: str, kind: str, error_code: int | None = None) -> Any:
        from bandwidth.models.status_callback import StatusCallback
        from bandwidth.models.status_callback_message import StatusCallbackMessage

        sent = self.sent[message_id]
        now = datetime.now(UTC)
        event = StatusCallback(
            time=now, type=kind, to=sent["to"][0],
            description={"message-delivered": "Message delivered to carrier.",
                         "message-failed": "Message failed.",
                         "message-sending": "Message is sending."}[kind],
            message=StatusCallbackMessage(
                id=message_id, owner=sent["owner"], application_id=self.application_id,
                time=now, segment_count=1, direction="out", to=sent["to"],
                var_from=sent["from"], text=sent["text"], tag=sent["tag"],
                media=sent["media"], priority="default",
            ),
            error_code=error_code,
        )  # fmt: skip
        document = json.loads(json.dumps(event.to_dict(), default=_iso))
        schema = {"message-delivered": "messageDeliveredCallback",
                  "message-failed": "messageFailedCallback",
                  "message-sending": "messageSendingCallback"}[kind]  # fmt: skip
        bandwidth_schema_check(schema, document)
        return document

    def inbound_event(self, sender: str, to: str, text: str, media: int = 0) -> Any:
        from bandwidth.models.inbound_callback import InboundCallback
        from bandwidth.models.inbound_callback_message import InboundCallbackMessage

        message_id = f"{secrets.token_hex(7)}-{secrets.token_hex(8)}"
        urls = []
        for index in range(media):
            path = f"/api/v2/users/{self.account_id}/media/{message_id}/{index}/picture.png"
            self.media[path] = (PNG, "image/png")
            urls.append(self.base_url + path)
        now = datetime.now(UTC)
        event = InboundCallback(
            time=now, type="message-received", to=to, description="Incoming message received",
            message=InboundCallbackMessage(
                id=message_id, owner=to, application_id=self.application_id, time=now,
                segment_count=1, direction="in", to=[to], var_from=sender, text=text,
                media=urls or None,
            ),
        )  # fmt: skip
        document = json.loads(json.dumps(event.to_dict(), default=_iso))
        bandwidth_schema_check("inboundMessageCallback", document)
        return document

    async def post_events_async(self, url: str, events: list[Any]) -> int:
        async with httpx.AsyncClient(timeout=30, auth=self.callback_auth) as client:
            answer = await client.post(url, json=events)
        self.early_answers.append(answer.status_code)
        return answer.status_code

    def post_events(
        self, url: str, events: list[Any], credentials: tuple[str, str] | None
    ) -> httpx.Response:
        return httpx.post(url, json=events, auth=credentials, timeout=30)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(type(value))
