"""Ids for tenants, files and queries: opaque, URL-safe and sortable by creation time."""

from __future__ import annotations

from ulid import ULID


def new_id() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, 26 characters of Crockford base32."""
    return str(ULID())
