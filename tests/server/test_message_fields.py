"""One list of a message's properties: the server renders them in its order, its OpenAPI
schema names them in that order, and the SDK's fast page decoder hands them back in it."""

from __future__ import annotations

import json

import msgspec

from trebuchet._casing import snake_object
from trebuchet._message_fields import MESSAGE_PROPERTIES
from trebuchet._pages import decode_message_page
from trebuchet.server.api.message_output import MessageOut
from trebuchet.server.api.openapi import openapi_document


def _rendered_page() -> bytes:
    """A page as the server encodes it, every optional property set."""
    message = MessageOut(
        id="m-1",
        messageId="m-1",
        from_="+15550100001",
        to="+15550100002",
        direction="out",
        text="hi",
        media=msgspec.Raw(b'["http://example.com/a.png"]'),
        state="sent",
        time="2026-11-27T03:06:47.130Z",
        segmentCount=1,
        skipMMSCarrierValidation=True,
        callbackUrl="http://example.com/cb",
        callbackHttpMethod="POST",
        callbackTimeout=3000,
        fallbackUrl="http://example.com/fb",
        tag="t",
        receiptRequested="all",
        deliveryState="delivered",
        deliveryCode=0,
        deliveryDescription="ok",
        keyword="stop",
        sendAt="2026-11-27T03:00:00.000Z",
        expiration="2026-11-28T03:00:00.000Z",
        carrier="sandbox",
    )
    return msgspec.json.encode([message])


def test_the_server_renders_every_property_in_the_shared_order() -> None:
    rendered = json.loads(_rendered_page())[0]
    assert tuple(rendered) == MESSAGE_PROPERTIES


def test_the_openapi_schema_names_the_shared_properties_in_order() -> None:
    schema = openapi_document()["components"]["schemas"]["Message"]
    assert tuple(schema["properties"]) == MESSAGE_PROPERTIES


def test_the_fast_page_decoder_keeps_the_servers_order() -> None:
    content = _rendered_page()
    general = json.loads(content, object_pairs_hook=snake_object)
    fast = decode_message_page(content)
    assert fast is not None
    [message] = list(fast)
    assert message == general[0]
    assert list(message) == list(general[0])
