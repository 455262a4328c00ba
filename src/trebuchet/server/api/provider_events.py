"""Hosted providers' callbacks at ``POST /v1/carriers/{name}/events`` (``twilio``,
``bandwidth``); ``api/carrier_events.py`` hands them here by the carrier's type.

* ``twilio``: a form, verified with ``X-Twilio-Signature`` against the carrier's
  ``events_url`` (the URL as Twilio saw it, ``public_url`` by default); answered with
  empty TwiML (200), so an inbound message gets no automatic reply.
* ``bandwidth``: a JSON array of events (a lone object is taken as an array of one),
  verified with the Basic credentials set on the application; answered 200 with what was
  done to each event.

Both behind the failed-authentication throttling of the API (401, then 429).  A status
callback that names a message not yet recorded as sent waits a moment for it, then
answers 503 with ``Retry-After``; a repeated callback stores nothing new; one for a
message we never sent is ignored (200).  An inbound message to a number nobody owns is
404 from Twilio and ``unknown-number`` in Bandwidth's answer (the rest of the array
still counts).  The translation is ``carriers/twilio_events.py`` and
``carriers/bandwidth_events.py``; inbound media is copied by the app's delivery
assembly (``app.state.delivery``), after the carrier fetched the provider's own media
URLs with the account's credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from trebuchet.server.api.body import read_body
from trebuchet.server.api.responses import json_response
from trebuchet.server.carriers import bandwidth_events, twilio_events
from trebuchet.server.carriers.bandwidth import BandwidthConfig
from trebuchet.server.carriers.base import UnknownNumber
from trebuchet.server.carriers.provider_http import ProviderClient, basic_auth, events_url
from trebuchet.server.carriers.refs import SqlRefs
from trebuchet.server.carriers.twilio import TwilioConfig
from trebuchet.server.carriers.upstream_events import NotYet
from trebuchet.server.config import Settings
from trebuchet.server.domain import errors
from trebuchet.server.engine.delivery import Delivery
from trebuchet.server.media.parts import MediaPart
from trebuchet.server.net.guard import AddressPolicy

PROVIDER_TYPES = ("twilio", "bandwidth")
NOT_YET_RETRY_AFTER = "1"


def _not_yet() -> Response:
    return json_response(
        {"retry": "the message is not sent yet"}, 503,
        headers={"Retry-After": NOT_YET_RETRY_AFTER},
    )  # fmt: skip


async def provider_events(request: Request, name: str, values: Mapping[str, Any]) -> Response:
    if values.get("type") == "twilio":
        return await _twilio(request, name, TwilioConfig.from_mapping(name, values))
    return await _bandwidth(request, name, BandwidthConfig.from_mapping(name, values))


class _Media:
    """Fetches a received message's provider-hosted media with the account's credentials."""

    def __init__(self, settings: Settings, api_root: str, auth: str):
        self.settings = settings
        self.api_root = api_root
        self.auth = auth

    async def __call__(self, urls: Sequence[str]) -> tuple[MediaPart, ...]:
        client = ProviderClient(AddressPolicy.from_settings(self.settings), 30.0)
        try:
            limit = self.settings.mms_max_total_bytes
            return await client.media(urls, self.api_root, self.auth, limit)
        finally:
            await client.close()


async def _twilio(request: Request, name: str, config: TwilioConfig) -> Response:
    services = request.app.state.services
    settings: Settings = services.settings
    url = events_url(name, config.events_url, settings)

    async def verify() -> list[tuple[str, str]] | None:
        body = await read_body(request, settings.max_body_bytes)
        try:
            form = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            return None
        given = request.headers.get(twilio_events.SIGNATURE_HEADER, "")
        query = request.url.query
        return form if twilio_events.verified(config.auth_token, url, query, form, given) else None

    form = await services.guard.attempt(request, f"carrier:{name}", verify)
    delivery: Delivery = request.app.state.delivery
    auth = basic_auth(config.account_sid, config.auth_token)
    handler = twilio_events.TwilioEvents(
        name, SqlRefs(services.store), delivery, _Media(settings, config.url, auth)
    )
    try:
        await handler.handle(form)
    except NotYet:
        return _not_yet()
    except UnknownNumber:
        raise errors.not_found("number", dict(form).get("To", "")) from None
    return Response(twilio_events.EMPTY_TWIML, 200, media_type="text/xml")


async def _bandwidth(request: Request, name: str, config: BandwidthConfig) -> Response:
    services = request.app.state.services
    settings: Settings = services.settings

    async def verify() -> bytes | None:
        body = await read_body(request, settings.max_body_bytes)
        return body if bandwidth_events.authorised(request.headers, config) else None

    body = await services.guard.attempt(request, f"carrier:{name}", verify)
    try:
        document = json.loads(body)
    except ValueError:
        return json_response({"error": "the body is not JSON"}, 400)
    events = document if isinstance(document, list) else [document]
    if not all(isinstance(event, dict) for event in events):
        return json_response({"error": "the body is not an array of JSON objects"}, 400)
    delivery: Delivery = request.app.state.delivery
    auth = basic_auth(config.username, config.password)
    handler = bandwidth_events.BandwidthEvents(
        name, SqlRefs(services.store), delivery, _Media(settings, config.url, auth)
    )
    done: list[str] = []
    for event in events:
        try:
            done.append(await handler.handle(event))
        except NotYet:
            return _not_yet()  # retried whole: what went before is a repeat, stored once
        except UnknownNumber:
            done.append("unknown-number")
    return json_response({"done": done})
