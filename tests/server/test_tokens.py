"""One comparison of a client's token with a secret, for every credential the server
checks by hand (admin token, upstream token and signature, page cursors)."""

from __future__ import annotations

import pytest

from trebuchet.server.domain.tokens import token_matches


def test_equal_tokens_match_and_others_do_not() -> None:
    assert token_matches("t-0123", "t-0123")
    assert not token_matches("t-0124", "t-0123")
    assert not token_matches("t-0123 ", "t-0123")
    assert not token_matches("", "t-0123")


@pytest.mark.parametrize("given", ["é☃", "t-0123é", "\udcff\udcfe", "t-0123\udcc3"])
def test_any_text_a_client_sends_is_compared_not_refused(given: str) -> None:
    assert not token_matches(given, "t-0123")
