"""Deleting the account on its page needs the password, as DELETE /api/v1/me does."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from minimaker.kernel.container import Container
from tests.browser import PASSWORD, api_headers, csrf_on, log_in, signed_in


def requests_of(client: TestClient, headers: dict[str, str]) -> list[dict[str, object]]:
    return list(client.get("/api/v1/privacy/requests", headers=headers).json())


def delete(client: TestClient, **fields: str) -> int:
    token = csrf_on(client.get("/privacy/delete").text)
    data = {"csrf": token, "confirm": "ada", **fields}
    return client.post("/privacy/delete", data=data, follow_redirects=False).status_code


def test_the_delete_page_asks_for_the_current_password(client: TestClient) -> None:
    signed_in(client, "ada")
    page = client.get("/privacy/delete").text
    assert 'name="password" type="password"' in page
    assert 'autocomplete="current-password"' in page


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({}, "Your current password is required for this; nothing was changed."),
        ({"password": ""}, "Your current password is required for this; nothing was changed."),
        ({"password": "not the password"}, "The password is not correct; nothing was changed."),
    ],
    ids=["missing", "empty", "wrong"],
)
def test_deleting_without_the_right_password_is_refused_and_asks_nothing(
    client: TestClient, fields: dict[str, str], says: str
) -> None:
    signed_in(client, "ada")
    ada = api_headers(client)
    token = csrf_on(client.get("/privacy/delete").text)
    r = client.post("/privacy/delete", data={"csrf": token, "confirm": "ada", **fields})
    assert r.status_code == 403
    assert says in r.text
    assert requests_of(client, ada) == []


def test_the_right_password_asks_once_and_asking_again_keeps_that_one_request(
    client: TestClient,
) -> None:
    signed_in(client, "ada")
    ada = api_headers(client)
    assert delete(client, password=PASSWORD) == 303
    # Asking signed this browser out; signed in again (before the erasure ran), asking again
    # answers with the open request.
    assert log_in(client).status_code == 303
    assert delete(client, password=PASSWORD) == 303
    assert [(r["type"], r["status"]) for r in requests_of(client, ada)] == [("erasure", "verified")]


def test_wrong_passwords_on_the_page_count_as_failed_sign_ins(
    client: TestClient, container: Container
) -> None:
    signed_in(client, "ada")
    ada = api_headers(client)
    limit = container.settings.login_max_failures
    # This browser signed in before: the first guesses use up its device's own counter,
    # the next ones count against the account, as from any unknown client; then it waits.
    guesses = [delete(client, password="a guess") for _ in range(2 * limit)]
    assert guesses == [403] * (2 * limit)
    assert delete(client, password=PASSWORD) == 429
    assert requests_of(client, ada) == []
