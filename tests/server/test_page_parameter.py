"""``page`` on the lists: the first page (0) is accepted, any other is a 400 that names the
cursor to follow, so a client paging "until an empty page" stops instead of looping."""

from __future__ import annotations

import pytest

from tests.conftest import Credentials, Harness

# The lists and the cursor their next-page links carry.
LISTS = [
    ("/phoneNumbers", "sortKeyGT"),
    ("/applications", "sortKeyGT"),
    ("/errors", "sortKeyLT"),
    ("/messages", "sortKeyGT"),
]
MAX_PAGES = 10


@pytest.fixture
async def user(harness: Harness) -> Credentials:
    """A user with three items in every list."""
    creds = await harness.create_user(["+15550001111", "+15550002222", "+15550003333"])
    http = harness.http(creds)
    base = f"/v1/users/{creds.user_id}"
    for index in range(3):
        created = await http.post(
            f"{base}/applications",
            json={"name": f"app {index}", "incomingMessageUrl": "https://example.com/in"},
        )
        assert created.status_code == 201, created.text
        sent = await http.post(
            f"{base}/messages", json={"from": "+15550001111", "to": "+15557770000", "text": "x"}
        )
        assert sent.status_code == 201, sent.text
        await harness.store.user_errors.add(creds.user_id, "unavailable", "test", "e", {})
    return creds


@pytest.mark.parametrize(("path", "cursor"), LISTS)
async def test_page_zero_is_the_first_page(
    harness: Harness, user: Credentials, path: str, cursor: str
) -> None:
    http = harness.http(user)
    url = f"/v1/users/{user.user_id}{path}"
    first = await http.get(url, params={"size": "2"})
    for page in ("0", ""):
        again = await http.get(url, params={"size": "2", "page": page})
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        assert cursor in again.headers["link"]


@pytest.mark.parametrize(("path", "cursor"), LISTS)
@pytest.mark.parametrize("page", ["1", "2", "-1", "x"])
async def test_other_pages_are_refused_naming_the_cursor(
    harness: Harness, user: Credentials, path: str, cursor: str, page: str
) -> None:
    response = await harness.http(user).get(
        f"/v1/users/{user.user_id}{path}", params={"size": "2", "page": page}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["category"] == "bad-request"
    assert body["code"] == "validation-error"
    assert "'page'" in body["message"]
    assert cursor in body["message"] and "Link" in body["message"]
    assert {"name": "parameter", "value": "page"} in body["details"]


@pytest.mark.parametrize(("path", "cursor"), LISTS)
async def test_a_client_paging_by_number_stops(
    harness: Harness, user: Credentials, path: str, cursor: str
) -> None:
    """The old clients' loop: page=0, 1, 2... until a page is empty or an error comes."""
    http = harness.http(user)
    pages = 0
    for page in range(MAX_PAGES):
        response = await http.get(
            f"/v1/users/{user.user_id}{path}", params={"size": "2", "page": str(page)}
        )
        if response.status_code != 200 or not response.json():
            break
        pages += 1
    assert pages == 1
