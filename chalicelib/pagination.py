"""Opaque, tamper-proof `next_token` values, and the `limit` parameter.

A token carries the last position of a page, signed with the platform's secret and bound to the
tenant and the collection: a token altered, made up, or taken from another tenant or list is
refused with 400 `invalid_token`, never followed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from typing import TypeVar

from chalicelib.errors import BadRequest

_MAC_BYTES = 16
T = TypeVar("T")


class InvalidToken(BadRequest):
    code = "invalid_token"
    message = "The next_token is not one this API gave you: start again without it."


class PageTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, tenant_id: str, collection: str, position: str) -> str:
        payload = _encode(position.encode())
        return f"{payload}.{_encode(self._mac(tenant_id, collection, payload))}"

    def position(self, tenant_id: str, collection: str, token: str | None) -> str | None:
        """The position a token of ours carries; None for no token."""
        if token is None:
            return None
        payload, _, mac = token.partition(".")
        try:
            valid = hmac.compare_digest(_decode(mac), self._mac(tenant_id, collection, payload))
            position = _decode(payload).decode() if valid else ""
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidToken() from None
        if not position:
            raise InvalidToken()
        return position

    def paged(
        self, tenant_id: str, collection: str, token: str | None, fetch: Callable[[str | None], tuple[T, str | None]]
    ) -> tuple[T, str | None]:
        """One page of `collection`: `fetch(position)` gives the page and where the next starts (None
        after the last); the page and the token for the next."""
        page, following = fetch(self.position(tenant_id, collection, token))
        return page, self.issue(tenant_id, collection, following) if following is not None else None

    def _mac(self, tenant_id: str, collection: str, payload: str) -> bytes:
        message = "\x1f".join((tenant_id, collection, payload)).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def limit_of(raw: str | None, default: int = 100, maximum: int = 1000, *, minimum: int = 1, name: str = "limit") -> int:
    """A whole-number query parameter (`limit` by default): `minimum` to `maximum`, `default` when absent."""
    if raw is None:
        return default
    # Length first: int() refuses (ValueError) strings of more than 4,300 digits.
    if len(raw) > len(str(maximum)) or not raw.isascii() or not raw.isdigit() or not minimum <= int(raw) <= maximum:
        raise BadRequest("invalid_request", f"{name}: give a whole number from {minimum} to {maximum}.")
    return int(raw)


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    """Strict: only the one spelling _encode makes (base64 lets a last character's spare bits vary)."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _encode(data) != text:
        raise ValueError("not a canonical encoding")
    return data
