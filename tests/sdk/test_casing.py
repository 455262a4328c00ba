"""The camelCase -> snake_case rule of spec §9.1.7, row by row."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trebuchet._casing import snake_keys, snake_object, to_snake_case

# Every row of the table in spec §9.1.7.
TABLE = [
    ("messageId", "message_id"),
    ("callbackUrl", "callback_url"),
    ("callbackHttpMethod", "callback_http_method"),
    ("callbackTimeout", "callback_timeout"),
    ("fallbackUrl", "fallback_url"),
    ("receiptRequested", "receipt_requested"),
    ("deliveryState", "delivery_state"),
    ("deliveryCode", "delivery_code"),
    ("deliveryDescription", "delivery_description"),
    ("segmentCount", "segment_count"),
    ("skipMMSCarrierValidation", "skip_mms_carrier_validation"),
    ("messageUri", "message_uri"),
    ("messageURI", "message_uri"),
    ("applicationId", "application_id"),
    ("incomingMessageUrl", "incoming_message_url"),
    ("incomingMessageUrlCallbackTimeout", "incoming_message_url_callback_timeout"),
    ("incomingSmsUrl", "incoming_sms_url"),
    ("nationalNumber", "national_number"),
    ("numberState", "number_state"),
    ("createdTime", "created_time"),
    ("mediaName", "media_name"),
    ("contentLength", "content_length"),
    ("from", "from"),
    ("to", "to"),
    ("id", "id"),
    ("text", "text"),
    ("media", "media"),
    ("state", "state"),
    ("time", "time"),
    ("direction", "direction"),
    ("tag", "tag"),
    ("result", "result"),
    ("location", "location"),
    ("error", "error"),
    ("ID", "id"),
    ("userID", "user_id"),
    ("XMLParser", "xml_parser"),
    ("SMSCount", "sms_count"),
    ("abc2Def", "abc2_def"),
]


@pytest.mark.parametrize(("wire", "python"), TABLE)
def test_every_row_of_the_spec_table(wire: str, python: str) -> None:
    assert to_snake_case(wire) == python


def _rule(key: str) -> str:
    """The rule as the spec words it, one character at a time."""
    out = []
    for i, ch in enumerate(key):
        if ch in string.ascii_uppercase:
            after_lower_or_digit = i > 0 and (key[i - 1] in string.ascii_lowercase + string.digits)
            before_lower = 0 < i < len(key) - 1 and key[i + 1] in string.ascii_lowercase
            if after_lower_or_digit or before_lower:
                out.append("_")
        out.append(ch)
    return "".join(out).lower()


@given(st.text(alphabet=string.ascii_letters + string.digits + "_-", max_size=30))
def test_matches_the_worded_rule_for_any_key(key: str) -> None:
    assert to_snake_case(key) == _rule(key)


def test_conversion_is_recursive_and_leaves_values_alone() -> None:
    body = {
        "category": "bad-request",
        "details": [{"name": "callbackUrl", "value": "notAUrl"}],
        "nestedObject": {"innerKey": [[{"deepKey": "keepThisValue"}]]},
        "media": ["https://h/Media/fileName.JPG"],
        "segmentCount": 2,
    }
    assert snake_keys(body) == {
        "category": "bad-request",
        "details": [{"name": "callbackUrl", "value": "notAUrl"}],
        "nested_object": {"inner_key": [[{"deep_key": "keepThisValue"}]]},
        "media": ["https://h/Media/fileName.JPG"],
        "segment_count": 2,
    }


def test_scalars_pass_through() -> None:
    assert snake_keys(None) is None
    assert snake_keys(5) == 5
    assert snake_keys("camelValue") == "camelValue"
    assert snake_keys([]) == []


json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(alphabet=string.ascii_letters + string.digits, max_size=12),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(json_documents)
def test_converting_while_decoding_equals_converting_after(document: object) -> None:
    body = json.dumps(document)
    assert json.loads(body, object_pairs_hook=snake_object) == snake_keys(json.loads(body))
