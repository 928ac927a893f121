from __future__ import annotations

import pytest

from chalicelib.errors import BadRequest
from chalicelib.pagination import InvalidToken, PageTokens, limit_of

KEY = b"k" * 32


def test_a_token_carries_its_position_back() -> None:
    tokens = PageTokens(KEY)
    assert tokens.position("t1", "files", tokens.issue("t1", "files", "01HX")) == "01HX"
    assert tokens.position("t1", "files", None) is None


@pytest.mark.parametrize(
    ("tenant", "collection", "key"),
    [("t2", "files", KEY), ("t1", "queries", KEY), ("t1", "files", b"other-secret")],
)
def test_a_token_is_bound_to_its_tenant_collection_and_secret(tenant: str, collection: str, key: bytes) -> None:
    token = PageTokens(KEY).issue("t1", "files", "01HX")
    with pytest.raises(InvalidToken):
        PageTokens(key).position(tenant, collection, token)


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.def", "!!!.???", "MDFIWA.AAAAAAAAAAAAAAAAAAAAAA", "a" * 5000])
def test_anything_else_is_an_invalid_token(token: str) -> None:
    with pytest.raises(InvalidToken):
        PageTokens(KEY).position("t1", "files", token)


def test_every_changed_character_is_caught() -> None:
    token = PageTokens(KEY).issue("t1", "files", "01HXAAAAAAAAAAAAAAAAAAAAAA")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index, character in enumerate(token):
        for replacement in alphabet.replace(character, "")[:: 7 if character != "." else 1]:
            altered = token[:index] + replacement + token[index + 1 :]
            with pytest.raises(InvalidToken):
                PageTokens(KEY).position("t1", "files", altered)


@pytest.mark.parametrize(("raw", "expected"), [(None, 100), ("1", 1), ("1000", 1000), ("42", 42)])
def test_limits(raw: str | None, expected: int) -> None:
    assert limit_of(raw) == expected


@pytest.mark.parametrize("raw", ["0", "1001", "-1", "1.5", "", " 5", "²", "9" * 5000, "00001"])
def test_anything_but_a_whole_number_in_range_is_a_400(raw: str) -> None:
    with pytest.raises(BadRequest, match="limit: give a whole number from 1 to 1000"):
        limit_of(raw)
